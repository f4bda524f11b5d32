"""Fault cases: input data plus ground truth, and :func:`load_cases` for every supported layout.

A :class:`Case` holds either spans (a SpanFrame) or ready-made per-edge series
(an EdgeSeries, see ``docs/interfaces.md``), the root-cause service(s), the fault
type, the injection start and, when known, its end.

``load_cases(spec)`` accepts ``nezha:PATH``, ``changerca:PATH``, ``rcaeval:PATH``,
``cases:PATH`` (case folders written by ``chaos_scenarios``) or a bare ``PATH``
whose layout is detected by content. It returns ``(cases, skipped)`` where
``skipped`` lists ``(case_id, reason)`` for every case that exists in the data but
cannot be used. A malformed case (unreadable label, missing field, bad column)
raises :class:`EvaluationError` naming the file and the problem.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import EvaluationError

LAYOUTS = ("nezha", "changerca", "rcaeval", "cases")
DEFAULT_BEFORE = pd.Timedelta(minutes=10)
DEFAULT_AFTER = pd.Timedelta(minutes=3)


def to_timestamp(value: Any, what: str = "time") -> pd.Timestamp:
    """Unix seconds (int/float/str) or a datetime -> tz-aware UTC :class:`pandas.Timestamp`."""
    if isinstance(value, pd.Timestamp):
        return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise EvaluationError(f"{what}: {value!r} is not a Unix time in seconds") from exc
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise EvaluationError(f"{what}: {value!r} is not a finite Unix time")
        return pd.Timestamp(float(value), unit="s", tz="UTC")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{what}: cannot read {value!r} as a time") from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_timedelta(value: Any, what: str = "duration") -> pd.Timedelta:
    """Seconds (number) or anything :class:`pandas.Timedelta` reads ("10min")."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        delta = pd.Timedelta(seconds=float(value))
    else:
        try:
            delta = pd.Timedelta(value)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"{what}: cannot read {value!r} as a duration") from exc
    if delta < pd.Timedelta(0):
        raise EvaluationError(f"{what}: must not be negative, got {value!r}")
    return delta


@dataclass
class Case:
    """One fault case: data (``spans`` or ``edge_series``) and its labels.

    Times are stored as tz-aware UTC timestamps; Unix seconds are accepted.
    ``root_causes`` is a non-empty list of service names. ``metadata`` records where
    the case came from and how its window was chosen.
    """

    case_id: str
    root_causes: list[str]
    fault_type: str
    inject_time: pd.Timestamp
    end_time: pd.Timestamp | None = None
    spans: pd.DataFrame | None = None
    edge_series: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    spans_loader: Callable[[], pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.case_id, str) or not self.case_id:
            raise EvaluationError(f"case id must be a non-empty string, got {self.case_id!r}")
        if isinstance(self.root_causes, str):
            self.root_causes = [self.root_causes]
        if not self.root_causes or not all(isinstance(s, str) and s for s in self.root_causes):
            raise EvaluationError(
                f"case {self.case_id}: root_causes must be a non-empty list of service names, "
                f"got {self.root_causes!r}")
        self.root_causes = list(self.root_causes)
        self.fault_type = str(self.fault_type or "unknown")
        self.inject_time = to_timestamp(self.inject_time, f"case {self.case_id}: inject_time")
        if self.end_time is not None:
            self.end_time = to_timestamp(self.end_time, f"case {self.case_id}: end_time")
            if self.end_time < self.inject_time:
                raise EvaluationError(
                    f"case {self.case_id}: end_time {self.end_time} is before inject_time {self.inject_time}")
        if self.spans is None and self.spans_loader is None and self.edge_series is None:
            raise EvaluationError(f"case {self.case_id}: holds neither spans nor edge series")

    @property
    def source(self) -> str:
        """``"spans"`` or ``"edge_series"``: what the case's data is."""
        return "spans" if self.spans is not None or self.spans_loader is not None else "edge_series"

    def load_spans(self) -> pd.DataFrame | None:
        """The case's spans: the ones held in memory, else read now through ``spans_loader``.

        Read spans are not kept, so a run over many stored cases holds one case's spans at a time.
        """
        if self.spans is not None or self.spans_loader is None:
            return self.spans
        return self.spans_loader()


def parse_spec(spec: str | Path) -> tuple[str | None, Path]:
    """``"nezha:PATH"`` -> ``("nezha", PATH)``; a bare path -> ``(None, PATH)``."""
    text = str(spec)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in LAYOUTS:
        return prefix, Path(rest)
    return None, Path(text)


def detect_layout(path: Path) -> str:
    """Tell a data set's layout from its content (see :func:`load_cases`)."""
    from chaos_scenarios.case_folder import RUN_FILE, list_cases

    if not path.exists():
        raise EvaluationError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise EvaluationError(f"{path}: expected a directory of cases")
    if (path / RUN_FILE).is_file() or list_cases(path):
        return "cases"
    from evaluation import changerca, nezha, rcaeval

    if nezha.looks_like(path):
        return "nezha"
    if changerca.looks_like(path):
        return "changerca"
    if rcaeval.looks_like(path):
        return "rcaeval"
    raise EvaluationError(
        f"{path}: cannot tell the data set's layout (no run.json/case folders, no Nezha label.json "
        f"with trace/, no ChangeRCA <case>.json, no RCAEval inject_time.txt); "
        f"name it explicitly as one of {', '.join(p + ':PATH' for p in LAYOUTS)}")


def load_cases(
    spec: str | Path,
    *,
    before: Any = DEFAULT_BEFORE,
    after: Any = DEFAULT_AFTER,
    min_spans: int = 1,
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Load every case of a data set; returns ``(cases, skipped)``.

    A span-based case is usable iff the data holds at least ``min_spans`` spans in
    ``[inject - before, inject)`` and at least ``min_spans`` in
    ``[inject, inject + after)``; a series-based case likewise needs series
    buckets on both sides. Every other case is listed in ``skipped`` with its
    reason. ``before``/``after`` are seconds or a Timedelta (default 10 and 3 minutes).
    """
    layout, path = parse_spec(spec)
    before = to_timedelta(before, "before")
    after = to_timedelta(after, "after")
    if min_spans < 1:
        raise EvaluationError(f"min_spans must be at least 1, got {min_spans}")
    if layout is None:
        layout = detect_layout(path)
    elif not path.exists():
        raise EvaluationError(f"{layout}:{path}: no such file or directory")
    if layout == "nezha":
        from evaluation.nezha import load_nezha as loader
    elif layout == "changerca":
        from evaluation.changerca import load_changerca as loader
    elif layout == "rcaeval":
        from evaluation.rcaeval import load_rcaeval as loader
    else:
        from evaluation.case_folders import load_case_folders as loader
    cases, skipped = loader(path, before=before, after=after, min_spans=min_spans)
    for case in cases:
        case.metadata.setdefault("layout", layout)
        case.metadata.setdefault("dataset", str(path))
    return cases, skipped


def usability(times_us: np.ndarray, inject: pd.Timestamp, before: pd.Timedelta, after: pd.Timedelta,
              min_count: int, what: str = "spans") -> str | None:
    """Why a case is not usable (``None`` when it is): counts in the windows around ``inject``.

    ``times_us`` must be sorted microseconds since the epoch.
    """
    t0 = _us(inject)
    lo, mid, hi = np.searchsorted(times_us, [t0 - _us_delta(before), t0, t0 + _us_delta(after)])
    n_before, n_after = int(mid - lo), int(hi - mid)
    problems = []
    if n_before < min_count:
        problems.append(f"{n_before} {what} in the {_minutes(before)} before injection")
    if n_after < min_count:
        problems.append(f"{n_after} {what} in the {_minutes(after)} after injection")
    if not problems:
        return None
    need = "" if min_count == 1 else f" (need at least {min_count})"
    return "; ".join(problems) + need


@contextmanager
def foreign_errors(where: str):
    """Re-raise another package's input error (CollectError, ScenarioError) as an EvaluationError."""
    from chaos_scenarios.errors import ScenarioError
    from collectors.errors import CollectError

    try:
        yield
    except (CollectError, ScenarioError) as exc:
        raise EvaluationError(f"{where}: {exc}") from exc


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise EvaluationError(f"{path}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{path}: not valid JSON ({exc})") from exc


def _us(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1000)


def _us_delta(delta: pd.Timedelta) -> int:
    return int(delta.value // 1000)


def _minutes(delta: pd.Timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds % 60 == 0:
        n = int(seconds // 60)
        return f"{n} minute" + ("" if n == 1 else "s")
    return f"{seconds:g} s"
