"""The case folder: what every runner (Kubernetes or simulator) writes and evaluation/ reads.

Layout of a run directory::

    <out>/run.json                  {"format": "rca-run/1", "suite", "backend", "seed", "created", "cases": [ids]}
    <out>/<case_id>/label.json      see :class:`CaseLabel`
    <out>/<case_id>/manifest.yaml   the ChaosMesh manifest(s) applied, as YAML documents
    <out>/<case_id>/spans.parquet   the SpanFrame collected for [window_start, window_end]
    <out>/<case_id>/changes.json    (optional) change events of the cluster in that window

Times in ``label.json`` are Unix seconds (float, UTC).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from chaos_scenarios.errors import ScenarioError
from collectors.spanframe import make_spanframe
from core.changes import Change, as_changes, change_from_dict

CASE_FORMAT = "rca-case/1"
RUN_FORMAT = "rca-run/1"
LABEL_FILE = "label.json"
MANIFEST_FILE = "manifest.yaml"
SPANS_FILE = "spans.parquet"
RUN_FILE = "run.json"
CHANGES_FILE = "changes.json"


@dataclass
class CaseLabel:
    """Ground truth recorded for one injected fault.

    ``root_cause``: the service(s) the fault targeted. ``fault_type``: a short
    ``<kind>-<action>`` name such as ``network-delay`` or ``stress-cpu``.
    ``injected_at`` / ``recovered_at`` come from the chaos object's status (k8s)
    or the simulator's clock, never from a guess.
    """

    case_id: str
    root_cause: list[str]
    fault_type: str
    chaos_kind: str
    action: str
    injected_at: float
    recovered_at: float | None
    window_start: float
    window_end: float
    backend: str
    target_pods: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    suite: str = ""
    seed: int | None = None
    format: str = CASE_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "label.json") -> CaseLabel:
        if data.get("format") != CASE_FORMAT:
            raise ScenarioError(f"{where}: format is {data.get('format')!r}, expected {CASE_FORMAT!r}")
        required = (
            "case_id",
            "root_cause",
            "fault_type",
            "chaos_kind",
            "action",
            "injected_at",
            "window_start",
            "window_end",
            "backend",
        )
        missing = [k for k in required if k not in data]
        if missing:
            raise ScenarioError(f"{where}: missing field(s) {missing}")
        if not isinstance(data["root_cause"], list) or not data["root_cause"]:
            raise ScenarioError(f"{where}: root_cause must be a non-empty list of service names")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def write_case(case_dir: str | Path, label: CaseLabel, manifests: list[dict], spans: pd.DataFrame) -> Path:
    """Write one case folder; returns its path."""
    case_dir = Path(case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    spans.to_parquet(case_dir / SPANS_FILE, index=False)
    with open(case_dir / MANIFEST_FILE, "w") as fh:
        yaml.safe_dump_all(manifests, fh, sort_keys=False)
    with open(case_dir / LABEL_FILE, "w") as fh:
        json.dump(label.to_json(), fh, indent=2)
    return case_dir


def read_label(case_dir: str | Path) -> CaseLabel:
    path = Path(case_dir) / LABEL_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ScenarioError(f"{case_dir}: no {LABEL_FILE}; not a case folder") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON ({exc})") from exc
    return CaseLabel.from_json(data, where=str(path))


def read_spans(case_dir: str | Path) -> pd.DataFrame:
    """The case's spans as a validated SpanFrame."""
    path = Path(case_dir) / SPANS_FILE
    if not path.exists():
        raise ScenarioError(f"{case_dir}: no {SPANS_FILE}")
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path}: not a readable Parquet span file ({exc})") from exc
    return make_spanframe(table, source=str(path))


def write_changes(case_dir: str | Path, changes: list[Change]) -> Path:
    """``changes.json``: the change events recorded around the case (a list of
    :meth:`core.changes.Change.to_dict`)."""
    path = Path(case_dir) / CHANGES_FILE
    path.write_text(json.dumps([c.to_dict() for c in changes], indent=2))
    return path


def read_changes(case_dir: str | Path) -> list[Change]:
    """The case's ``changes.json`` ([] when the folder has none)."""
    path = Path(case_dir) / CHANGES_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise ScenarioError(f"{path}: expected a list of changes, got {type(data).__name__}")
    return as_changes([change_from_dict(item, f"{path}: change {i}", ScenarioError) for i, item in enumerate(data)])


def read_manifests(case_dir: str | Path) -> list[dict]:
    path = Path(case_dir) / MANIFEST_FILE
    if not path.exists():
        return []
    with open(path) as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def is_case_folder(path: str | Path) -> bool:
    path = Path(path)
    if not (path / LABEL_FILE).is_file():
        return False
    try:
        return json.loads((path / LABEL_FILE).read_text()).get("format") == CASE_FORMAT
    except (OSError, json.JSONDecodeError):
        return False


def write_run(
    out_dir: str | Path,
    *,
    suite: str,
    backend: str,
    seed: int | None,
    cases: list[str],
    extra: dict[str, Any] | None = None,
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "format": RUN_FORMAT,
        "suite": suite,
        "backend": backend,
        "seed": seed,
        "created": pd.Timestamp.now(tz="UTC").isoformat(),
        "cases": cases,
        **(extra or {}),
    }
    (out_dir / RUN_FILE).write_text(json.dumps(info, indent=2))
    return out_dir / RUN_FILE


def list_cases(run_dir: str | Path) -> list[Path]:
    """Case folders directly under ``run_dir`` (sorted), or ``run_dir`` itself if it is one."""
    run_dir = Path(run_dir)
    if is_case_folder(run_dir):
        return [run_dir]
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and is_case_folder(p))
