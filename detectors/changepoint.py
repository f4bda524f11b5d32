"""Change points by a two-window mean-shift test (the statistic behind Azure Anomaly Detector's
``changepoint/detect``, whose own model is not published; this one is the framework's).

At each point t with ``window`` points on each side, the Welch statistic of the two means,
T_t = |mean(x[t:t+w]) - mean(x[t-w:t])| / sqrt((s_before^2 + s_after^2) / w), and its confidence
1 - min(1, n * P(|Z| >= T_t)), the two-sided normal tail probability made family-wise over the n
points tested (Bonferroni), so that a stationary series of any length rarely reaches a high
confidence. A change point is a point whose confidence reaches ``threshold`` and whose T is the
largest within ``window`` points on either side (one change point per shift). Points with fewer
than ``window`` points on a side have confidence 0.
"""

from __future__ import annotations

import math

import numpy as np

from core.detector import DetectorError
from core.values import as_finite_values, positive_int

EPS = 1e-12


def mean_shift_statistic(values, window: int) -> np.ndarray:
    """T_t for every point (NaN where a side has fewer than ``window`` points)."""
    x = as_finite_values(values, "values")
    w = positive_int(window, "window")
    n = len(x)
    out = np.full(n, np.nan)
    if n < 2 * w:
        return out
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    t = np.arange(w, n - w + 1)
    before = (c1[t] - c1[t - w]) / w
    after = (c1[t + w] - c1[t]) / w
    var_b = np.maximum((c2[t] - c2[t - w]) / w - before**2, 0.0) * w / max(w - 1, 1)
    var_a = np.maximum((c2[t + w] - c2[t]) / w - after**2, 0.0) * w / max(w - 1, 1)
    scale = np.sqrt((var_b + var_a) / w)
    floor = EPS * max(1.0, float(np.abs(x).max()))
    out[t[t < n]] = (np.abs(after - before) / np.maximum(scale, floor))[t < n]
    return out


def change_points(values, window: int = 10, threshold: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """(is_change_point, confidence) per point (module docstring)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise DetectorError(f"threshold: must be a number in [0, 1], got {threshold!r}")
    stat = mean_shift_statistic(values, window)
    n = len(stat)
    tail = np.array([math.erfc(v / math.sqrt(2.0)) if np.isfinite(v) else 1.0 for v in stat])
    confidence = np.clip(1.0 - np.minimum(1.0, n * tail), 0.0, 1.0)
    confidence[~np.isfinite(stat)] = 0.0
    filled = np.where(np.isfinite(stat), stat, -np.inf)
    is_cp = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(confidence >= threshold) if threshold > 0 else np.flatnonzero(np.isfinite(stat)):
        lo, hi = max(0, i - window), min(n, i + window + 1)
        is_cp[i] = filled[i] == filled[lo:hi].max() and not is_cp[lo:i].any()
    return is_cp, confidence
