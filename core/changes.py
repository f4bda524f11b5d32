"""Change events: what changed in the system, where and when (a value that crosses package borders).

A :class:`Change` is ``(service, time, kind, detail)``, plus the version it rolled out and the
pods it created when known. Data-set adapters (ChangeRCA's release ``plan``), the change-file
reader (:func:`collectors.read_changes`) and the Kubernetes backend
(:func:`chaos_scenarios.cluster_changes`) make them; :func:`rca.localize` takes them as
evidence (``docs/changes.md``). Change-based localization is the subject of ChangeRCA (Guangba
Yu et al., "ChangeRCA: Finding Root Causes from Software Changes in Large Online Systems",
FSE 2024): most incidents of online systems follow a change, and the changed services are the
first suspects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.errors import FrameworkError, InputError
from core.times import format_time, to_timestamp

KINDS = ("rollout", "config", "scale", "restart", "other")
"""What a change can be: a new version rolled out, a configuration change, a change of the replica
count, a pod or container restart, anything else."""

VERBS = {"rollout": "rolled out", "config": "configuration changed", "scale": "scaled", "restart": "restarted"}
VERBS["other"] = "changed"


@dataclass(frozen=True)
class Change:
    """One change: ``service`` changed at ``time`` (tz-aware UTC; any time :func:`core.to_timestamp`
    reads); ``kind`` one of :data:`KINDS`; ``detail`` free text for the person reading the ranking;
    ``version`` the version rolled out (``""`` when unknown); ``pods`` the pods it created."""

    service: str
    time: pd.Timestamp
    kind: str = "rollout"
    detail: str = ""
    version: str = ""
    pods: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_change_fields(self, InputError)

    def describe(self) -> str:
        """``"rolled out v2 at 2023-09-22 15:56:36"`` (plus the detail in brackets), for a ``why``."""
        what = VERBS[self.kind] + (f" {self.version}" if self.version else "")
        detail = f" ({self.detail})" if self.detail else ""
        return f"{what} at {format_time(self.time)}{detail}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the time as ISO text) for JSON; :func:`change_from_dict` reads them back."""
        return {
            "service": self.service,
            "time": self.time.isoformat(),
            "kind": self.kind,
            "detail": self.detail,
            "version": self.version,
            "pods": list(self.pods),
        }


def check_change_fields(change: Change, error: type[FrameworkError]) -> None:
    if not isinstance(change.service, str) or not change.service.strip():
        raise error(f"change: service must be a service name, got {change.service!r}")
    object.__setattr__(change, "time", to_timestamp(change.time, f"change of {change.service}: time", error=error))
    if change.kind not in KINDS:
        raise error(f"change of {change.service}: kind {change.kind!r} is not one of {', '.join(KINDS)}")
    for name in ("detail", "version"):
        value = getattr(change, name)
        if value is None:
            object.__setattr__(change, name, "")
        elif not isinstance(value, str):
            raise error(f"change of {change.service}: {name} must be text, got {value!r}")
    pods = change.pods
    if isinstance(pods, str):
        pods = tuple(p for p in pods.replace(";", " ").split() if p)
    if not isinstance(pods, Iterable) or not all(isinstance(p, str) and p for p in pods):
        raise error(f"change of {change.service}: pods must be pod names, got {change.pods!r}")
    object.__setattr__(change, "pods", tuple(pods))


def change_from_dict(
    data: Mapping[str, Any], where: str = "change", error: type[FrameworkError] = InputError
) -> Change:
    """A :class:`Change` from a mapping with ``service``, ``time`` and optionally ``kind`` (default
    ``rollout``), ``detail``, ``version``, ``pods``; unknown keys are refused (a typo is an error)."""
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected an object with service and time, got {data!r}")
    known = {"service", "time", "kind", "detail", "version", "pods"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"{where}: unknown field(s) {unknown}; a change has {sorted(known)}")
    missing = [k for k in ("service", "time") if k not in data or data[k] in (None, "")]
    if missing:
        raise error(f"{where}: missing field(s) {missing}")
    try:
        return Change(
            service=data["service"],
            time=data["time"],
            kind=data.get("kind") or "rollout",
            detail=data.get("detail") or "",
            version=data.get("version") or "",
            pods=data.get("pods") or (),
        )
    except InputError as exc:
        if error is InputError:
            raise
        raise error(f"{where}: {exc}") from exc


def as_changes(changes: Iterable[Any] | None, error: type[FrameworkError] = InputError) -> list[Change]:
    """A list of :class:`Change` from Changes or mappings (sorted by time); ``None`` gives []."""
    if changes is None:
        return []
    if isinstance(changes, (str, bytes, Mapping)) or not isinstance(changes, Iterable):
        raise error(f"changes: expected a list of rca.Change (or mappings), got {type(changes).__name__}")
    out = []
    for i, item in enumerate(changes):
        out.append(item if isinstance(item, Change) else change_from_dict(item, f"changes[{i}]", error))
    return sorted(out, key=lambda c: (c.time, c.service))
