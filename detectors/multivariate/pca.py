"""PCA process monitoring: Hotelling's T^2 in the principal subspace and Q (SPE) in the residual one.

Training data are standardised (training mean and standard deviation; ``scale=False`` only
centres them, for data already in comparable units; ``ridge`` adds that much variance to every
variable, a floor for variables that hardly moved in training); the principal subspace
keeps the fewest components whose eigenvalues explain at least ``explained_variance`` of the
variance, made of whole eigenspaces (a repeated eigenvalue is kept or left out as a whole, so
the subspace is unique: :func:`whole_eigenspaces`). For a standardised point x with scores t = P^T x:

- T^2 = sum_a t_a^2 / lambda_a (Hotelling 1947); control limit for a new observation
  k (n-1)(n+1) / (n (n-k)) F_{p}(k, n-k) (Tracy, Young & Mason 1992), k components, n rows;
- Q = ||x - P P^T x||^2 (Jackson & Mudholkar 1979), limit
  theta_1 [c sqrt(2 theta_2 h0^2) / theta_1 + 1 + theta_2 h0 (h0-1) / theta_1^2]^(1/h0),
  theta_i = sum of the residual eigenvalues to the power i, h0 = 1 - 2 theta_1 theta_3 /
  (3 theta_2^2), c the standard normal ``p_value`` quantile;
  (when every residual eigenvalue is 0, the limit is 1e-9 of the total variance);
- ``statistic="t2+q"`` alarms when either statistic passes its limit (SKAB's combined
  detector); ``"t2"`` is Hotelling on all variables (no PCA), ``"q"`` the residual alone.

Both statistics may be smoothed by a running median over ``smooth`` points (SKAB uses 5). The
score is the larger of (statistic / its limit); with ``threshold="limits"`` the threshold is
1 (the control limits above); ``"quantile"`` and ``"spot"`` set it from the training scores.
Contributions are the complete decomposition contributions (Alcala & Qin, Automatica 2009):
(D^1/2 x)_j^2 / T^2 limit + (residual_j)^2 / Q limit, with D = P Lambda^-1 P^T.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from core.detector import DetectorError, UnmodelledSeries
from detectors.multivariate.base import MultivariateDetector, check_threshold, is_int, is_real, threshold_from

STATISTICS = ("t2+q", "t2", "q")


def t2_limit(k: int, n: int, p_value: float) -> float:
    """Upper control limit of T^2 for a new observation (k components, n training rows)."""
    return float(k * (n - 1) * (n + 1) / (n * (n - k)) * stats.f.ppf(p_value, k, n - k))


def q_limit(residual_eigenvalues: np.ndarray, p_value: float) -> float:
    """Jackson-Mudholkar upper control limit of Q from the residual eigenvalues."""
    lam = np.asarray(residual_eigenvalues, dtype=float)
    t1, t2, t3 = (float(np.sum(lam**i)) for i in (1, 2, 3))
    if t1 <= 0 or t2 <= 0:
        return 0.0
    h0 = 1 - 2 * t1 * t3 / (3 * t2**2)
    c = stats.norm.ppf(p_value)
    return float(t1 * (c * np.sqrt(2 * t2 * h0**2) / t1 + 1 + t2 * h0 * (h0 - 1) / t1**2) ** (1 / h0))


def whole_eigenspaces(eigenvalues: np.ndarray, k: int, limit: int | None = None) -> int:
    """``k`` moved to the nearest end of the repeated eigenvalue it cuts, if any: a principal
    subspace that cuts through a repeated eigenvalue is not unique (any rotation of that
    eigenspace is as good, and which one ``eigh`` returns is arbitrary), while one made of whole
    eigenspaces is, and so are its T^2 and Q. The whole group is kept when that leaves ``k`` below
    ``limit`` (the T^2 limit needs fewer components than training rows), else left out (unless
    it starts the spectrum). Ties are equal within 1e-9 of the largest eigenvalue; variables
    constant in training under a ``ridge`` all tie at the ridge. ``eigenvalues`` descending."""
    m = len(eigenvalues)
    if not 0 < k < m:
        return k
    tolerance = 1e-9 * max(float(eigenvalues[0]), 1e-300)
    if eigenvalues[k - 1] - eigenvalues[k] > tolerance:
        return k
    end = k
    while end < m and eigenvalues[end - 1] - eigenvalues[end] <= tolerance:
        end += 1
    start = k - 1
    while start > 0 and eigenvalues[start - 1] - eigenvalues[start] <= tolerance:
        start -= 1
    return end if (limit is None or end < limit or start == 0) else start


class PCADetector(MultivariateDetector):
    """Hotelling T^2 + Q (SPE) on PCA (module docstring); registered as ``"pca"``."""

    name = "pca"

    def __init__(
        self,
        explained_variance=0.85,
        p_value=0.999,
        statistic="t2+q",
        scale=True,
        ridge=0.0,
        smooth=1,
        threshold="limits",
        quantile=0.99,
        risk=1e-3,
        corr_window=30,
        align_mode="Outer",
        fill_na_method="Linear",
        padding_value=None,
        max_missing_ratio=0.2,
    ):
        self.explained_variance = explained_variance
        self.p_value = p_value
        self.statistic = statistic
        self.scale = scale
        self.ridge = ridge
        self.smooth = smooth
        self.threshold = threshold
        self.quantile = quantile
        self.risk = risk
        self.corr_window = corr_window
        self.align_mode = align_mode
        self.fill_na_method = fill_na_method
        self.padding_value = padding_value
        self.max_missing_ratio = max_missing_ratio

    def _check_params(self) -> None:
        self._check_input_params()
        for name in ("explained_variance", "p_value"):
            value = getattr(self, name)
            if not is_real(value) or not 0 < value < 1:
                raise DetectorError(f"{name}: must be a number in (0, 1), got {value!r}")
        if not isinstance(self.scale, bool):
            raise DetectorError(f"scale: must be True or False, got {self.scale!r}")
        if not is_real(self.ridge) or self.ridge < 0:
            raise DetectorError(f"ridge: must be a non-negative number, got {self.ridge!r}")
        if self.statistic not in STATISTICS:
            raise DetectorError(f"statistic: must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        for name in ("smooth", "corr_window"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DetectorError(f"{name}: must be a positive integer, got {value!r}")
        check_threshold(self.threshold, self.quantile, self.risk, extra=("limits",))

    def context_length(self) -> int:
        return self.smooth - 1

    def min_train_rows(self) -> int:
        return 3

    # ------------------------------------------------------------------ fit
    def _fit(self, x: np.ndarray) -> None:
        n = x.shape[0]
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0, ddof=1)
        self.active_ = std > 1e-12 * np.maximum(1.0, np.abs(self.mean_))
        if not self.active_.any():
            raise UnmodelledSeries("train: every variable is constant")
        self.scale_ = np.where(self.active_, std, 1.0) if self.scale else np.ones(len(std))
        if not self.scale:
            self.active_ = np.ones(len(std), dtype=bool)
        z = self._standardise(x)
        za = z[:, self.active_]
        cov = np.cov(za, rowvar=False).reshape(za.shape[1], za.shape[1]) + self.ridge * np.eye(za.shape[1])
        eigenvalues, eigenvectors = np.linalg.eigh(cov)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues = np.clip(eigenvalues[order], 0.0, None)
        eigenvectors = eigenvectors[:, order]
        m = za.shape[1]
        if self.statistic == "t2":
            k = m
        else:
            ratio = np.cumsum(eigenvalues) / eigenvalues.sum()
            k = int(np.searchsorted(ratio, self.explained_variance - 1e-12) + 1)
            k = whole_eigenspaces(eigenvalues, min(k, m), limit=n)
        if k >= n:
            raise UnmodelledSeries(f"train: {n} rows cannot estimate {k} principal components' T^2 limit")
        positive = eigenvalues[:k] > 1e-12
        self.n_components_ = int(positive.sum())
        self.components_ = eigenvectors[:, :k][:, positive]
        self.eigenvalues_ = eigenvalues
        self.t2_limit_ = t2_limit(self.n_components_, n, self.p_value) if self.n_components_ else np.inf
        residual = eigenvalues[k:]
        self.q_limit_ = q_limit(residual, self.p_value) if self.statistic != "t2" and len(residual) else np.inf
        floor = 1e-9 * max(float(eigenvalues.sum()), 1.0)
        if self.q_limit_ < floor:
            # the training rows lie in the principal subspace: any residual is new, measured
            # against a limit of 1e-9 of the training variance instead of 0
            self.q_limit_ = floor
        if self.statistic == "q" and not np.isfinite(self.q_limit_):
            raise UnmodelledSeries("train: no residual subspace left for Q (every component is principal)")
        train_score = self._statistics(z)[0]
        self.train_score_ = train_score
        if self.threshold == "limits":
            self.threshold_ = 1.0
        else:
            self.threshold_ = threshold_from(train_score, self.threshold, self.quantile, self.risk)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    def _statistics(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score per row, contributions per row and variable) of standardised rows."""
        za = z[:, self.active_]
        t = za @ self.components_
        lam = self.eigenvalues_[: self.n_components_]
        t2 = (t**2 / lam).sum(axis=1)
        residual = za - t @ self.components_.T
        q = (residual**2).sum(axis=1)
        half = self.components_ @ np.diag(1 / np.sqrt(lam)) @ self.components_.T
        cdc_t2 = (za @ half) ** 2
        contributions = np.zeros(z.shape)
        parts = []
        if self.statistic in ("t2+q", "t2"):
            parts.append(_running_median(t2, self.smooth) / self.t2_limit_)
            contributions[:, self.active_] += cdc_t2 / self.t2_limit_
        if self.statistic in ("t2+q", "q") and np.isfinite(self.q_limit_):
            parts.append(_running_median(q, self.smooth) / self.q_limit_)
            contributions[:, self.active_] += residual**2 / self.q_limit_
        return np.max(np.vstack(parts), axis=0), contributions

    # ------------------------------------------------------------------ detect
    def _score(self, full: np.ndarray):
        score, contributions = self._statistics(self._standardise(full))
        k = self.context_length()
        return score[k:], self.threshold_, contributions[k:]

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            **self._base_state(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "active": self.active_.tolist(),
            "components": self.components_.tolist(),
            "eigenvalues": self.eigenvalues_.tolist(),
            "n_components": self.n_components_,
            "t2_limit": self.t2_limit_,
            "q_limit": self.q_limit_,
            "threshold": self.threshold_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PCADetector:
        try:
            detector = cls._restore_base(state)
            detector.mean_ = np.asarray(state["mean"], dtype=float)
            detector.scale_ = np.asarray(state["scale"], dtype=float)
            detector.active_ = np.asarray(state["active"], dtype=bool)
            detector.n_components_ = int(state["n_components"])
            detector.components_ = np.asarray(state["components"], dtype=float).reshape(
                int(detector.active_.sum()), detector.n_components_
            )
            detector.eigenvalues_ = np.asarray(state["eigenvalues"], dtype=float)
            detector.t2_limit_ = float(state["t2_limit"])
            detector.q_limit_ = float(state["q_limit"])
            detector.threshold_ = float(state["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a PCADetector state_dict ({exc!r})") from exc
        return detector


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the last ``window`` values at every point (fewer at the start)."""
    if window <= 1:
        return values
    return pd.Series(values).rolling(window, min_periods=1).median().to_numpy()
