"""Accuracy of root-cause rankings: AC@k, Avg@k, mean rank and chance level.

Definitions (as in MicroRCA, Wu et al. 2020, and the Nezha paper, Yu et al. FSE 2023):

- the *rank* of a case is the 1-based position of the first true root cause in the
  method's ranking (the best one when a case has several root causes);
- ``AC@k`` = fraction of cases whose rank is <= k;
- ``Avg@k`` = mean of ``AC@1 .. AC@k``;
- *mean rank*: a case whose root cause is not ranked at all (or whose method failed)
  counts as rank ``N + 1``, N being the number of candidate services of the case;
- *chance level*: expected ``AC@k`` of a uniformly random order of the N candidates
  with R true root causes, ``1 - C(N-R, k) / C(N, k)`` (= ``min(k, N)/N`` for R = 1),
  averaged over the cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import comb

import numpy as np

KS = (1, 2, 3, 4, 5)
REPORTED_KS = (1, 3, 5)


@dataclass
class Outcome:
    """One method on one case: where the truth landed and how long it took."""

    case_id: str
    method: str
    fault_type: str
    root_causes: list[str]
    ranking: list[str]
    n_candidates: int
    seconds: float
    error: str | None = None
    scores: list[float] = field(default_factory=list)
    detect_seconds: float = float("nan")
    rank_seconds: float = float("nan")
    day: str = ""

    @property
    def rank(self) -> int | None:
        """1-based rank of the best-placed root cause; ``None`` when none is ranked."""
        return rank_of(self.ranking, self.root_causes)


def rank_of(ranking: Sequence[str], root_causes: Iterable[str]) -> int | None:
    """1-based position of the first element of ``ranking`` that is a root cause."""
    truth = set(root_causes)
    for position, service in enumerate(ranking, start=1):
        if service in truth:
            return position
    return None


def accuracy_at(ranks: Sequence[int | None], k: int) -> float:
    """AC@k: fraction of cases with a rank <= k (``None`` = not ranked). NaN for no cases."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(ranks) == 0:
        return float("nan")
    return float(np.mean([r is not None and r <= k for r in ranks]))


def average_accuracy(ranks: Sequence[int | None], k: int = 5) -> float:
    """Avg@k: mean of AC@1 .. AC@k."""
    return float(np.mean([accuracy_at(ranks, j) for j in range(1, k + 1)]))


def mean_rank(ranks: Sequence[int | None], n_candidates: Sequence[int]) -> float:
    """Mean rank with a miss counted as ``N + 1`` (N = that case's number of candidates)."""
    if len(ranks) != len(n_candidates):
        raise ValueError("ranks and n_candidates differ in length")
    if len(ranks) == 0:
        return float("nan")
    return float(np.mean([n + 1 if r is None else r for r, n in zip(ranks, n_candidates)]))


def chance_accuracy(n_candidates: int, k: int, n_root_causes: int = 1) -> float:
    """Expected AC@k of a random order of N candidates holding R root causes: 1 - C(N-R,k)/C(N,k)."""
    if n_candidates < 1:
        return 0.0
    r = min(n_root_causes, n_candidates)
    k = min(k, n_candidates)
    return 1.0 - comb(n_candidates - r, k) / comb(n_candidates, k)


def summarize(outcomes: Sequence[Outcome]) -> dict:
    """AC@1..5, Avg@5, mean rank, chance level and timing for one method's outcomes."""
    ranks = [o.rank for o in outcomes]
    sizes = [o.n_candidates for o in outcomes]
    out: dict = {f"AC@{k}": accuracy_at(ranks, k) for k in KS}
    out["Avg@5"] = average_accuracy(ranks, 5) if outcomes else float("nan")
    out["mean_rank"] = mean_rank(ranks, sizes)
    out["chance"] = {
        f"AC@{k}": _mean([chance_accuracy(o.n_candidates, k, len(set(o.root_causes))) for o in outcomes]) for k in KS
    }
    out["chance"]["Avg@5"] = _mean([out["chance"][f"AC@{k}"] for k in KS]) if outcomes else float("nan")
    out["mean_candidates"] = _mean(sizes)
    out["failed"] = sum(o.error is not None for o in outcomes)
    out["seconds_per_case"] = _mean([o.seconds for o in outcomes])
    out["detect_seconds_per_case"] = _nanmean([o.detect_seconds for o in outcomes])
    out["rank_seconds_per_case"] = _nanmean([o.rank_seconds for o in outcomes])
    out["seconds_total"] = float(sum(o.seconds for o in outcomes))
    return out


def by_fault_type(outcomes: Sequence[Outcome]) -> dict[str, dict]:
    """:func:`summarize` per fault type (sorted by name), each with its case count."""
    return _by(outcomes, lambda o: o.fault_type)


def by_day(outcomes: Sequence[Outcome]) -> dict[str, dict]:
    """:func:`summarize` per day of the injection (``Outcome.day``, sorted), each with its case count."""
    return _by(outcomes, lambda o: o.day or "unknown")


def _by(outcomes: Sequence[Outcome], key) -> dict[str, dict]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(key(outcome), []).append(outcome)
    return {name: {"cases": len(group), **summarize(group)} for name, group in sorted(groups.items())}


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
