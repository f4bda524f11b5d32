"""FreeWheel's model selection, registered as "auto" (seed 001, "模型选择"): a candidate plan per
series, the first choice (SMA), alternatives (ARIMA, XGBoost, STL-ARIMA) and a fallback (EVT:
SPOT on both tails, period-aware when the series has a period: up to 24 phase bins, so that each
bin's SPOT starts from about 3000 points or more).

Each forecaster tried is fitted on the training series less its validation tail (``validation_periods``
periods, the seed's "last 3 days" for a daily period; 20 % of the series without a period) and
forecasts the tail one step at a time, with its feedback fix on; its SMAPE there (percent,
:func:`detectors.forecasters.bands.smape`) decides: the first choice wins if its SMAPE is below
``threshold`` (50) and the alternatives are not even fitted (SMA is the first choice because it
costs milliseconds), else the alternative with the lowest SMAPE below it, else the fallback, else the
series is not detectable (``UnmodelledSeries``). A candidate that cannot model the series counts as
failed, with its reason. The winner is fitted again on the whole training series. ``chosen_`` names
it and ``smape_`` holds the SMAPE of every candidate tried (NaN where it failed; ``failed_`` has the
reasons).
``candidate_params`` ({name: parameters}) changes a candidate's defaults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.period import detect_period
from core.values import as_finite_values, positive_int
from detectors.forecasters.bands import smape
from detectors.registry import detector_class

CANDIDATES = ("sma", "arima", "xgboost", "stl-arima")
PERIODIC = ("sma", "xgboost", "stl-arima")


class AutoSelect(Detector):
    """Model selection by SMAPE (module docstring)."""

    name = "auto"

    def __init__(
        self,
        period="auto",
        threshold=50.0,
        validation_periods=3,
        first="sma",
        alternatives=("arima", "xgboost", "stl-arima"),
        fallback="spot",
        candidate_params=None,
    ):
        self.period = period
        self.threshold = threshold
        self.validation_periods = validation_periods
        self.first = first
        self.alternatives = alternatives
        self.fallback = fallback
        self.candidate_params = candidate_params

    def _check_params(self) -> None:
        if self.period is not None and self.period != "auto":
            positive_int(self.period, "period")
        positive_int(self.validation_periods, "validation_periods")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not self.threshold > 0:
            raise DetectorError(f"threshold: must be a positive SMAPE (percent), got {self.threshold!r}")
        for name in (self.first, *self.alternatives):
            if name not in CANDIDATES:
                raise DetectorError(f"candidate {name!r}: must be one of {CANDIDATES}")
        if self.fallback is not None and self.fallback not in ("spot", "dspot"):
            raise DetectorError(f"fallback: must be 'spot', 'dspot' or None, got {self.fallback!r}")
        if self.candidate_params is not None:
            if not isinstance(self.candidate_params, dict):
                raise DetectorError(
                    f"candidate_params: must be a dict name -> parameters, got {self.candidate_params!r}"
                )
            for name, params in self.candidate_params.items():
                if name not in (*CANDIDATES, "spot", "dspot") or not isinstance(params, dict):
                    raise DetectorError(f"candidate_params: {name!r} -> {params!r} is not a candidate's parameters")
                detector_class(name)(**params)

    def _make(self, name: str, period: int | None) -> Detector:
        cls: Any = detector_class(name)
        extra = dict((self.candidate_params or {}).get(name, {}))
        if name in PERIODIC:
            if period is None and name == "stl-arima":
                raise UnmodelledSeries("no period: STL needs one")
            return cls(**{"period": period, **extra})
        if name == "spot":
            bins = min(24, period or 1, self._train_len // 1000)
            base = {"side": "both", "period": period, "bins": bins} if period and bins > 1 else {"side": "both"}
            return cls(**{**base, **extra})
        return cls(**extra)

    def fit(self, train) -> AutoSelect:
        self._check_params()
        x = as_finite_values(train, "train")
        self._train_len = len(x)
        period = detect_period(x) if self.period == "auto" else self.period
        self.period_ = period
        size = self.validation_periods * period if period else max(1, len(x) // 5)
        if len(x) - size < 2 * size:
            size = len(x) // 3
        head, tail = x[: len(x) - size], x[len(x) - size :]
        self.smape_: dict[str, float] = {}
        self.failed_: dict[str, str] = {}
        choice = None
        if self._score(self.first, period, head, tail) < self.threshold:
            choice = self.first
        else:
            for name in self.alternatives:
                self._score(name, period, head, tail)
            good = {k: v for k, v in self.smape_.items() if k in self.alternatives and v < self.threshold}
            if good:
                choice = min(good, key=lambda k: good[k])
        if choice is None and self.fallback is not None:
            choice = self.fallback
        if choice is None:
            raise UnmodelledSeries(
                f"train: no candidate has SMAPE below {self.threshold} ({self.smape_}) and no fallback"
            )
        try:
            self.model_ = self._make(choice, period).fit(x)
        except UnmodelledSeries as exc:
            raise UnmodelledSeries(f"train: the chosen {choice!r} cannot model the whole series: {exc}") from exc
        self.chosen_ = choice
        return self

    def _score(self, name: str, period, head: np.ndarray, tail: np.ndarray) -> float:
        try:
            expected = self._make(name, period).fit(head).detect(tail).expected
            self.smape_[name] = smape(tail, expected)
        except UnmodelledSeries as exc:
            self.smape_[name] = math.nan
            self.failed_[name] = str(exc)
        return self.smape_[name]

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        return self.model_.detect(test)

    def update(self, x) -> PointResult:
        self._check_fitted()
        return self.model_.update(x)

    @property
    def train_score_(self):
        return None

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "params": {**self.get_params(), "alternatives": list(self.alternatives)},
            "period": self.period_,
            "chosen": self.chosen_,
            "smape": {k: (None if np.isnan(v) else v) for k, v in self.smape_.items()},
            "failed": self.failed_,
            "model": self.model_.state_dict(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AutoSelect:
        try:
            params = dict(state["params"])
            params["alternatives"] = tuple(params["alternatives"])
            detector = cls(**params)
            detector._check_params()
            detector.period_ = state["period"]
            detector.chosen_ = state["chosen"]
            detector.smape_ = {k: (math.nan if v is None else float(v)) for k, v in state["smape"].items()}
            detector.failed_ = dict(state["failed"])
            detector.model_ = detector_class(detector.chosen_).from_state(state["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not an AutoSelect state_dict ({exc!r})") from exc
        return detector
