"""FluxEV on every variable, combined: a row is as anomalous as its most anomalous variable.

Each variable gets its own :class:`fluxev.FluxEV` (Li et al., WSDM 2021) with the same
parameters; per point, variable j's ratio is its FluxEV score over its SPOT threshold. The row
score is the largest ratio, the threshold 1 (so the row alarms when any variable's FluxEV
alarms), and the contributions are the ratios normalised to sum 1. Each FluxEV streams as in
the univariate case (its SPOT keeps learning from non-alarmed points).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.detector import DetectorError
from detectors.multivariate.base import MultivariateDetector
from fluxev import FluxEV


class FluxEVCombined(MultivariateDetector):
    """Per-variable FluxEV, combined by the largest score/threshold ratio (module docstring);
    registered as ``"fluxev-combined"``."""

    name = "fluxev-combined"

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
        corr_window=30,
        align_mode="Outer",
        fill_na_method="Linear",
        padding_value=None,
        max_missing_ratio=0.2,
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
        self.corr_window = corr_window
        self.align_mode = align_mode
        self.fill_na_method = fill_na_method
        self.padding_value = padding_value
        self.max_missing_ratio = max_missing_ratio

    def _univariate(self) -> FluxEV:
        return FluxEV(
            s=self.s,
            p=self.p,
            h=self.h,
            period=self.period,
            q=self.q,
            level=self.level,
            alpha=self.alpha,
            smoothing=self.smoothing,
            estimator=self.estimator,
        )

    def _check_params(self) -> None:
        self._check_input_params()
        self._univariate()._check_params()

    def min_train_rows(self) -> int:
        return self._univariate().min_train_len()

    def _length_reason(self) -> str:
        return " (FluxEV's warm-up plus one scored point)"

    def _fit(self, x: np.ndarray) -> None:
        self.detectors_ = [self._univariate().fit(x[:, j]) for j in range(x.shape[1])]

    def _score(self, full: np.ndarray):
        ratios = np.empty(full.shape)
        for j, detector in enumerate(self.detectors_):
            result = detector.detect(full[:, j])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(np.isfinite(result.threshold), result.score / result.threshold, 0.0)
            ratios[:, j] = np.where(result.alarm, np.maximum(ratio, 1.0 + 1e-9), np.minimum(ratio, 1.0))
        ratios = np.nan_to_num(ratios)
        return ratios.max(axis=1), 1.0, ratios

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {**self._base_state(), "detectors": [d.state_dict() for d in self.detectors_]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FluxEVCombined:
        try:
            detector = cls._restore_base(state)
            detector.detectors_ = [FluxEV.from_state(s) for s in state["detectors"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a FluxEVCombined state_dict ({exc!r})") from exc
        return detector
