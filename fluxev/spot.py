"""Streaming Peaks-Over-Threshold (SPOT) on the upper tail (Siffer et al., KDD 2017, Alg. 1).

Initialisation: t = sorted(scores)[int(level * n)]; peaks are the excesses of the scores above t.
Streaming, for each score x (z is the current alarm threshold):

* x > z: alarm; nothing is updated (the anomaly does not enter the model);
* t < x <= z: x - t becomes a peak, n and N_t grow by one, the GPD is re-estimated and z moves;
* otherwise n grows by one.

The method-of-moments estimator (FluxEV Eq. 10-11) needs only the peaks' count, mean and
variance, which are kept as running moments (Welford), so each step costs O(1) time and memory.
Maximum likelihood (Grimshaw) needs every peak and keeps them.

While the tail cannot be estimated (fewer than 2 peaks, all peaks equal), the threshold is +inf:
nothing is flagged and the scores above t are collected as peaks until an estimate exists. This is
what the authors' implementation does implicitly (its threshold becomes NaN, which no score
exceeds), made explicit; it also covers the case without any peak, where theirs stops with a
division by zero.
"""

from __future__ import annotations

import math
import time
from typing import cast

import numpy as np

from core.detector import DetectorError
from fluxev import gpd

ESTIMATORS = ("mom", "mle")


class SPOT:
    """Upper-tail SPOT; ``fit(initial_scores)`` then ``step(x)`` or ``run(xs)`` (same results)."""

    def __init__(self, q: float = 0.003, level: float = 0.98, estimator: str = "mom"):
        self.q = q
        self.level = level
        self.estimator = estimator

    def _check(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise DetectorError(f"estimator: must be one of {ESTIMATORS}, got {self.estimator!r}")
        if not (isinstance(self.level, (int, float)) and 0 < self.level < 1):
            raise DetectorError(f"level: must be in (0, 1), got {self.level!r}")
        if not (isinstance(self.q, (int, float)) and 0 < self.q < 1 - self.level):
            raise DetectorError(
                f"q: must be in (0, 1 - level) = (0, {1 - self.level:g}), got {self.q!r}: "
                "the alarm threshold must lie beyond the initial threshold"
            )

    def fit(self, scores) -> SPOT:
        """Initial threshold and peaks from a batch of scores (NaN scores are ignored)."""
        self._check()
        x = np.asarray(scores, dtype=float)
        x = x[~np.isnan(x)]
        if len(x) == 0:
            raise DetectorError("SPOT needs at least one score to initialise")
        self.t_ = float(np.sort(x)[int(self.level * len(x))])
        peaks = x[x > self.t_] - self.t_
        self.n_ = len(x)
        self.n_peaks_ = len(peaks)
        self.mean_ = float(peaks.mean()) if len(peaks) else 0.0
        self.m2_ = float(((peaks - self.mean_) ** 2).sum()) if len(peaks) else 0.0
        self.peaks_ = peaks.copy() if self.estimator == "mle" else None
        self.estimation_seconds_ = 0.0
        self.estimations_ = 0
        self.z_ = self._estimate_threshold()
        return self

    def tail(self) -> tuple[float, float] | None:
        """Current GPD (gamma, sigma), or None while it cannot be estimated."""
        if self.estimator == "mom":
            variance = self.m2_ / (self.n_peaks_ - 1) if self.n_peaks_ > 1 else 0.0
            return gpd.mom(self.n_peaks_, self.mean_, variance)
        return gpd.grimshaw(cast(np.ndarray, self.peaks_)[: self.n_peaks_])

    def _estimate_threshold(self) -> float:
        start = time.perf_counter()
        params = self.tail()
        z = math.inf if params is None else gpd.tail_quantile(self.t_, *params, self.q, self.n_, self.n_peaks_)
        if math.isnan(z):
            z = math.inf
        self.estimation_seconds_ += time.perf_counter() - start
        self.estimations_ += 1
        return z

    def _add_peak(self, excess: float) -> None:
        self.n_ += 1
        self.n_peaks_ += 1
        delta = excess - self.mean_
        self.mean_ += delta / self.n_peaks_
        self.m2_ += delta * (excess - self.mean_)
        if self.peaks_ is not None:
            if self.n_peaks_ > len(self.peaks_):
                grown = np.empty(max(16, 2 * len(self.peaks_)))
                grown[: self.n_peaks_ - 1] = self.peaks_[: self.n_peaks_ - 1]
                self.peaks_ = grown
            self.peaks_[self.n_peaks_ - 1] = excess
        self.z_ = self._estimate_threshold()

    def step(self, x: float) -> tuple[float, bool]:
        """Process one score; returns (threshold after the step, alarm)."""
        x = float(x)
        if x > self.z_:
            return self.z_, True
        if x > self.t_:
            self._add_peak(x - self.t_)
        else:
            self.n_ += 1
        return self.z_, False

    def run(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``step`` over a batch. Only scores above t can change anything while z >= t, so the
        loop visits just those; every other score only counts in n."""
        x = np.asarray(scores, dtype=float)
        size = len(x)
        threshold = np.empty(size)
        alarm = np.zeros(size, dtype=bool)
        pos = 0
        while pos < size:
            if not self.z_ >= self.t_:
                threshold[pos], alarm[pos] = self.step(x[pos])
                pos += 1
                continue
            candidates = np.flatnonzero(x[pos:] > self.t_) + pos
            last = pos
            for c, value in zip(candidates.tolist(), x[candidates].tolist()):
                threshold[last:c] = self.z_
                self.n_ += c - last
                if value > self.z_:
                    alarm[c] = True
                else:
                    self._add_peak(value - self.t_)
                threshold[c] = self.z_
                last = c + 1
                if not self.z_ >= self.t_:
                    break
            else:
                threshold[last:] = self.z_
                self.n_ += size - last
                last = size
            pos = last
        return threshold, alarm

    def state_dict(self) -> dict:
        return {
            "q": self.q,
            "level": self.level,
            "estimator": self.estimator,
            "t": self.t_,
            "n": self.n_,
            "n_peaks": self.n_peaks_,
            "mean": self.mean_,
            "m2": self.m2_,
            "z": self.z_,
            "peaks": None if self.peaks_ is None else self.peaks_[: self.n_peaks_].tolist(),
        }

    @classmethod
    def from_state(cls, state: dict) -> SPOT:
        spot = cls(state["q"], state["level"], state["estimator"])
        spot._check()
        spot.t_ = float(state["t"])
        spot.n_ = int(state["n"])
        spot.n_peaks_ = int(state["n_peaks"])
        spot.mean_ = float(state["mean"])
        spot.m2_ = float(state["m2"])
        spot.z_ = float(state["z"])
        peaks = state.get("peaks")
        spot.peaks_ = None if peaks is None else np.asarray(peaks, dtype=float)
        if spot.estimator == "mle" and (spot.peaks_ is None or len(spot.peaks_) != spot.n_peaks_):
            raise DetectorError("state: an MLE detector's state must hold all its peaks")
        spot.estimation_seconds_ = 0.0
        spot.estimations_ = 0
        return spot
