"""Additive Holt-Winters one-step forecaster, an optional replacement for FluxEV's EWMA predictor.

statsmodels' ``ExponentialSmoothing(trend="add", seasonal="add")`` estimates the smoothing
factors and initial states on the training data; the forecasts are then produced by the same
recursion statsmodels uses (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice",
Sec. 8.3), one point at a time, so batch and streaming forecasts are identical and the state
is bounded (level, trend and one seasonal value per phase):

    forecast_t = l + b + s[t mod m]
    l' = a (y_t - s[t mod m]) + (1 - a)(l + b)
    b' = beta (l' - l) + (1 - beta) b
    s[t mod m] = g (y_t - l - b) + (1 - g) s[t mod m]
"""

from __future__ import annotations

import warnings

import numpy as np

from core.detector import UnmodelledSeries


class HoltWinters:
    def __init__(self, period: int):
        self.period = period

    def fit(self, values: np.ndarray) -> HoltWinters:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        m = self.period
        if len(values) < 2 * m:
            raise UnmodelledSeries(f"train: Holt-Winters needs two full periods ({2 * m} points), got {len(values)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = ExponentialSmoothing(
                    values, trend="add", seasonal="add", seasonal_periods=m, initialization_method="heuristic"
                )
            except ValueError:
                model = ExponentialSmoothing(
                    values, trend="add", seasonal="add", seasonal_periods=m, initialization_method="estimated"
                )
            fitted = model.fit()
        params = fitted.params
        self.alpha_ = float(params["smoothing_level"])
        self.beta_ = float(params["smoothing_trend"])
        self.gamma_ = float(params["smoothing_seasonal"])
        self.level_ = float(params["initial_level"])
        self.trend_ = float(params["initial_trend"])
        self.season_ = np.asarray(params["initial_seasons"], dtype=float).copy()
        self.phase_ = 0
        self.statsmodels_fitted_ = np.asarray(fitted.fittedvalues, dtype=float)
        self.in_sample = self.forecast_batch(values)
        return self

    def forecast_batch(self, values) -> np.ndarray:
        """One-step forecast of each value from the ones before it; advances the state."""
        a, beta, g, m = self.alpha_, self.beta_, self.gamma_, self.period
        level, trend, season, phase = self.level_, self.trend_, self.season_, self.phase_
        out = np.empty(len(values))
        for i, y in enumerate(np.asarray(values, dtype=float).tolist()):
            seasonal = season[phase]
            out[i] = level + trend + seasonal
            new_level = a * (y - seasonal) + (1 - a) * (level + trend)
            season[phase] = g * (y - level - trend) + (1 - g) * seasonal
            trend = beta * (new_level - level) + (1 - beta) * trend
            level = new_level
            phase = (phase + 1) % m
        self.level_, self.trend_, self.phase_ = level, trend, phase
        return out

    def state_dict(self) -> dict:
        return {
            "period": self.period,
            "alpha": self.alpha_,
            "beta": self.beta_,
            "gamma": self.gamma_,
            "level": self.level_,
            "trend": self.trend_,
            "season": self.season_.tolist(),
            "phase": self.phase_,
        }

    @classmethod
    def from_state(cls, state: dict) -> HoltWinters:
        hw = cls(int(state["period"]))
        hw.alpha_, hw.beta_, hw.gamma_ = float(state["alpha"]), float(state["beta"]), float(state["gamma"])
        hw.level_, hw.trend_ = float(state["level"]), float(state["trend"])
        hw.season_ = np.asarray(state["season"], dtype=float)
        hw.phase_ = int(state["phase"])
        return hw
