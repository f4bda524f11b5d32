"""XGBoost on lag features (seed 001, "XGBoost"): a one-step regression of x_t on

* lags x_{t-1} .. x_{t-k} (``lags`` = k) and the same phase of the last ``cycles`` periods
  x_{t-P}, .., x_{t-cP};
* time features: phase (t mod P) / P (the time of day for a daily period) and the cycle index mod 7
  (the day of week);
* window statistics: the mean of the last period, the mean of the same phase over the cycles, the
  std of the lags.

Every value feature and the target are taken relative to x_{t-1}, so the trees learn changes and
still apply after a level shift they never saw. Against over-fitting, as the seed says: L2
regularisation (``reg_lambda``), shallow trees, row and column subsampling, a minimum child weight,
and early stopping on the last 20 % of the fitting window, which also gives the standard error
(the spread of the errors there, never of the rows the trees were fitted on). Without a period only
the lags and the lag std are used. xgboost is imported by this module only, which the registry loads
on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost

from core.detector import DetectorError, UnmodelledSeries
from core.values import positive_int
from detectors.forecasters.base import BAND_DEFAULTS, Forecaster, check_history
from detectors.forecasters.sma import residual_std


class XGBoostForecaster(Forecaster):
    """XGBoost one-step forecaster (module docstring)."""

    name = "xgboost"

    def __init__(
        self,
        period="auto",
        lags=40,
        cycles=7,
        fit_points=20000,
        n_estimators=300,
        max_depth=5,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        reg_lambda=10.0,
        min_child_weight=5.0,
        seed=0,
        level=BAND_DEFAULTS["level"],
        tiers=BAND_DEFAULTS["tiers"],
        rel_floor=BAND_DEFAULTS["rel_floor"],
        jitter=BAND_DEFAULTS["jitter"],
        side=BAND_DEFAULTS["side"],
        non_negative=BAND_DEFAULTS["non_negative"],
        feedback=True,
    ):
        self.period = period
        self.lags = lags
        self.cycles = cycles
        self.fit_points = fit_points
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.min_child_weight = min_child_weight
        self.seed = seed
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
        for name in ("lags", "cycles", "fit_points", "n_estimators", "max_depth"):
            positive_int(getattr(self, name), name)
        if self.lags < 2:
            raise DetectorError(f"lags: at least 2, got {self.lags}")
        for name in ("learning_rate", "subsample", "colsample_bytree"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise DetectorError(f"{name}: must be in (0, 1], got {v!r}")
        for name in ("reg_lambda", "min_child_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise DetectorError(f"{name}: must be >= 0, got {v!r}")

    @property
    def _span(self) -> int:
        return self.lags if self.period_ is None else max(self.lags, self.cycles * self.period_)

    def features(self, ext: np.ndarray, t: np.ndarray, start: int) -> np.ndarray:
        """Feature rows of the points at positions ``t`` of ``ext`` (absolute index start + t)."""
        base = ext[t - 1]
        lagged = ext[t[:, None] - np.arange(2, self.lags + 1)[None, :]] - base[:, None]
        cols = [lagged, np.concatenate((lagged, np.zeros((len(t), 1))), axis=1).std(axis=1)[:, None]]
        if self.period_ is not None:
            p = self.period_
            same = ext[t[:, None] - p * np.arange(1, self.cycles + 1)[None, :]] - base[:, None]
            cs = np.concatenate(([0.0], np.cumsum(ext)))
            last_period = (cs[t] - cs[t - p]) / p - base
            absolute = start + t
            cols += [
                same,
                same.mean(axis=1)[:, None],
                last_period[:, None],
                ((absolute % p) / p)[:, None],
                ((absolute // p) % 7)[:, None].astype(float),
            ]
        return np.concatenate(cols, axis=1)

    def _fit_model(self, x: np.ndarray) -> None:
        self.period_ = self._resolve_period(x, required=False)
        if self.period_ is not None and self.period_ < 2:
            self.period_ = None
        span = self._span
        check_history(x, span + 50, f"XGBoost with {span} points of lags")
        first = max(span, len(x) - self.fit_points)
        t = np.arange(first, len(x))
        rows = self.features(x, t, 0)
        target = x[t] - x[t - 1]
        cut = int(0.8 * len(t))
        if cut < 20 or len(t) - cut < 10:
            raise UnmodelledSeries(f"train: {len(t)} rows after the lags; XGBoost needs at least 30")
        params = dict(
            objective="reg:squarederror",
            max_depth=self.max_depth,
            eta=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            min_child_weight=self.min_child_weight,
            seed=self.seed,
            tree_method="hist",
            nthread=1,
        )
        train = xgboost.DMatrix(rows[:cut], label=target[:cut])
        valid = xgboost.DMatrix(rows[cut:], label=target[cut:])
        self.booster_ = xgboost.train(
            params, train, self.n_estimators, evals=[(valid, "valid")], early_stopping_rounds=20, verbose_eval=False
        )
        self.booster_ = self.booster_[: self.booster_.best_iteration + 1]
        self.std_ = residual_std(target[cut:] - self._predict(rows[cut:]))
        self.history_ = x[len(x) - span :].copy()
        self.n_seen_ = len(x)

    def _predict(self, rows: np.ndarray) -> np.ndarray:
        return self.booster_.predict(xgboost.DMatrix(rows))

    def _forecast(self, block):
        ext = np.concatenate((self.history_, block))
        t = len(self.history_) + np.arange(len(block))
        rows = self.features(ext, t, self.n_seen_ - len(self.history_))
        return ext[t - 1] + self._predict(rows), np.full(len(block), self.std_)

    def _advance(self, values):
        self.history_ = np.concatenate((self.history_, values))[-self._span :]
        self.n_seen_ += len(values)

    def _model_state(self) -> dict[str, Any]:
        return {
            "period": self.period_,
            "std": self.std_,
            "history": self.history_.tolist(),
            "n_seen": self.n_seen_,
            "booster": bytes(self.booster_.save_raw("json")).decode(),
        }

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.period_ = None if state["period"] is None else int(state["period"])
        self.std_ = float(state["std"])
        self.history_ = np.asarray(state["history"], dtype=float)
        self.n_seen_ = int(state["n_seen"])
        self.booster_ = xgboost.Booster()
        self.booster_.load_model(bytearray(state["booster"].encode()))
        if len(self.history_) != self._span:
            raise DetectorError(f"state: history must hold {self._span} values")
