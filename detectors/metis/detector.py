"""Metis as streaming detectors over a plain series: each point's three windows are cut from the
series itself, given its period (points per day): dataA = the point and the ``window`` before it,
dataB = the same time one period earlier +/- window, dataC = seven periods earlier +/- window.

* ``"metis"``: the first level then the model (:func:`detectors.metis.api.value_predict`'s rule);
  score = 1 - p = P(anomaly) where a first-level rule fires (the model is asked only there, as in
  Metis' cascade), 0 elsewhere; threshold 1 - 0.15; alarm = fires and p < 0.15.
* ``"metis-rate"``: 3-sigma only (:func:`detectors.metis.api.rate_predict`); score |z|, threshold k.

Both need 7 * period + window points of history before the first scored point (a week and a window
for daily data) and window < period. ``period="auto"`` takes :func:`core.period.detect_period` of
the training series (the period must be the day for the windows to mean yesterday and last week).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.period import detect_period
from core.values import as_finite_scalar, as_finite_values, positive_int
from detectors.metis.first_level import first_level, sigma_deviation
from detectors.metis.model import DEFAULT_MODEL, model_path, predict_normal
from detectors.metis.windows import rows_from_series

_CHUNK = 8192


class _MetisBase(Detector):
    period: Any
    window: Any

    def _check_common(self) -> None:
        if self.period != "auto":
            positive_int(self.period, "period")
        positive_int(self.window, "window")
        if self.period != "auto" and self.window >= self.period:
            raise DetectorError(f"window: must be below the period ({self.period} points), got {self.window}")

    @property
    def history_length(self) -> int:
        return 7 * self.period_ + self.window

    def fit(self, train):
        self._check_params()
        x = as_finite_values(train, "train")
        if self.period == "auto":
            period = detect_period(x, min_period=self.window + 1)
            if period is None:
                raise UnmodelledSeries("train: period='auto' found no period; Metis needs the day in points")
            self.period_ = int(period)
        else:
            self.period_ = int(self.period)
        if self.window >= self.period_:
            raise UnmodelledSeries(f"train: window {self.window} is not below the detected period {self.period_}")
        if len(x) < self.history_length:
            raise UnmodelledSeries(
                f"train: {len(x)} points, Metis needs 7 * period + window = {self.history_length} "
                f"(a week of periods of {self.period_} points and a window of {self.window}) before the first point"
            )
        self.history_ = x[len(x) - self.history_length :].copy()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def _judge(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        x = as_finite_values(test, "test")
        m = len(x)
        ext = np.concatenate((self.history_, x))
        score, threshold = np.empty(m), np.empty(m)
        alarm = np.zeros(m, dtype=bool)
        for start in range(0, m, _CHUNK):
            pos = np.arange(start, min(start + _CHUNK, m)) + len(self.history_)
            rows = rows_from_series(ext, pos, self.window, self.period_)
            s, t, a = self._judge(rows)
            score[start : start + len(pos)], threshold[start : start + len(pos)], alarm[start : start + len(pos)] = (
                s,
                t,
                a,
            )
        self.history_ = ext[len(ext) - self.history_length :].copy()
        return DetectionResult(score, threshold, alarm)

    def update(self, x) -> PointResult:
        result = self.detect(np.array([as_finite_scalar(x, "x")]))
        return PointResult(float(result.score[0]), float(result.threshold[0]), bool(result.alarm[0]))

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"params": self.get_params(), "period": self.period_, "history": self.history_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]):
        try:
            detector = cls(**state["params"])
            detector._check_params()
            detector.period_ = int(state["period"])
            detector.history_ = np.asarray(state["history"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        if detector.history_.shape != (detector.history_length,):
            raise DetectorError(f"state: history must hold 7 * period + window = {detector.history_length} values")
        return detector


class MetisDetector(_MetisBase):
    """Metis' value detector (module docstring): ``period`` points per day or "auto", ``window``
    (Metis: 180), ``threshold`` on p (0.15), ``model`` "default" or a model file."""

    name = "metis"

    def __init__(self, period="auto", window=180, threshold=0.15, model=DEFAULT_MODEL):
        self.period = period
        self.window = window
        self.threshold = threshold
        self.model = model

    def _check_params(self) -> None:
        self._check_common()
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, (int, float))
            or not 0 < self.threshold < 1
        ):
            raise DetectorError(f"threshold: must be a probability in (0, 1), got {self.threshold!r}")
        if not isinstance(self.model, (str, Path)):
            raise DetectorError(f"model: expected 'default' or a model file path, got {self.model!r}")
        model_path(self.model)

    def _judge(self, rows):
        fires = first_level(rows)
        p = np.ones(len(rows))
        if fires.any():
            p[fires] = predict_normal(rows[fires], self.model)
        score = np.where(fires, 1.0 - p, 0.0)
        return score, np.full(len(rows), 1.0 - self.threshold), fires & (p < self.threshold)


class MetisRateDetector(_MetisBase):
    """Metis' rate detector (module docstring): 3-sigma with ``k`` sigmas on the 5w + 3 values."""

    name = "metis-rate"

    def __init__(self, period="auto", window=180, k=3.0):
        self.period = period
        self.window = window
        self.k = k

    def _check_params(self) -> None:
        self._check_common()
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or not self.k > 0:
            raise DetectorError(f"k: must be a positive number, got {self.k!r}")

    def _judge(self, rows):
        z = np.abs(sigma_deviation(rows))
        return z, np.full(len(rows), float(self.k)), z > self.k
