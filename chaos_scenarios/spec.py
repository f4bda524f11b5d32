"""The values a suite is made of: faults, their peers, the suite; durations in seconds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from chaos_scenarios.errors import ScenarioError

MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")
DIRECTIONS = ("to", "from", "both")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_PHASE_SECONDS = 24 * 3600.0
"""Longest warm-up, fault or cool-down of one case: a day (longer is almost always a unit slip)."""
MAX_REPETITIONS = 1000
"""Most repetitions of one fault."""
MAX_CASES = 10_000
"""Most cases one suite may plan."""


@dataclass(frozen=True)
class Peer:
    """The other end of a NetworkChaos (ChaosMesh ``spec.target``)."""

    service: str
    mode: str = "all"
    value: str = ""
    namespace: str | None = None


@dataclass(frozen=True)
class Fault:
    """One fault of a suite, with the suite defaults already applied."""

    name: str
    target: str
    kind: str
    action: str
    parameters: dict[str, Any]
    mode: str
    value: str
    namespace: str
    warmup: float
    duration: float
    cooldown: float
    repetitions: int
    direction: str | None = None
    peer: Peer | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    faults: tuple[Fault, ...]
    jaeger_url: str
    concurrency: int = 1
    path: str = ""

    @property
    def namespaces(self) -> list[str]:
        names = {f.namespace for f in self.faults}
        names |= {f.peer.namespace for f in self.faults if f.peer and f.peer.namespace}
        return sorted(names)


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or a Go-style duration string (``90s``, ``5m``, ``1h30m``, ``250ms``)."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration such as 90s or 5m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ScenarioError(f"{where}: {value!r} is not a finite duration (use e.g. 90s, 5m, 1h30m)")
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if "".join(n + u for n, u in parts) != text:
            raise ScenarioError(f"{where}: {value!r} is not a duration (use e.g. 90s, 5m, 1h30m)")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ScenarioError(f"{where}: expected a duration such as 90s or 5m, got {value!r}")
    if seconds < 0:
        raise ScenarioError(f"{where}: duration must be >= 0, got {value!r}")
    if seconds > MAX_PHASE_SECONDS:
        raise ScenarioError(
            f"{where}: {value!r} is {seconds / 3600:g} h; a phase of a case may last at most "
            f"{MAX_PHASE_SECONDS / 3600:g} h (seconds are numbers; use 90s, 5m, 1h30m)"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """A ChaosMesh duration string for ``seconds`` (whole seconds, or milliseconds)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
