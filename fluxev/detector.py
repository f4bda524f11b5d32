"""The FluxEV detector (Li, Di, Shen, Chen: "FluxEV: A Fast and Effective Unsupervised Framework
for Time-Series Anomaly Detection", WSDM 2021), batch and streaming.

For each point X_i (``features`` has the formulas):
1. P_i = EWMA of X[i-s..i-1], E_i = X_i - P_i (or a Holt-Winters one-step forecast);
2. FSE_i: how much E_i widens the std of the previous s errors;
3. FSE_lm: local max of FSE over 2h+1 points (drift);
4. SSE_i: how much FSE_i exceeds the largest FSE_lm at the same phase of the previous p-1 periods;
5. SPOT on SSE (``spot``). An alarm's FSE is set missing, so it never becomes a reference.

``smoothing=1`` (or ``period=None``) skips steps 3-4 and thresholds FSE.

Warm-up: the first 2s points have no FSE (s to forecast, s more errors for the std); with
smoothing 2 the first 2s + h + (p-1) * period points have no SSE. ``fit`` needs more points than
the warm-up: the scored rest initialises SPOT.

Batch ``detect`` and streaming ``update`` do the same arithmetic; ``detect`` is fast because an
alarm at i can only change scores from i + period - h on (through the periodic references), so it
scores blocks of period - h points at once and applies alarms between blocks.
"""

from __future__ import annotations

import math
import warnings
from typing import cast

import numpy as np

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.errors import DataWarning
from core.period import detect_period
from core.values import as_finite_scalar, as_finite_values, non_negative_int, positive_int
from fluxev import features as ft
from fluxev.holt_winters import HoltWinters
from fluxev.spot import SPOT

PREDICTORS = ("ewma", "holt-winters")
MAX_ABS = 1e150
"""Largest magnitude FluxEV scores: its error spreads square the values (1e308 would overflow)."""


def min_init_scores(level: float) -> int:
    """Fewest initial scores for which the top ones can give the 2 peaks a tail estimate needs."""
    n = 1
    while n - 1 - int(level * n) < 2:
        n += 1
    return n


class FluxEV(Detector):
    """FluxEV anomaly detector; scikit-learn style parameters, river style ``update``
    (the protocol of :mod:`core.detector`).

    Parameters: ``s`` sequential window, ``p`` periodic window (periods including the current
    one), ``h`` half drift window, ``period`` points per period (None: no periodic smoothing; "auto":
    ``core.period.detect_period`` on the training series, learned as ``period_``),
    ``q`` SPOT risk, ``level`` SPOT initial quantile, ``alpha`` EWMA factor, ``smoothing`` 1 or 2,
    ``estimator`` "mom" or "mle", ``predictor`` "ewma" or "holt-winters" (needs ``period``).
    """

    name = "fluxev"
    score_in_series_units = True
    fse_: np.ndarray | None
    train_score_: np.ndarray | None

    def __init__(
        self,
        s=10,
        p=5,
        h=2,
        period=None,
        q=0.003,
        level=0.98,
        alpha=0.2,
        smoothing=2,
        estimator="mom",
        predictor="ewma",
    ):
        self.s = s
        self.p = p
        self.h = h
        self.period = period
        self.q = q
        self.level = level
        self.alpha = alpha
        self.smoothing = smoothing
        self.estimator = estimator
        self.predictor = predictor

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        positive_int(self.s, "s")
        if self.smoothing not in (1, 2):
            raise DetectorError(f"smoothing: must be 1 or 2, got {self.smoothing!r}")
        if self.period is not None and self.period != "auto":
            positive_int(self.period, "period")
        if self.periodic and self.period != "auto":
            if positive_int(self.p, "p") < 2:
                raise DetectorError(f"p: periodic smoothing needs p >= 2 periods, got {self.p}")
            non_negative_int(self.h, "h")
            if self._period <= self.h:
                raise DetectorError(f"period: must exceed h = {self.h}, got {self.period}")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha <= 1):
            raise DetectorError(f"alpha: must be in (0, 1], got {self.alpha!r}")
        if self.predictor not in PREDICTORS:
            raise DetectorError(f"predictor: must be one of {PREDICTORS}, got {self.predictor!r}")
        if self.predictor == "holt-winters" and self.period is None:
            raise DetectorError("predictor='holt-winters' needs a period")
        SPOT(self.q, self.level, self.estimator)._check()

    @property
    def periodic(self) -> bool:
        """True when steps 3-4 (drift and periodic smoothing) run."""
        return self.smoothing == 2 and self._period is not None

    @property
    def _period(self) -> int | None:
        """``period``, or with ``period="auto"`` the one ``fit`` detected (``period_``)."""
        return getattr(self, "period_", None) if self.period == "auto" else self.period

    @property
    def warmup(self) -> int:
        """Leading points without a score: 2s, plus h + (p-1) * period with smoothing 2."""
        first = 2 * self.s
        return first + self.h + (self.p - 1) * cast(int, self._period) if self.periodic else first

    def min_train_len(self) -> int:
        """Training points needed: the warm-up plus one scored point for SPOT."""
        return self.warmup + 1

    @property
    def _reference_span(self) -> int:
        return (self.p - 1) * cast(int, self._period) + self.h

    # ------------------------------------------------------------------ batch
    def fit(self, train) -> FluxEV:
        """Compute the features over ``train`` and initialise SPOT on its scores."""
        self._check_params()
        x = as_finite_values(train, "train", MAX_ABS)
        if self.period == "auto":
            self.period_ = detect_period(x, min_period=self.h + 1)
            if self.predictor == "holt-winters" and self.period_ is None:
                raise UnmodelledSeries("train: period='auto' found no period; predictor='holt-winters' needs one")
        needed = self.min_train_len()
        if len(x) < needed:
            why = f"2s = {2 * self.s} points before the first fluctuation score"
            if self.periodic:
                why += (
                    f", plus h + (p-1) * period = {self.h} + {self.p - 1} * {self._period} "
                    "before the first periodic score"
                )
            raise UnmodelledSeries(
                f"train: {len(x)} points, FluxEV needs at least {needed} ({why}, plus 1 scored "
                f"point to initialise SPOT; {self.warmup + min_init_scores(self.level)} give it "
                f"the 2 peaks a tail estimate needs at level={self.level})"
            )
        s = self.s
        self.forecaster_ = HoltWinters(cast(int, self._period)).fit(x) if self.predictor == "holt-winters" else None
        forecast = np.full(len(x), np.nan)
        if self.forecaster_ is None:
            forecast[s:] = ft.ewma_forecast(ft.windows(x, s)[:-1], self.alpha)
        else:
            forecast[s:] = self.forecaster_.in_sample[s:]
        error = x - forecast
        fse = np.full(len(x), np.nan)
        fse[2 * s :] = ft.first_smoothing(ft.windows(error[s:], s + 1))
        if self.periodic:
            score = np.full(len(x), np.nan)
            lm = self._local_max_all(fse)
            idx = np.arange(self.warmup, len(x))
            score[idx] = ft.periodic_smoothing(fse[idx], self._references(lm, idx))
        else:
            score = fse
        self.spot_ = SPOT(self.q, self.level, self.estimator).fit(score[self.warmup :])
        if math.isinf(self.spot_.z_):
            warnings.warn(
                DataWarning(
                    f"train: the {len(x) - self.warmup} training scores leave SPOT fewer than 2 distinct peaks above "
                    f"its initial threshold (level={self.level}; a constant series has none): the threshold is "
                    "infinite, so nothing is flagged until higher scores arrive"
                ),
                stacklevel=2,
            )
        self.train_score_ = score
        self.values_ = x[-s:].copy()
        self.errors_ = error[-s:].copy()
        self.fse_ = fse[-self._reference_span :].copy() if self.periodic else None
        self.n_seen_ = len(x)
        return self

    def _local_max_all(self, fse: np.ndarray) -> np.ndarray:
        """FSE_lm at every centre whose window is inside ``fse`` (NaN elsewhere)."""
        h = self.h
        lm = np.full(len(fse), np.nan)
        if len(fse) > 2 * h:
            lm[h : len(fse) - h] = ft.local_max(ft.windows(fse, 2 * h + 1))
        return lm

    def _references(self, lm: np.ndarray, idx: np.ndarray) -> np.ndarray:
        period = cast(int, self._period)
        return np.stack([lm[idx - k * period] for k in range(1, self.p)], axis=1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "spot_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def detect(self, test) -> DetectionResult:
        """Score the points that follow the training data (or the last detected point)."""
        self._check_fitted()
        x = as_finite_values(test, "test", MAX_ABS)
        m = len(x)
        if m == 0:
            return DetectionResult(np.empty(0), np.empty(0), np.zeros(0, dtype=bool))
        s = self.s
        if self.forecaster_ is None:
            forecast = ft.ewma_forecast(ft.windows(np.concatenate((self.values_, x)), s)[:m], self.alpha)
        else:
            forecast = self.forecaster_.forecast_batch(x)
        error = x - forecast
        ext_error = np.concatenate((self.errors_, error))
        fse = ft.first_smoothing(ft.windows(ext_error, s + 1))
        if not self.periodic:
            threshold, alarm = self.spot_.run(fse)
            score = fse
        else:
            score, threshold, alarm = self._detect_periodic(fse)
        self.values_ = np.concatenate((self.values_, x))[-s:]
        self.errors_ = ext_error[-s:]
        self.n_seen_ += m
        return DetectionResult(score, threshold, alarm)

    def _detect_periodic(self, new_fse: np.ndarray):
        span, h, period = self._reference_span, self.h, cast(int, self._period)
        fse = np.concatenate((cast(np.ndarray, self.fse_), new_fse))
        lm = self._local_max_all(fse)
        m = len(new_fse)
        score = np.empty(m)
        threshold = np.empty(m)
        alarm = np.zeros(m, dtype=bool)
        block = period - h
        for start in range(0, m, block):
            stop = min(start + block, m)
            idx = np.arange(span + start, span + stop)
            block_score = ft.periodic_smoothing(fse[idx], self._references(lm, idx))
            block_threshold, block_alarm = self.spot_.run(block_score)
            score[start:stop] = block_score
            threshold[start:stop] = block_threshold
            alarm[start:stop] = block_alarm
            if block_alarm.any():
                hits = idx[block_alarm]
                fse[hits] = np.nan
                for centre in hits.tolist():
                    lo, hi = max(centre - h, h), min(centre + h, len(fse) - 1 - h)
                    if lo <= hi:
                        lm[lo : hi + 1] = ft.local_max(ft.windows(fse[lo - h : hi + h + 1], 2 * h + 1))
        self.fse_ = fse[-span:].copy()
        return score, threshold, alarm

    # ------------------------------------------------------------------ streaming
    def update(self, x) -> PointResult:
        """Score one new point: ``(score, threshold, alarm)``. Same arithmetic as ``detect``."""
        self._check_fitted()
        if not self.periodic and self.forecaster_ is None:
            return self._update_ewma(as_finite_scalar(x, "x", MAX_ABS))
        value = np.array([as_finite_scalar(x, "x", MAX_ABS)])
        if self.forecaster_ is None:
            forecast = ft.ewma_forecast(self.values_[None, :], self.alpha)
        else:
            forecast = self.forecaster_.forecast_batch(value)
        error = value - forecast
        errors = np.concatenate((self.errors_, error))
        fse = ft.first_smoothing(errors[None, :])
        if self.periodic:
            h, period, span = self.h, cast(int, self._period), self._reference_span
            previous = cast(np.ndarray, self.fse_)
            rows = np.stack([previous[span - k * period - h : span - k * period + h + 1] for k in range(1, self.p)])
            refs = ft.local_max(rows)[None, :]
            score = float(ft.periodic_smoothing(fse, refs)[0])
        else:
            score = float(fse[0])
        threshold, alarm = self.spot_.step(score)
        if self.periodic:
            self.fse_ = np.concatenate((previous[1:], [math.nan if alarm else float(fse[0])]))
        self.values_ = np.concatenate((self.values_[1:], value))
        self.errors_ = errors[1:]
        self.n_seen_ += 1
        return PointResult(score, threshold, alarm)

    def _update_ewma(self, x: float) -> PointResult:
        """``update`` without periodic smoothing or Holt-Winters, on Python floats: the same
        operations as the array kernels (see ``features``), a fraction of their overhead."""
        values = self.values_.tolist()
        error = x - ft.ewma_forecast_scalar(values, self.alpha)
        errors = self.errors_.tolist()
        errors.append(error)
        score = ft.first_smoothing_scalar(errors)
        threshold, alarm = self.spot_.step(score)
        values.append(x)
        self.values_ = np.array(values[1:])
        self.errors_ = np.array(errors[1:])
        self.n_seen_ += 1
        return PointResult(score, threshold, alarm)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Parameters and learned state as plain Python values (JSON-able with NaN/inf)."""
        self._check_fitted()
        return {
            "params": self.get_params(),
            "values": self.values_.tolist(),
            "errors": self.errors_.tolist(),
            "fse": None if self.fse_ is None else self.fse_.tolist(),
            "spot": self.spot_.state_dict(),
            "forecaster": None if self.forecaster_ is None else self.forecaster_.state_dict(),
            "n_seen": self.n_seen_,
            "period": self._period,
        }

    @classmethod
    def from_state(cls, state: dict) -> FluxEV:
        try:
            detector = cls(**state["params"])
            if detector.period == "auto":
                detector.period_ = None if state["period"] is None else int(state["period"])
            detector._check_params()
            detector.values_ = np.asarray(state["values"], dtype=float)
            detector.errors_ = np.asarray(state["errors"], dtype=float)
            detector.fse_ = None if state["fse"] is None else np.asarray(state["fse"], dtype=float)
            detector.spot_ = SPOT.from_state(state["spot"])
            detector.forecaster_ = None if state["forecaster"] is None else HoltWinters.from_state(state["forecaster"])
            detector.n_seen_ = int(state["n_seen"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a FluxEV state_dict ({exc!r})") from exc
        s = detector.s
        if (
            len(detector.values_) != s
            or len(detector.errors_) != s
            or (detector.periodic and (detector.fse_ is None or len(detector.fse_) != detector._reference_span))
        ):
            raise DetectorError("state: window lengths do not match the parameters")
        detector.train_score_ = None
        return detector
