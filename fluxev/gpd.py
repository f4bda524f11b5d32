"""Generalized Pareto tail estimates for SPOT (Siffer et al., KDD 2017; Li et al., WSDM 2021).

The GPD here has survival function (1 + gamma * y / sigma) ** (-1 / gamma) for excesses y > 0.
"""

from __future__ import annotations

import math

import numpy as np


def mom(count: int, mean: float, variance: float) -> tuple[float, float] | None:
    """Method of moments (FluxEV Eq. 10-11) from the peaks' count, mean and variance (ddof 1).

    gamma = (1 - m^2/v) / 2, sigma = m (1 + m^2/v) / 2. ``None`` when the moments cannot
    identify a GPD: fewer than 2 peaks, zero variance or a non-positive mean.
    """
    if count < 2 or not variance > 0 or not mean > 0:
        return None
    ratio = mean**2 / variance
    return 0.5 * (1 - ratio), 0.5 * mean * (1 + ratio)


def log_likelihood(peaks: np.ndarray, gamma: float, sigma: float) -> float:
    """GPD log-likelihood of the excesses; -inf outside the support."""
    n = len(peaks)
    if sigma <= 0:
        return -math.inf
    if gamma == 0:
        return -n * math.log(sigma) - peaks.sum() / sigma
    z = 1 + (gamma / sigma) * peaks
    if (z <= 0).any():
        return -math.inf
    return -n * math.log(sigma) - (1 + 1 / gamma) * np.log(z).sum()


def grimshaw(peaks: np.ndarray, n_points: int = 24) -> tuple[float, float] | None:
    """Maximum likelihood by Grimshaw's trick (Siffer et al., KDD 2017, Sec. 3.2 and appendix).

    With x = gamma / sigma, the likelihood's stationary points solve
    w(x) = u(x) v(x) - 1 = 0, u(x) = 1 + mean(log(1 + x Y)), v(x) = mean(1 / (1 + x Y)),
    and the roots other than 0 lie in (-1/max(Y), 0) or (0, 2 (mean - min) / min^2).
    Each interval is scanned on a grid of ``n_points`` (geometric towards its ends, where the
    roots of heavy or short tails sit) and every sign change is refined with
    ``scipy.optimize.brentq``. A root x gives gamma = u(x) - 1, sigma = gamma / x; the candidate
    with the highest likelihood wins, the exponential tail (gamma = 0, sigma = mean) included.
    ``None`` with fewer than 2 distinct positive peaks.
    """
    from scipy.optimize import brentq

    y = np.asarray(peaks, dtype=float)
    if len(y) < 2 or not y.min() > 0 or y.max() == y.min():
        return None
    y_min, y_max, y_mean = float(y.min()), float(y.max()), float(y.mean())

    def w(x: float) -> float:
        s = 1 + x * y
        return (1 + np.log(s).mean()) * (1 / s).mean() - 1

    steps = np.geomspace(1e-7, 1 - 1e-7, n_points)
    upper = 2 * (y_mean - y_min) / y_min**2
    grids = [-steps / y_max, np.geomspace(1e-7 / y_mean, upper, n_points)]
    roots = []
    for grid in grids:
        s = 1 + grid[:, None] * y[None, :]
        values = (1 + np.log(s).mean(axis=1)) * (1 / s).mean(axis=1) - 1
        for k in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0).tolist():
            roots.append(brentq(w, grid[k], grid[k + 1], xtol=1e-14, rtol=1e-12))
    best = (0.0, y_mean)
    best_ll = log_likelihood(y, *best)
    for x in roots:
        gamma = float(np.log(1 + x * y).mean())
        if gamma == 0:
            continue
        sigma = gamma / x
        ll = log_likelihood(y, gamma, sigma)
        if ll > best_ll:
            best, best_ll = (gamma, sigma), ll
    return best


def tail_quantile(init_threshold: float, gamma: float, sigma: float, q: float, n: int, n_peaks: int) -> float:
    """z_q = t + (sigma/gamma)((q n / N_t)^(-gamma) - 1), or t - sigma ln(q n / N_t) if gamma = 0."""
    r = n * q / n_peaks
    if gamma != 0:
        return init_threshold + (sigma / gamma) * (r ** (-gamma) - 1)
    return init_threshold - sigma * math.log(r)
