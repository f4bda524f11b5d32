"""Metis' features of a row C + B + A (5w + 3 values), for many rows at once: 30 statistical, 198
fitting and 79 classification features, 307 in all, for any window w (the original hard-coded
w = 180 in the fitting features and failed for any other window).

* **statistical** (on A / mean(A) when mean(A) > 1): the tsfresh feature calculators of the same
  names, with the same definitions (``STATISTICAL``; tsfresh itself is not a dependency: its
  calculators take one series at a time, these take a matrix of rows);
* **fitting** (on the five parts, normalised the same way): moving average, linearly weighted
  moving average (10 lengths each), EWMA (9 alphas) and Holt's double EWMA (25 pairs) of A, each
  minus the tested value; and 144 comparisons of the tested value with the same time of day
  yesterday and a week ago (the left and right halves of B and C), with sub-windows of A;
* **classification** (on the row min-max scaled to [0, 1]): moments, autocorrelation at lag w,
  value histograms over fixed bin edges for the row and per day, shares of near-0 and near-1
  values, binned entropy.

Sub-window lengths scale with w: where the original took range(1, 180, 30) and range(1, 180, 20)
these take 6 and 9 lengths 1 + k * max(1, w // 6) and 1 + k * max(1, w // 9), capped at w + 1.
"""

from __future__ import annotations

import numpy as np

from detectors.metis.first_level import normalised
from detectors.metis.windows import parts, window_of

STATISTICAL = (
    "maximum",
    "minimum",
    "mean",
    "variance",
    "standard_deviation",
    "skewness",
    "kurtosis",
    "median",
    "abs_energy",
    "absolute_sum_of_changes",
    "variance_larger_than_standard_deviation",
    "count_above_mean",
    "count_below_mean",
    "first_location_of_maximum",
    "first_location_of_minimum",
    "last_location_of_maximum",
    "last_location_of_minimum",
    "has_duplicate",
    "has_duplicate_max",
    "has_duplicate_min",
    "longest_strike_above_mean",
    "longest_strike_below_mean",
    "mean_abs_change",
    "mean_change",
    "percentage_of_reoccurring_datapoints_to_all_datapoints",
    "ratio_value_number_to_time_series_length",
    "sum_of_reoccurring_data_points",
    "sum_of_reoccurring_values",
    "sum_values",
    "range",
)
MA_LENGTHS = tuple(range(1, 50, 5))
EWMA_ALPHAS = tuple(round(0.1 * k, 1) for k in range(1, 10))
HOLT_VALUES = (0.1, 0.3, 0.5, 0.7, 0.9)
HIST_EDGES = np.array([0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1, 1])
ENTROPY_BINS = (2, 4, 6, 8, 10, 20)
REFERENCE_PARTS = ("c_left", "c_right", "b_left", "b_right")


def _longest_run(mask: np.ndarray) -> np.ndarray:
    idx = np.arange(mask.shape[1])
    last_false = np.maximum.accumulate(np.where(mask, -1, idx), axis=1)
    return np.where(mask, idx - last_false, 0).max(axis=1).astype(float)


def statistical(x: np.ndarray) -> np.ndarray:
    """The 30 ``STATISTICAL`` features of each row (tsfresh's definitions; skewness and kurtosis
    are pandas' bias-corrected ones, 0 for a constant row)."""
    n = x.shape[1]
    mean = x.mean(axis=1)
    dev = x - mean[:, None]
    m2 = (dev**2).mean(axis=1)
    m3 = (dev**3).mean(axis=1)
    m4 = (dev**4).mean(axis=1)
    var = m2
    std = np.sqrt(var)
    flat = m2 <= 1e-14 * np.maximum(mean**2, 1e-300)
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, np.sqrt(n * (n - 1)) / (n - 2) * m3 / safe**1.5) if n > 2 else np.zeros(len(x))
    if n > 3:
        kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / safe**2 - 3 * (n - 1))
        kurt = np.where(flat, 0.0, kurt)
    else:
        kurt = np.zeros(len(x))
    diff = np.diff(x, axis=1)
    vmax, vmin = x.max(axis=1), x.min(axis=1)
    s = np.sort(x, axis=1)
    eq = s[:, 1:] == s[:, :-1]
    dup = np.zeros_like(s, dtype=bool)
    dup[:, 1:] |= eq
    dup[:, :-1] |= eq
    run_start = np.ones_like(s, dtype=bool)
    run_start[:, 1:] = ~eq
    n_unique = run_start.sum(axis=1)
    cols = [
        vmax,
        vmin,
        mean,
        var,
        std,
        skew,
        kurt,
        np.median(x, axis=1),
        (x**2).sum(axis=1),
        np.abs(diff).sum(axis=1),
        (var > std).astype(float),
        (x > mean[:, None]).sum(axis=1).astype(float),
        (x < mean[:, None]).sum(axis=1).astype(float),
        np.argmax(x, axis=1) / n,
        np.argmin(x, axis=1) / n,
        1.0 - np.argmax(x[:, ::-1], axis=1) / n,
        1.0 - np.argmin(x[:, ::-1], axis=1) / n,
        (n_unique < n).astype(float),
        ((x == vmax[:, None]).sum(axis=1) >= 2).astype(float),
        ((x == vmin[:, None]).sum(axis=1) >= 2).astype(float),
        _longest_run(x > mean[:, None]),
        _longest_run(x < mean[:, None]),
        np.abs(diff).mean(axis=1),
        (x[:, -1] - x[:, 0]) / (n - 1),
        dup.sum(axis=1) / n,
        n_unique / n,
        (s * dup).sum(axis=1),
        (s * (dup & run_start)).sum(axis=1),
        x.sum(axis=1),
        vmax - vmin,
    ]
    return np.stack(cols, axis=1)


def _lengths(w: int, count: int) -> list[int]:
    step = max(1, w // count)
    return [min(1 + k * step, w + 1) for k in range(count)]


def fitting(rows_norm: np.ndarray) -> np.ndarray:
    """The 198 fitting features of normalised rows (module docstring)."""
    p = parts(rows_norm)
    a = p["a"]
    w = a.shape[1] - 1
    last = a[:, -1]
    cols: list[np.ndarray] = []
    for length in MA_LENGTHS:
        cols.append(a[:, -min(length, w + 1) :].mean(axis=1) - last)
    for length in MA_LENGTHS:
        seg = a[:, -min(length, w + 1) :]
        weights = np.arange(1, seg.shape[1] + 1, dtype=float)
        cols.append(seg @ weights / weights.sum() - last)
    alphas = np.array(EWMA_ALPHAS)
    s = np.repeat(a[:, :1], len(alphas), axis=1)
    for j in range(1, w + 1):
        s = alphas * a[:, j : j + 1] + (1 - alphas) * s
    cols.extend((s - last[:, None]).T)
    al = np.repeat(np.array(HOLT_VALUES), len(HOLT_VALUES))
    ga = np.tile(np.array(HOLT_VALUES), len(HOLT_VALUES))
    level = np.repeat(a[:, :1], len(al), axis=1)
    trend = np.repeat(a[:, 1:2] - a[:, :1], len(al), axis=1) if w >= 1 else np.zeros_like(level)
    for j in range(1, w + 1):
        previous = level
        level = al * a[:, j : j + 1] + (1 - al) * (level + trend)
        trend = ga * (level - previous) + (1 - ga) * trend
    cols.extend((level - last[:, None]).T)
    for name in ("c_left", "b_left"):
        diff = p[name][:, -1] - last
        cols += [np.abs(diff), np.sign(diff)]
    for name in REFERENCE_PARTS:
        cols += [np.minimum(p[name].max(axis=1) - last, 0), np.maximum(p[name].min(axis=1) - last, 0)]
    for length in _lengths(w, 6):
        for name in REFERENCE_PARTS:
            seg = p[name][:, -length:] if name.endswith("left") else p[name][:, :length]
            cols += [np.minimum(seg.max(axis=1) - last, 0), np.maximum(seg.min(axis=1) - last, 0)]
    for length in _lengths(w, 9):
        recent = a[:, -length:].mean(axis=1)
        for name in REFERENCE_PARTS:
            seg = p[name][:, -length:] if name.endswith("left") else p[name][:, :length]
            diff = seg.mean(axis=1) - recent
            cols += [np.abs(diff), np.sign(diff)]
    chunk = max(1, w // 6)
    for k in range(6):
        seg = a[:, max(0, w - (k + 1) * chunk) : max(1, w - k * chunk)]
        cols += [np.minimum(seg.max(axis=1) - last, 0), np.maximum(seg.min(axis=1) - last, 0)]
    return np.stack(cols, axis=1)


def _histogram(x: np.ndarray) -> np.ndarray:
    """Share of each row's values in the bins of HIST_EDGES (np.histogram's rule: [e_i, e_{i+1}),
    the last bin closed)."""
    bins = len(HIST_EDGES) - 1
    index = np.clip(np.searchsorted(HIST_EDGES, x, side="right") - 1, 0, bins - 1)
    index[x >= HIST_EDGES[-1]] = bins - 1
    flat = (np.arange(len(x))[:, None] * bins + index).ravel()
    return np.bincount(flat, minlength=len(x) * bins).reshape(len(x), bins) / x.shape[1]


def _binned_entropy(x: np.ndarray, max_bins: int) -> np.ndarray:
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    index = np.clip(np.floor((x - lo) / span * max_bins).astype(int), 0, max_bins - 1)
    flat = (np.arange(len(x))[:, None] * max_bins + index).ravel()
    prob = np.bincount(flat, minlength=len(x) * max_bins).reshape(len(x), max_bins) / x.shape[1]
    logs = np.log(np.where(prob > 0, prob, 1.0))
    return -(prob * logs).sum(axis=1)


def classification(rows: np.ndarray) -> np.ndarray:
    """The 79 classification features of the min-max scaled rows (module docstring)."""
    w = window_of(rows.shape[1])
    lo, hi = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
    x = np.where(hi > lo, (rows - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    n = x.shape[1]
    mean = x.mean(axis=1)
    var = x.var(axis=1)
    dev = x - mean[:, None]
    lag = w
    acov = (dev[:, :-lag] * dev[:, lag:]).sum(axis=1) / (n - lag)
    autocorr = np.where(var > 0, acov / np.where(var > 0, var, 1.0), 0.0)
    cv = np.where(mean > 0, np.sqrt(var) / np.where(mean > 0, mean, 1.0), 0.0)
    cols = [mean, var, np.sqrt(var), np.median(x, axis=1), autocorr, cv]
    days = (x[:, : 2 * w + 1], x[:, 2 * w + 1 : 4 * w + 2], x[:, 4 * w + 2 :])
    blocks = [_histogram(x)] + [_histogram(day) for day in days]
    shares = []
    for day in days:
        shares += [(day < 0.01).mean(axis=1), (day > 0.99).mean(axis=1)]
    shares += [(part < 0.01).mean(axis=1) for part in parts(x).values()]
    entropy = [_binned_entropy(x, k) for k in ENTROPY_BINS]
    return np.concatenate([np.stack(cols, axis=1), *blocks, np.stack(shares + entropy, axis=1)], axis=1)


def feature_names() -> list[str]:
    """The 307 names, in the column order of :func:`extract_features`."""
    names = [f"stat_{n}" for n in STATISTICAL]
    names += [f"fit_ma_{k}" for k in MA_LENGTHS] + [f"fit_wma_{k}" for k in MA_LENGTHS]
    names += [f"fit_ewma_{a}" for a in EWMA_ALPHAS]
    names += [f"fit_holt_{a}_{g}" for a in HOLT_VALUES for g in HOLT_VALUES]
    names += [f"fit_{p}_last_{kind}" for p in ("c_left", "b_left") for kind in ("abs", "sign")]
    names += [f"fit_{p}_{kind}" for p in REFERENCE_PARTS for kind in ("max_below", "min_above")]
    names += [
        f"fit_sub{k}_{p}_{kind}" for k in range(6) for p in REFERENCE_PARTS for kind in ("max_below", "min_above")
    ]
    names += [f"fit_meandiff{k}_{p}_{kind}" for k in range(9) for p in REFERENCE_PARTS for kind in ("abs", "sign")]
    names += [f"fit_chunk{k}_{kind}" for k in range(6) for kind in ("max_below", "min_above")]
    names += ["cls_mean", "cls_variance", "cls_std", "cls_median", "cls_autocorrelation", "cls_cv"]
    for scope in ("all", "c", "b", "a"):
        names += [f"cls_hist_{scope}_{k}" for k in range(len(HIST_EDGES) - 1)]
    names += [f"cls_{d}_{kind}" for d in ("c", "b", "a") for kind in ("below_0.01", "above_0.99")]
    names += [f"cls_part_{p}_below_0.01" for p in ("c_left", "c_right", "b_left", "b_right", "a")]
    names += [f"cls_binned_entropy_{k}" for k in ENTROPY_BINS]
    return names


def extract_features(rows: np.ndarray) -> np.ndarray:
    """(n_rows, 307) features of rows C + B + A (any window)."""
    rows = np.asarray(rows, dtype=float)
    norm = normalised(rows)
    return np.concatenate((statistical(parts(norm)["a"]), fitting(norm), classification(rows)), axis=1)
