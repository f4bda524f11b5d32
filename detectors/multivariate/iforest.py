"""Isolation Forest (Liu, Ting & Zhou, ICDM 2008) on the rows, with scikit-learn's ensemble.

score = 2^(-E[h(x)] / c(n)) (the paper's anomaly score, scikit-learn's ``-score_samples``), in
(0, 1]. Threshold: ``contamination="auto"`` is the paper's 0.5 (scikit-learn's default
offset); a number c sets it at the 1 - c quantile of the training scores; ``threshold="spot"``
fits SPOT on them. The forest has no per-variable attribution of its own: contributions are
the squared robust z-scores of the row (training median and MAD), a documented proxy.
``state_dict`` keeps the training rows, and ``from_state`` refits the forest with the same
seed, which rebuilds it exactly (scikit-learn's trees are not plain values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.detector import DetectorError
from detectors.multivariate.base import MultivariateDetector, check_threshold, is_int, is_real, threshold_from


class IsolationForestDetector(MultivariateDetector):
    """Isolation Forest (module docstring); registered as ``"iforest"``."""

    name = "iforest"

    def __init__(
        self,
        n_estimators=100,
        max_samples="auto",
        contamination="auto",
        threshold="contamination",
        quantile=0.99,
        risk=1e-3,
        seed=0,
        corr_window=30,
        align_mode="Outer",
        fill_na_method="Linear",
        padding_value=None,
        max_missing_ratio=0.2,
    ):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.threshold = threshold
        self.quantile = quantile
        self.risk = risk
        self.seed = seed
        self.corr_window = corr_window
        self.align_mode = align_mode
        self.fill_na_method = fill_na_method
        self.padding_value = padding_value
        self.max_missing_ratio = max_missing_ratio

    def _check_params(self) -> None:
        self._check_input_params()
        if not is_int(self.n_estimators) or self.n_estimators < 1:
            raise DetectorError(f"n_estimators: must be a positive integer, got {self.n_estimators!r}")
        c = self.contamination
        if c != "auto" and (not is_real(c) or not 0 < c <= 0.5):
            raise DetectorError(f"contamination: must be 'auto' or a number in (0, 0.5], got {c!r}")
        if not is_int(self.seed):
            raise DetectorError(f"seed: must be an integer, got {self.seed!r}")
        check_threshold(self.threshold, self.quantile, self.risk, extra=("contamination",))

    def min_train_rows(self) -> int:
        return 2

    def _fit(self, x: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            contamination="auto",
            random_state=self.seed,
        ).fit(x)
        self.train_x_ = x.copy()
        self.median_ = np.median(x, axis=0)
        mad = 1.4826 * np.median(np.abs(x - self.median_), axis=0)
        std = x.std(axis=0)
        self.spread_ = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        train_score = -self.forest_.score_samples(x)
        if self.threshold == "contamination":
            self.threshold_ = (
                0.5 if self.contamination == "auto" else float(np.quantile(train_score, 1 - self.contamination))
            )
        else:
            self.threshold_ = threshold_from(train_score, self.threshold, self.quantile, self.risk)

    def _score(self, full: np.ndarray):
        score = -self.forest_.score_samples(full)
        contributions = ((full - self.median_) / self.spread_) ** 2
        return score, self.threshold_, contributions

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {**self._base_state(), "train": self.train_x_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IsolationForestDetector:
        try:
            detector = cls._restore_base(state)
            x = np.asarray(state["train"], dtype=float).reshape(-1, len(detector.variables_))
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not an IsolationForestDetector state_dict ({exc!r})") from exc
        detector._fit(x)
        return detector
