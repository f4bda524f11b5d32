"""One alarm threshold for all series: SPOT fitted on the pooled scores of the recent buckets.

A per-series SPOT (Siffer et al., KDD 2017) needs a tail: at level 0.95 it takes far more than
the ten scores a 10-minute warm-up of 30 s buckets leaves after FluxEV's own warm-up. With ten,
the initial threshold is their largest and there is no peak, so the alarm threshold stays
infinite until two later scores exceed it, and when the warm-up held a fault its threshold stays
inflated for the rest of the stream (docs/monitor.md). Learned once, it never recovers.

The pooled calibration gives SPOT the points it needs by pooling over series instead of over
time. Each series' score is divided by the series' **unit** (the noise unit in which the monitor
measures a shift, :meth:`monitor.series.SeriesModel.unit`), which makes the scores of a detector
whose score is in the series' own units (FluxEV's smoothed forecast-error fluctuation) comparable
across series and metrics. The scores of the last ``window`` observed buckets that raised no
alarm are kept; at the start of every bucket SPOT is fitted on them (its initial threshold at
``level``, the method-of-moments GPD, the quantile of risk ``q``: FluxEV's own arithmetic,
:class:`fluxev.spot.SPOT`), and that threshold holds for every series in the bucket. With fewer
than ``min_scores`` kept scores the threshold is infinite (nothing alarms yet).

A fault moves only some series (a few dozen of a few hundred scores per bucket), and its alarmed
scores never enter the pool; the window forgets everything else it learned from a fault after
``window``. Costs: one sort of at most ``window`` buckets of scores per bucket.

How the monitor uses it (``MonitorConfig.calibration``): ``"own-or-pooled"``, the default for
FluxEV, keeps each series' own SPOT threshold once its tail rests on ``own_min_peaks`` (10)
peaks, and uses the pooled one (once it has a fit) while the own is infinite or rests on fewer:
a method-of-moments tail from a handful of excesses, often a faulty warm-up's, is as unreliable
as none (at level 0.95, ten peaks take 200 scores, 100 minutes of 30 s buckets). ``"pooled"`` uses the pooled threshold
for every series; ``"per-series"`` never pools. Every fitted series that is not constant feeds
the pool in all but the last. Measured in docs/monitor.md: on the recorded Online-Boutique day
own-or-pooled finds two more faults than per-series with fewer false incidents, and on the
79-fault simulated timeline the same faults with fewer false incidents; ``"pooled"`` alone is
as good on the recorded day but much worse on the simulated one, whose quiet series give the
pool a thin tail (a threshold of about one unit, so the margin alone decides).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from fluxev.spot import SPOT
from monitor.errors import MonitorError

CALIBRATIONS = ("own-or-pooled", "pooled", "per-series")


class PooledTail:
    """SPOT over the unit-scaled scores of the last ``window`` buckets (module docstring).

    Per bucket: :meth:`begin` (fits the threshold on the kept scores), :meth:`threshold` and
    :meth:`learn` for each series' scaled score, :meth:`end` (keeps the bucket's unalarmed
    scores). Collection gaps call neither.
    """

    def __init__(self, window: int, min_scores: int = 100, q: float = 1e-3, level: float = 0.95):
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise MonitorError(f"pooled tail: window must be an integer >= 1 bucket, got {window!r}")
        if isinstance(min_scores, bool) or not isinstance(min_scores, int) or min_scores < 1:
            raise MonitorError(f"pooled tail: min_scores must be an integer >= 1, got {min_scores!r}")
        self.window = window
        self.min_scores = min_scores
        self.q = q
        self.level = level
        SPOT(q, level)._check()
        self.kept: deque[np.ndarray] = deque(maxlen=window)
        self.current: list[float] = []
        self.spot: SPOT | None = None

    def begin(self) -> None:
        """Fit SPOT on the kept scores (no fit, infinite threshold, below ``min_scores``)."""
        self.current = []
        scores = np.concatenate(self.kept) if self.kept else np.empty(0)
        self.spot = SPOT(self.q, self.level).fit(scores) if len(scores) >= self.min_scores else None

    @property
    def threshold(self) -> float:
        """The alarm threshold of the current bucket (inf while there is no fit)."""
        return math.inf if self.spot is None else self.spot.z_

    def learn(self, score: float) -> None:
        """Keep an unalarmed scaled score for the next buckets' fits."""
        self.current.append(score)

    def end(self) -> None:
        self.kept.append(np.asarray(self.current, dtype=float))
        self.current = []

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.kept)

    def state(self) -> dict:
        return {
            "window": self.window,
            "min_scores": self.min_scores,
            "q": self.q,
            "level": self.level,
            "kept": [b.tolist() for b in self.kept],
        }

    @classmethod
    def from_state(cls, state: dict) -> PooledTail:
        tail = cls(int(state["window"]), int(state["min_scores"]), float(state["q"]), float(state["level"]))
        tail.kept.extend(np.asarray(b, dtype=float) for b in state["kept"])
        return tail

    def __repr__(self) -> str:
        return f"PooledTail(window={self.window}, min_scores={self.min_scores}, q={self.q}, level={self.level})"
