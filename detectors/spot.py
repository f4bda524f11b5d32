"""SPOT and DSPOT on the values of a series (Siffer, Fouque, Termier, Largouet: "Anomaly Detection
in Streams with Extreme Value Theory", KDD 2017, Alg. 1, 2 and 4), with FreeWheel's period-aware
variant. The tail arithmetic is :class:`fluxev.SPOT` (the GPD fit and the threshold update of
Alg. 1); this module only chooses what it sees.

* ``"spot"``: SPOT on x (``side="upper"``), on -x (``"lower"``) or both (two independent SPOTs).
  With ``period`` set, each of ``bins`` phase bins of the period has its own SPOT, initialised on the
  training points of its bin and of the two bins beside it: the same phase of earlier cycles is what
  the threshold of a point is learned from (the seed's "same-phase data sampled with a higher
  probability", here with probability 1 for the neighbouring phases and 0 for the others).
* ``"dspot"``: SPOT on x_t - M_t, M_t the mean of the last ``depth`` values that were not alarms
  (Alg. 4, drift); an alarm does not enter the window.

Outputs: ``side="upper"``: score x (or x - M), threshold z_up; ``"lower"``: score -x, threshold
-z_low; ``"both"``: score max(x - z_up, z_low - x), threshold 0, so ``score > threshold`` is the
alarm in every case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.values import as_finite_scalar, as_finite_values, positive_int
from fluxev.detector import min_init_scores
from fluxev.spot import SPOT

SIDES = ("upper", "lower", "both")


def _check_spot_params(q, level, estimator, side) -> None:
    SPOT(q, level, estimator)._check()
    if side not in SIDES:
        raise DetectorError(f"side: must be one of {SIDES}, got {side!r}")


def _signs(side: str) -> list[float]:
    return {"upper": [1.0], "lower": [-1.0], "both": [1.0, -1.0]}[side]


def _combine(side: str, x: np.ndarray, thresholds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(score, threshold) of the module docstring from the per-side SPOT thresholds (on sign * x)."""
    if side == "upper":
        return x, thresholds[0]
    if side == "lower":
        return -x, thresholds[0]
    up, low = thresholds
    return np.maximum(x - up, -low - x), np.zeros(len(x))


def _state(spots: list[SPOT]) -> list[dict]:
    return [s.state_dict() for s in spots]


class SPOTDetector(Detector):
    """SPOT on the values (module docstring). ``q`` risk, ``level`` initial quantile, ``estimator``
    "mom" or "mle" (Grimshaw), ``side`` "upper", "lower" or "both"; ``period`` (points, or None) and
    ``bins`` for the period-aware variant."""

    name = "spot"

    def __init__(self, q=1e-4, level=0.98, estimator="mom", side="upper", period=None, bins=24):
        self.q = q
        self.level = level
        self.estimator = estimator
        self.side = side
        self.period = period
        self.bins = bins

    def _check_params(self) -> None:
        _check_spot_params(self.q, self.level, self.estimator, self.side)
        if self.period is not None:
            positive_int(self.period, "period")
            positive_int(self.bins, "bins")
            if self.bins > self.period:
                raise DetectorError(f"bins: at most period = {self.period} phase bins, got {self.bins}")

    def _bin(self, position: np.ndarray) -> np.ndarray:
        return (position % self.period) * self.bins // self.period

    def fit(self, train) -> SPOTDetector:
        self._check_params()
        x = as_finite_values(train, "train")
        needed = min_init_scores(self.level)
        groups = 1 if self.period is None else self.bins
        if self.period is None:
            parts = [x]
        else:
            if len(x) < self.period:
                raise UnmodelledSeries(
                    f"train: {len(x)} points, the period-aware SPOT needs a whole period ({self.period})"
                )
            b = self._bin(np.arange(len(x)))
            parts = [x[np.isin(b, [(k - 1) % groups, k, (k + 1) % groups])] for k in range(groups)]
        shortest = min(len(p) for p in parts)
        if shortest < needed:
            raise UnmodelledSeries(
                f"train: {shortest} points per SPOT, SPOT needs at least {needed} at level={self.level}"
            )
        self.spots_ = [
            [SPOT(self.q, self.level, self.estimator).fit(sign * p) for sign in _signs(self.side)] for p in parts
        ]
        self.n_seen_ = len(x)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "spots_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        x = as_finite_values(test, "test")
        m = len(x)
        thresholds = [np.empty(m) for _ in _signs(self.side)]
        alarm = np.zeros(m, dtype=bool)
        if self.period is None:
            groups = [np.arange(m)]
        else:
            b = self._bin(self.n_seen_ + np.arange(m))
            groups = [np.flatnonzero(b == k) for k in range(self.bins)]
        for k, idx in enumerate(groups):
            if len(idx) == 0:
                continue
            for j, sign in enumerate(_signs(self.side)):
                z, hit = self.spots_[k][j].run(sign * x[idx])
                thresholds[j][idx] = z
                alarm[idx] |= hit
        score, threshold = _combine(self.side, x, thresholds)
        self.n_seen_ += m
        return DetectionResult(score, threshold, alarm)

    def update(self, x) -> PointResult:
        self._check_fitted()
        value = as_finite_scalar(x, "x")
        k = 0 if self.period is None else int(self._bin(np.array([self.n_seen_]))[0])
        thresholds, alarm = [], False
        for j, sign in enumerate(_signs(self.side)):
            z, hit = self.spots_[k][j].step(sign * value)
            thresholds.append(np.array([z]))
            alarm = alarm or hit
        score, threshold = _combine(self.side, np.array([value]), thresholds)
        self.n_seen_ += 1
        return PointResult(float(score[0]), float(threshold[0]), alarm)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"params": self.get_params(), "spots": [_state(s) for s in self.spots_], "n_seen": self.n_seen_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SPOTDetector:
        try:
            detector = cls(**state["params"])
            detector._check_params()
            detector.spots_ = [[SPOT.from_state(s) for s in group] for group in state["spots"]]
            detector.n_seen_ = int(state["n_seen"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        groups = 1 if detector.period is None else detector.bins
        if len(detector.spots_) != groups or any(len(g) != len(_signs(detector.side)) for g in detector.spots_):
            raise DetectorError("state: the number of SPOTs does not match the parameters")
        return detector


class DSPOTDetector(Detector):
    """DSPOT (module docstring): ``depth`` points in the drift window, then SPOT parameters as
    :class:`SPOTDetector`."""

    name = "dspot"
    _BLOCK = 256

    def __init__(self, depth=10, q=1e-4, level=0.98, estimator="mom", side="both"):
        self.depth = depth
        self.q = q
        self.level = level
        self.estimator = estimator
        self.side = side

    def _check_params(self) -> None:
        positive_int(self.depth, "depth")
        _check_spot_params(self.q, self.level, self.estimator, self.side)

    def fit(self, train) -> DSPOTDetector:
        self._check_params()
        x = as_finite_values(train, "train")
        d = self.depth
        needed = d + min_init_scores(self.level)
        if len(x) < needed:
            raise UnmodelledSeries(
                f"train: {len(x)} points, DSPOT needs at least {needed} (depth = {d} before the first "
                f"drift-corrected value, then {needed - d} to initialise SPOT at level={self.level})"
            )
        local = x[d:] - _window_means(np.lib.stride_tricks.sliding_window_view(x[:-1], d))
        self.spots_ = [SPOT(self.q, self.level, self.estimator).fit(sign * local) for sign in _signs(self.side)]
        self.window_ = x[-d:].copy()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "spots_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def _run(self, block: np.ndarray, window: np.ndarray):
        """Block scores as if no alarm: (local values, per-side thresholds, alarms, spots after)."""
        d = self.depth
        ext = np.concatenate((window, block))
        local = block - _window_means(np.lib.stride_tricks.sliding_window_view(ext[:-1], d))
        spots = [SPOT.from_state(s.state_dict()) for s in self.spots_]
        thresholds, alarm = [], np.zeros(len(block), dtype=bool)
        for spot, sign in zip(spots, _signs(self.side)):
            z, hit = spot.run(sign * local)
            thresholds.append(z)
            alarm |= hit
        return local, thresholds, alarm, spots

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        x = as_finite_values(test, "test")
        m = len(x)
        score, threshold = np.empty(m), np.empty(m)
        alarm = np.zeros(m, dtype=bool)
        pos, size = 0, self._BLOCK
        while pos < m:
            block = x[pos : pos + size]
            local, thresholds, hits, spots = self._run(block, self.window_)
            if hits.any():
                stop = int(np.flatnonzero(hits)[0]) + 1
                local, thresholds, hits, spots = self._run(block[:stop], self.window_)
            else:
                stop = len(block)
            s, t = _combine(self.side, local, thresholds)
            score[pos : pos + stop], threshold[pos : pos + stop], alarm[pos : pos + stop] = s, t, hits
            self.spots_ = spots
            normal = block[:stop][~hits]
            self.window_ = np.concatenate((self.window_, normal))[-self.depth :]
            pos += stop
            size = 8 if hits.any() else min(2 * size, self._BLOCK)
        return DetectionResult(score, threshold, alarm)

    def update(self, x) -> PointResult:
        self._check_fitted()
        value = np.array([as_finite_scalar(x, "x")])
        local = value - _window_means(self.window_[None, :])
        thresholds, alarm = [], False
        for spot, sign in zip(self.spots_, _signs(self.side)):
            z, hit = spot.step(sign * float(local[0]))
            thresholds.append(np.array([z]))
            alarm = alarm or hit
        score, threshold = _combine(self.side, local, thresholds)
        if not alarm:
            self.window_ = np.concatenate((self.window_[1:], value))
        return PointResult(float(score[0]), float(threshold[0]), alarm)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"params": self.get_params(), "spots": _state(self.spots_), "window": self.window_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DSPOTDetector:
        try:
            detector = cls(**state["params"])
            detector._check_params()
            detector.spots_ = [SPOT.from_state(s) for s in state["spots"]]
            detector.window_ = np.asarray(state["window"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        if len(detector.window_) != detector.depth or len(detector.spots_) != len(_signs(detector.side)):
            raise DetectorError("state: window or SPOT count does not match the parameters")
        return detector


def _window_means(rows: np.ndarray) -> np.ndarray:
    """Mean of each row, the same arithmetic for one row (streaming) and many (batch)."""
    out = np.zeros(rows.shape[0])
    for j in range(rows.shape[1]):
        out += rows[:, j]
    return out / rows.shape[1]
