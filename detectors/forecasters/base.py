"""The forecaster protocol behind "sma", "arima", "sarima", "stl-arima" and "xgboost": a one-step
forecast and its standard error per point, turned into a band, a score and an alarm
(:mod:`detectors.forecasters.bands`), with FreeWheel's feedback fix: a point flagged as an anomaly
is replaced by its forecast in the history the model forecasts from, so an anomaly does not drag
the next forecasts along (seed 001, "数据包含噪音").

A subclass learns its model in ``_fit_model(x)`` and implements ``_forecast(block)``: the one-step
forecasts and standard errors of the points of ``block`` as if they were all observed in order
after the current history (it must not change any state), and ``_advance(values)``: append values
to the history. ``detect`` forecasts a block, keeps it up to the first alarm, replaces that value by
its forecast (``feedback=True``), advances and goes on (with a short block after an alarm, since
anomalies come in runs); ``update`` is the same with a block of one point, so batch and streaming
agree.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.period import detect_period
from core.values import as_finite_scalar, as_finite_values, positive_int
from detectors.forecasters import bands

BAND_DEFAULTS: dict[str, Any] = dict(
    level=0.999, tiers=(0.99, 0.999, 0.9999), rel_floor=0.05, jitter=0.2, side="both", non_negative="auto"
)
"""The alarm confidence is 0.999: a one-step forecaster judges every point, so at 0.99 a minutely
series would raise about 14 false alarms a day by construction."""


class Forecaster(Detector):
    """Base class (module docstring). Band parameters, shared by every forecaster: ``level`` the
    alarm confidence, ``tiers`` the severity levels, ``rel_floor`` the floor on s / |expected|,
    ``jitter`` the tolerated relative deviation, ``side`` "both", "upper" or "lower",
    ``non_negative`` True, False or "auto" (True when the training series has no negative value),
    ``feedback`` replace alarms by their forecast in the history."""

    block: int = 256
    period: Any
    level: float
    tiers: tuple
    rel_floor: float
    jitter: float
    side: str
    non_negative: Any
    feedback: bool

    def _check_band(self) -> None:
        bands.check_band_params(self.level, self.tiers, self.rel_floor, self.jitter, self.side, self.non_negative)
        if not isinstance(self.feedback, bool):
            raise DetectorError(f"feedback: must be True or False, got {self.feedback!r}")

    def _check_period(self, required: bool = False) -> None:
        if self.period is None:
            if required:
                raise DetectorError(f"period: {type(self).__name__} needs a period (points, or 'auto')")
        elif self.period != "auto":
            positive_int(self.period, "period")
            if self.period < 2:
                raise DetectorError(f"period: must be at least 2 points, got {self.period}")

    def _resolve_period(self, x: np.ndarray, required: bool) -> int | None:
        period = detect_period(x) if self.period == "auto" else self.period
        if period is None and required:
            raise UnmodelledSeries(f"train: period='auto' found no period; {type(self).__name__} needs one")
        return period

    # subclasses ---------------------------------------------------------------
    def _fit_model(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _forecast(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _advance(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def _model_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_model_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # protocol -----------------------------------------------------------------
    def fit(self, train) -> Forecaster:
        self._check_params()
        x = as_finite_values(train, "train")
        self.non_negative_ = bool(x.min() >= 0) if self.non_negative == "auto" else bool(self.non_negative)
        self._fit_model(x)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "non_negative_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def _judge(self, block, expected, std):
        sd = bands.effective_std(expected, std, self.rel_floor)
        score = bands.nines(block, expected, sd, self.non_negative_, self.jitter, self.side)
        return score, sd, score > bands.threshold_of(self.level)

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        x = as_finite_values(test, "test")
        m = len(x)
        out = {k: np.empty(m) for k in ("score", "expected", "std")}
        alarm = np.zeros(m, dtype=bool)
        pos, size = 0, self.block
        while pos < m:
            block = x[pos : pos + size]
            expected, std = self._forecast(block)
            score, sd, hits = self._judge(block, expected, std)
            stop = int(np.flatnonzero(hits)[0]) + 1 if hits.any() else len(block)
            kept = block[:stop].copy()
            if hits.any() and self.feedback:
                kept[-1] = expected[stop - 1]
            self._advance(kept)
            sl = slice(pos, pos + stop)
            out["score"][sl], out["expected"][sl], out["std"][sl] = score[:stop], expected[:stop], sd[:stop]
            alarm[sl] = hits[:stop]
            pos += stop
            size = 8 if hits.any() else min(2 * size, self.block)
        lower, upper = bands.band(out["expected"], out["std"], self.level, self.non_negative_, self.jitter)
        threshold = np.full(m, bands.threshold_of(self.level))
        return DetectionResult(out["score"], threshold, alarm, out["expected"], lower, upper)

    def update(self, x) -> PointResult:
        r = self.detect(np.array([as_finite_scalar(x, "x")]))
        expected, lower, upper = (cast(np.ndarray, v) for v in (r.expected, r.lower, r.upper))
        return PointResult(
            float(r.score[0]),
            float(r.threshold[0]),
            bool(r.alarm[0]),
            float(expected[0]),
            float(lower[0]),
            float(upper[0]),
        )

    def severity(self, result: DetectionResult) -> np.ndarray:
        """Severity tier (0 .. len(tiers)) of each point of a result of this detector."""
        return bands.severity(result.score, self.tiers)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"params": self.get_params(), "non_negative": self.non_negative_, "model": self._model_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Forecaster:
        try:
            params = dict(state["params"])
            if "tiers" in params and isinstance(params["tiers"], list):
                params["tiers"] = tuple(params["tiers"])
            detector = cls(**params)
            detector._check_params()
            detector.non_negative_ = bool(state["non_negative"])
            detector._load_model_state(state["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        return detector


def check_history(x: np.ndarray, needed: int, what: str) -> None:
    if len(x) < needed:
        raise UnmodelledSeries(f"train: {len(x)} points, {what} needs at least {needed}")
