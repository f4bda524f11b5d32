"""Metis' first level on rows of 5w + 3 values (C + B + A, :mod:`detectors.metis.windows`), for many
rows at once. Each returns a boolean "fires" per row (Metis returns 0 = anomaly for these).

* :func:`three_sigma` (``Statistic``): |x_last - mean| > k std, mean and std (ddof 0) of the other
  values of the row;
* :func:`ewma_chart` (``Ewma``): s_0 = x_0, s_i = alpha x_i + (1 - alpha) s_{i-1} over the row;
  fires when s_last leaves mean(s) +/- k std(x) sqrt(alpha / (2 - alpha)) (the EWMA control chart);
* :func:`polynomial_fit` (``PolynomialInterpolation``): y = row / mean(A) when mean(A) > 1; a
  degree-4 ridge regression (alpha 1, intercept not penalised) of y on the position in its part
  (0..2w for C and B, 0..w for A: the three days overlaid by time of day); fires when
  |y_last - fit(y)_last| > threshold.

s_last and mean(s) are fixed linear combinations of the row (s_i = sum_j w_ij x_j), and so is the
ridge fit's value at the tested point (the hat matrix of a fixed design), so each rule costs a few
matrix-vector products per row. A deviation within 1e-9 of the row's scale is taken as 0, so that a
constant row never fires on rounding.
"""

from __future__ import annotations

import functools

import numpy as np

from detectors.metis.windows import parts, window_of

EWMA_ALPHA = 0.3
SIGMA = 3.0
POLY_DEGREE = 4
POLY_THRESHOLD = 0.15
RIDGE_ALPHA = 1.0
_TOL = 1e-9


def _scale(rows: np.ndarray) -> np.ndarray:
    return _TOL * np.maximum(np.abs(rows).max(axis=1), 1e-300)


def sigma_deviation(rows: np.ndarray) -> np.ndarray:
    """(x_last - mean) / std of the other values; 0 when the deviation is within rounding, inf when
    std is 0 and the deviation is not."""
    rest = rows[:, :-1]
    mean = rest.mean(axis=1)
    std = rest.std(axis=1)
    dev = rows[:, -1] - mean
    dev[np.abs(dev) <= _scale(rows)] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, dev / np.where(std > 0, std, 1.0), np.where(dev == 0, 0.0, np.inf * np.sign(dev)))
    return z


def three_sigma(rows: np.ndarray, k: float = SIGMA) -> np.ndarray:
    return np.abs(sigma_deviation(rows)) > k


@functools.lru_cache(maxsize=32)
def ewma_weights(width: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(w_last, w_mean): s_last = row @ w_last and mean(s) = row @ w_mean for the recursion s_0 = x_0."""
    keep = 1.0 - alpha
    j = np.arange(width)
    w_last = alpha * keep ** (width - 1 - j)
    w_last[0] = keep ** (width - 1)
    w_mean = (1.0 - keep ** (width - j)) / width
    w_mean[0] = (1.0 - keep**width) / alpha / width
    return w_last, w_mean


def ewma_chart(rows: np.ndarray, alpha: float = EWMA_ALPHA, k: float = SIGMA) -> np.ndarray:
    w_last, w_mean = ewma_weights(rows.shape[1], float(alpha))
    s_last = rows @ w_last
    s_mean = rows @ w_mean
    limit = k * rows.std(axis=1) * np.sqrt(alpha / (2.0 - alpha))
    dev = np.abs(s_last - s_mean)
    dev[dev <= _scale(rows)] = 0.0
    return dev > limit


def positions(window: int) -> np.ndarray:
    """Time-of-day position of each value of a row: 0..2w (C), 0..2w (B), 0..w (A)."""
    return np.concatenate((np.arange(2 * window + 1), np.arange(2 * window + 1), np.arange(window + 1))).astype(float)


@functools.lru_cache(maxsize=32)
def ridge_hat_row(window: int, degree: int = POLY_DEGREE, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """h with fit(y)_last = h @ y for ridge on [t, t^2, ..., t^degree] with an unpenalised
    intercept (centred design, as scikit-learn's Ridge), solved by SVD."""
    t = positions(window)
    design = np.stack([t**p for p in range(1, degree + 1)], axis=1)
    centred = design - design.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    x_last = centred[-1]
    # beta = V diag(s / (s^2 + alpha)) U' y_c; fit_last = mean(y) + x_last @ beta
    coef = (x_last @ vt.T) * (s / (s**2 + alpha))
    h = u @ coef
    h = h - h.mean() + 1.0 / len(t)
    return h


def normalised(rows: np.ndarray) -> np.ndarray:
    """rows / mean(A) where mean(A) > 1 (Metis' normalize_time_series), else rows."""
    mean_a = parts(rows)["a"].mean(axis=1)
    divisor = np.where(mean_a > 1, mean_a, 1.0)
    return rows / divisor[:, None]


def polynomial_deviation(rows: np.ndarray) -> np.ndarray:
    y = normalised(rows)
    dev = np.abs(y[:, -1] - y @ ridge_hat_row(window_of(rows.shape[1])))
    dev[dev <= _scale(y)] = 0.0
    return dev


def polynomial_fit(rows: np.ndarray, threshold: float = POLY_THRESHOLD) -> np.ndarray:
    return polynomial_deviation(rows) > threshold


def first_level(rows: np.ndarray) -> np.ndarray:
    """True where any of the three rules fires."""
    return three_sigma(rows) | ewma_chart(rows) | polynomial_fit(rows)
