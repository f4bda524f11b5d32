"""SMA, FreeWheel's seasonal moving average (seed 001, "SMA"): the forecast is a weighted mean of
the recent points ("环比") and of the same phase in earlier cycles ("同比"),

    expected_t = alpha * mean(x_{t-r} .. x_{t-1}) + (1 - alpha) * mean_{k=1..c, |d|<=o} x_{t-kP+d},

r recent points with weight alpha, c cycles of period P, each within +/- o points of the phase.
The seed names the four parameters but its formula is an image; this form is ours. The standard
error is the standard deviation of the one-step errors over the training series. Without a
period only the recent mean is used. Everything is cumulative sums and index arithmetic, so a
series of 10^5 points fits and forecasts in milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.detector import DetectorError, UnmodelledSeries
from core.values import non_negative_int, positive_int
from detectors.forecasters.base import BAND_DEFAULTS, Forecaster, check_history


def residual_std(errors: np.ndarray) -> float:
    """The standard deviation of the one-step errors (ddof 1). Not a robust spread (MAD): the
    errors of a forecaster are heavy-tailed, and a MAD-based band would be far too tight."""
    e = errors[np.isfinite(errors)]
    return float(e.std(ddof=1)) if len(e) > 1 else 0.0


class SMA(Forecaster):
    """Seasonal moving average (module docstring); band parameters as :class:`Forecaster`."""

    name = "sma"

    def __init__(
        self,
        period="auto",
        r=3,
        alpha=0.5,
        c=3,
        o=2,
        level=BAND_DEFAULTS["level"],
        tiers=BAND_DEFAULTS["tiers"],
        rel_floor=BAND_DEFAULTS["rel_floor"],
        jitter=BAND_DEFAULTS["jitter"],
        side=BAND_DEFAULTS["side"],
        non_negative=BAND_DEFAULTS["non_negative"],
        feedback=True,
    ):
        self.period = period
        self.r = r
        self.alpha = alpha
        self.c = c
        self.o = o
        self.level = level
        self.tiers = tiers
        self.rel_floor = rel_floor
        self.jitter = jitter
        self.side = side
        self.non_negative = non_negative
        self.feedback = feedback

    def _check_params(self) -> None:
        self._check_band()
        self._check_period()
        positive_int(self.r, "r")
        positive_int(self.c, "c")
        non_negative_int(self.o, "o")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 1:
            raise DetectorError(f"alpha: must be in [0, 1], got {self.alpha!r}")

    @property
    def _span(self) -> int:
        if self.period_ is None:
            return self.r
        return max(self.r, self.c * self.period_ + self.o)

    def _fit_model(self, x: np.ndarray) -> None:
        self.period_ = self._resolve_period(x, required=False)
        if self.period_ is not None and self.o >= self.period_:
            raise UnmodelledSeries(f"train: o = {self.o} must be below the period ({self.period_})")
        check_history(
            x, self._span + 2, f"SMA (r = {self.r}, c = {self.c} cycles of {self.period_} points, o = {self.o})"
        )
        self.history_ = x[: self._span].copy()
        expected = self._expected(x[self._span :])
        self.std_ = residual_std(x[self._span :] - expected)
        self.history_ = x[len(x) - self._span :].copy()

    def _expected(self, block: np.ndarray) -> np.ndarray:
        span = self._span
        ext = np.concatenate((self.history_, block))
        cs = np.concatenate(([0.0], np.cumsum(ext)))
        t = span + np.arange(len(block))
        recent = (cs[t] - cs[t - self.r]) / self.r
        if self.period_ is None:
            return recent
        total = np.zeros(len(block))
        for k in range(1, self.c + 1):
            centre = t - k * self.period_
            total += cs[centre + self.o + 1] - cs[centre - self.o]
        seasonal = total / (self.c * (2 * self.o + 1))
        return self.alpha * recent + (1 - self.alpha) * seasonal

    def _forecast(self, block):
        return self._expected(block), np.full(len(block), self.std_)

    def _advance(self, values):
        self.history_ = np.concatenate((self.history_, values))[-self._span :]

    def _model_state(self) -> dict[str, Any]:
        return {"period": self.period_, "std": self.std_, "history": self.history_.tolist()}

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.period_ = None if state["period"] is None else int(state["period"])
        self.std_ = float(state["std"])
        self.history_ = np.asarray(state["history"], dtype=float)
        if len(self.history_) != self._span:
            raise DetectorError(f"state: history must hold {self._span} values")
