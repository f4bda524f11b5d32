"""Operation-level localization: rank (service, operation) pairs beside the service ranking.

A fault in one endpoint of a service (one gRPC method, say ``hipstershop.CartService/GetCart``)
shows in that operation's own series while the service's other operations stay normal.
:func:`rank_operations` reads an OperationSeries (:func:`graph.operation_series`, server spans
per ``(time, service, operation)``) and scores every operation with training data before the
onset on what belongs to the operation itself, so that a caller is not blamed for its callee:

- ``self_mean_ms``: its own time (duration minus its direct children's), median of the scored
  window against the training median;
- ``gap_mean_ms``: the time between its caller's client span and its own server span (network
  or queueing on the way in: a delay on the service's link), median against median, its z
  halved (:data:`GAP_SHARE`: the gap may as well be the caller's);
- ``own_error_rate``: errors raised by the operation (its span in error while no child is), the
  worst scored bucket against the training median (errors are events, as in :mod:`rca.detection`);
- ``call_share``: its share of the service's calls (an operation that starts failing fast, or
  is retried, changes share), median against median, either direction.

Each is a robust z: (level - training median) / spread, spread = max(1.4826 x MAD of the
training values, ``rel_floor`` x |training median|, the metric's absolute floor in
:data:`FLOORS`); increases only, except ``call_share``. An operation's score is its largest z;
operations are ranked by score (operations without training data are listed with score 0 and
say so). Operation labels for AC@k are ``(service, operation)`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.times import optional_timestamp, to_timestamp
from rca.errors import RCAError
from rca.types import html_table

FLOORS = {"self_mean_ms": 0.2, "gap_mean_ms": 0.2, "own_error_rate": 0.01, "call_share": 0.01}
METRICS = ("self_mean_ms", "gap_mean_ms", "own_error_rate", "call_share")
GAP_SHARE = 0.5
"""The share of a gap's z an operation takes: the gap lies between caller and callee and, without
the other edges to tell which end it belongs to, each end gets half (``explain-upstream``'s
``unknown_share``)."""


@dataclass(frozen=True)
class OperationCandidate:
    """One ranked operation of a service: ``score`` (higher = more likely) and ``why``."""

    service: str
    operation: str
    score: float
    why: str


@dataclass
class OperationRanking:
    """(service, operation) pairs, best first."""

    candidates: list[OperationCandidate]

    def pairs(self) -> list[tuple[str, str]]:
        return [(c.service, c.operation) for c in self.candidates]

    def rank_of(self, service: str, operation: str) -> int | None:
        """1-based rank of the pair; None when it is not a candidate."""
        for i, c in enumerate(self.candidates, 1):
            if c.service == service and c.operation == operation:
                return i
        return None

    def top(self, k: int) -> list[OperationCandidate]:
        return self.candidates[:k]

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, i):
        return self.candidates[i]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "rank": range(1, len(self.candidates) + 1),
                "service": [c.service for c in self.candidates],
                "operation": [c.operation for c in self.candidates],
                "score": [c.score for c in self.candidates],
                "why": [c.why for c in self.candidates],
            }
        )

    def _repr_html_(self) -> str:
        rows = [
            [str(i), c.service, c.operation, f"{c.score:.3g}", c.why] for i, c in enumerate(self.candidates[:10], 1)
        ]
        return html_table(["rank", "service", "operation", "score", "why"], rows)


def rank_operations(
    operation_series: pd.DataFrame, onset, end=None, *, min_train: int = 3, rel_floor: float = 0.05
) -> OperationRanking:
    """Rank every (service, operation) of ``operation_series`` (module docstring)."""
    if (
        not isinstance(operation_series, pd.DataFrame)
        or not isinstance(operation_series.index, pd.MultiIndex)
        or list(operation_series.index.names) != ["time", "service", "operation"]
    ):
        raise RCAError("operation_series: expected a DataFrame indexed by (time, service, operation)")
    missing = [c for c in ("calls", "self_mean_ms", "own_error_rate") if c not in operation_series.columns]
    if missing:
        raise RCAError(f"operation_series: no column(s) {missing} (build it with graph.operation_series)")
    t0 = to_timestamp(onset, "onset", error=RCAError)
    t1 = optional_timestamp(end, "end", error=RCAError)
    frame = operation_series.copy()
    totals = frame["calls"].groupby(level=["time", "service"]).transform("sum")
    frame["call_share"] = frame["calls"] / totals
    scored: list[OperationCandidate] = []
    for (service, operation), rows in frame.groupby(level=["service", "operation"], sort=True):
        when = rows.index.get_level_values("time")
        in_test = when >= t0 if t1 is None else (when >= t0) & (when < t1)
        train, test = rows[when < t0], rows[in_test]
        if len(test) == 0:
            continue
        if len(train) < min_train:
            scored.append(
                OperationCandidate(str(service), str(operation), 0.0, f"only {len(train)} training bucket(s)")
            )
            continue
        parts: list[tuple[float, str]] = []
        for metric in METRICS:
            if metric not in rows.columns:
                continue
            base_values = train[metric].dropna().to_numpy()
            values = test[metric].dropna().to_numpy()
            if len(base_values) == 0 or len(values) == 0:
                continue
            base = float(np.median(base_values))
            spread = max(1.4826 * float(np.median(np.abs(base_values - base))), rel_floor * abs(base), FLOORS[metric])
            level = float(np.max(values)) if metric == "own_error_rate" else float(np.median(values))
            z = (level - base) / spread
            if metric == "call_share":
                z = abs(z)
            elif metric == "gap_mean_ms":
                z *= GAP_SHARE
            if z > 0:
                parts.append((z, f"{metric} {base:.3g} -> {level:.3g} (z {z:.1f})"))
        score = max((p[0] for p in parts), default=0.0)
        why = "; ".join(label for _, label in sorted(parts, reverse=True)[:2]) or "no anomalous evidence"
        scored.append(OperationCandidate(str(service), str(operation), float(score), why))
    scored.sort(key=lambda c: (-c.score, c.service, c.operation))
    return OperationRanking(scored)
