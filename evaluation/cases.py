"""Fault cases: input data plus ground truth (:class:`Case`), and the helpers the data-set adapters share.

A :class:`Case` holds either spans (a SpanFrame) or ready-made per-edge series
(an EdgeSeries, see ``docs/interfaces.md``), the root-cause service(s), the fault
type, the injection start and, when known, its end.

The adapters (:mod:`evaluation.nezha`, :mod:`evaluation.changerca`,
:mod:`evaluation.rcaeval`, :mod:`evaluation.case_folders`) build cases from each layout;
:func:`evaluation.datasets.load_cases` picks the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.changes import Change, as_changes
from core.times import to_timedelta as core_timedelta
from core.times import to_timestamp as core_timestamp
from evaluation.errors import EvaluationError

DEFAULT_BEFORE = pd.Timedelta(minutes=10)
DEFAULT_AFTER = pd.Timedelta(minutes=3)


def to_timestamp(value: Any, what: str = "time", *, units: bool = False) -> pd.Timestamp:
    """:func:`core.to_timestamp` raising :class:`EvaluationError`; ``units`` reads a time in another
    unit than seconds by :mod:`core.units` (the data-set adapters, which read files, pass True)."""
    return core_timestamp(value, what, error=EvaluationError, units=units)


def to_timedelta(value: Any, what: str = "duration") -> pd.Timedelta:
    """:func:`core.to_timedelta` (seconds or text such as ``10min``) raising :class:`EvaluationError`."""
    return core_timedelta(value, what, error=EvaluationError)


@dataclass
class Case:
    """One fault case: data (``spans`` or ``edge_series``) and its labels.

    Times are stored as tz-aware UTC timestamps; Unix seconds are accepted.
    ``root_causes`` is a non-empty list of service names. ``metadata`` records where
    the case came from and how its window was chosen. ``changes``: the change events the data
    set records around the case (:class:`core.changes.Change`; ChangeRCA's release plan), which
    an evaluation may give to the ranking (``evaluate(..., change_prior=...)``); ``pod_series``:
    per-pod series ``(time, service, pod)`` where the data set has them without spans (ChangeRCA),
    for the pod comparison (``evaluate(..., pods=...)``); ``metric_series``: per-pod metrics
    ``(time, service, pod)`` where the data set records them (Nezha's ``metric/`` folder,
    ChangeRCA's CPU and memory columns), for ``evaluate(..., metrics=...)``.
    """

    case_id: str
    root_causes: list[str]
    fault_type: str
    inject_time: pd.Timestamp
    end_time: pd.Timestamp | None = None
    spans: pd.DataFrame | None = None
    edge_series: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    pod_series: pd.DataFrame | None = None
    metric_series: pd.DataFrame | None = None
    spans_loader: Callable[[], pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.case_id, str) or not self.case_id:
            raise EvaluationError(f"case_id: must be a non-empty string, got {self.case_id!r}")
        if isinstance(self.root_causes, str):
            self.root_causes = [self.root_causes]
        if not self.root_causes or not all(isinstance(s, str) and s for s in self.root_causes):
            raise EvaluationError(
                f"case {self.case_id}: root_causes must be a non-empty list of service names, got {self.root_causes!r}"
            )
        self.root_causes = list(self.root_causes)
        self.fault_type = str(self.fault_type or "unknown")
        self.inject_time = to_timestamp(self.inject_time, f"case {self.case_id}: inject_time")
        if self.end_time is not None:
            self.end_time = to_timestamp(self.end_time, f"case {self.case_id}: end_time")
            if self.end_time <= self.inject_time:
                raise EvaluationError(
                    f"case {self.case_id}: end_time (the recorded end, recovered_at) {self.end_time} is not after "
                    f"inject_time {self.inject_time}"
                )
        self.changes = as_changes(self.changes, EvaluationError)
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


def usability(
    times_us: np.ndarray,
    inject: pd.Timestamp,
    before: pd.Timedelta,
    after: pd.Timedelta,
    min_count: int,
    what: str = "spans",
) -> str | None:
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
