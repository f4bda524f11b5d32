"""The values rca/ hands to its callers: EdgeEvidence, Candidate, Ranking, Result."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

EVIDENCE_COLUMNS = (
    "kind", "caller", "callee", "metric", "n_train", "n_test", "threshold", "alarms",
    "first_alarm", "peak_excess", "strength", "shift", "delta", "baseline", "note",
)
UNMODELLED_COLUMNS = ("kind", "caller", "callee", "metric", "reason")


@dataclass
class EdgeEvidence:
    """What the detector found on every (edge or service, metric) series of one case.

    ``table``: one row per modelled series, columns :data:`EVIDENCE_COLUMNS`:

    - ``kind`` ``"edge"`` (``caller`` -> ``callee``) or ``"service"`` (``caller`` is the
      service, ``callee`` is ``None``); ``metric`` the series' column name;
    - ``n_train`` / ``n_test``: points the detector was fitted on / scored;
    - ``threshold``: the detector's last threshold; ``alarms``: alarms in the test part;
      ``first_alarm``: time of the first one (NaT when none);
    - ``peak_excess``: max over the test part of (score - threshold), in score units
      (negative when no alarm);
    - ``strength``: the anomaly strength the rankers use, >= 0 (see :mod:`rca.detection`);
    - ``shift``: signed level shift of the test median from the training median, in
      training spreads (positive = went up); ``delta``: the same change in the series' units;
      ``baseline``: the training median; ``note``: why the detector did not run, if so.

    ``scores``: per series key ``(kind, caller, callee, metric)`` a DataFrame indexed by
    time with columns ``value, score, threshold, alarm`` over the test part.
    ``unmodelled``: series that could not be modelled, with the reason.
    """

    table: pd.DataFrame
    scores: dict[tuple, pd.DataFrame] = field(default_factory=dict)
    unmodelled: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(UNMODELLED_COLUMNS)))
    train_until: pd.Timestamp | None = None
    end_time: pd.Timestamp | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def edges(self) -> pd.DataFrame:
        return self.table[self.table["kind"] == "edge"]

    def services(self) -> pd.DataFrame:
        return self.table[self.table["kind"] == "service"]

    def strength(self, caller: str, callee: str | None, metric: str) -> float:
        """Strength of one series (0 when it was not modelled)."""
        t = self.table
        kind = "service" if callee is None else "edge"
        mask = (t["kind"] == kind) & (t["caller"] == caller) & (t["metric"] == metric)
        if callee is not None:
            mask &= t["callee"] == callee
        values = t.loc[mask, "strength"]
        return float(values.iloc[0]) if len(values) else 0.0

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class Candidate:
    """One ranked service: ``score`` (higher = more likely the root cause) and ``why``."""

    service: str
    score: float
    why: str


@dataclass
class Ranking:
    """Candidates ordered best first, plus the method that produced them."""

    candidates: list[Candidate]
    method: str = ""

    def services(self) -> list[str]:
        return [c.service for c in self.candidates]

    def rank_of(self, service: str) -> int | None:
        """1-based rank of ``service``; ``None`` when it is not a candidate."""
        for i, c in enumerate(self.candidates, 1):
            if c.service == service:
                return i
        return None

    def top(self, k: int) -> list[Candidate]:
        return self.candidates[:k]

    def __iter__(self):
        return iter(self.candidates)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, i):
        return self.candidates[i]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"rank": range(1, len(self.candidates) + 1),
             "service": [c.service for c in self.candidates],
             "score": [c.score for c in self.candidates],
             "why": [c.why for c in self.candidates]}
        )


@dataclass
class Result:
    """What :func:`rca.localize` returns."""

    ranking: Ranking
    evidence: EdgeEvidence
    graph: nx.DiGraph
