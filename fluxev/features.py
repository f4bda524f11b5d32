"""FluxEV's fluctuation features (Li et al., WSDM 2021, Sec. 4.1-4.2), as array kernels.

Every kernel takes a 2-D array of windows (one window per row, oldest value first) and does
the same floating-point operations, in the same order, whatever the number of rows. The batch
detector passes strided views over a whole series, the streaming ``update`` passes one row, so
both give bit-identical results.

* ``ewma_forecast``: P_i, EWMA of X[i-s..i-1] seeded with X[i-s] (Eq. 3, recursive form).
* ``population_std``: std with ddof 0, summed in the order numpy's pairwise sum uses, so it equals
  ``np.std`` bit for bit on windows of up to 128 values.
* ``first_smoothing``: FSE_i = max(std(E[i-s..i]) - std(E[i-s..i-1]), 0) (Eq. 5).
* ``local_max``: FSE_lm[k] = max(FSE[k-h..k+h]) (Sec. 4.2.2, drift).
* ``periodic_smoothing``: SSE_i = max(FSE_i - max_k FSE_lm[i-kP], 0), k = 1..p-1 (Eq. 6).

The ``*_scalar`` variants do the same operations on one row of Python floats (the streaming
detector's fast path, without numpy's per-call overhead); the tests prove them bit-identical.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_BLOCK = 8


def windows(x: np.ndarray, width: int) -> np.ndarray:
    """Rows ``x[j : j + width]`` for every j (a read-only view)."""
    return sliding_window_view(x, width)


def ewma_forecast(rows: np.ndarray, alpha: float) -> np.ndarray:
    """r = row[0]; r = alpha * x + (1 - alpha) * r for each later x in the row."""
    keep = 1 - alpha
    r = rows[:, 0].copy()
    for j in range(1, rows.shape[1]):
        r = alpha * rows[:, j] + keep * r
    return r


def _pairwise_sum(columns: list[np.ndarray]) -> np.ndarray:
    """Row sums of the given columns in the order of numpy's pairwise summation."""
    width = len(columns)
    if width < _BLOCK:
        total = np.zeros(len(columns[0]))
        for column in columns:
            total += column
        return total
    if width > 128:
        half = width // 2
        half -= half % _BLOCK
        total = _pairwise_sum(columns[:half])
        total += _pairwise_sum(columns[half:])
        return total
    acc = [columns[j].copy() for j in range(_BLOCK)]
    j = _BLOCK
    while j < width - width % _BLOCK:
        for k in range(_BLOCK):
            acc[k] += columns[j + k]
        j += _BLOCK
    acc[0] += acc[1]
    acc[2] += acc[3]
    acc[4] += acc[5]
    acc[6] += acc[7]
    acc[0] += acc[2]
    acc[4] += acc[6]
    total = acc[0]
    total += acc[4]
    while j < width:
        total += columns[j]
        j += 1
    return total


def population_std(rows: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof 0) of each row."""
    width = rows.shape[1]
    columns = [rows[:, j] for j in range(width)]
    mean = _pairwise_sum(columns)
    mean /= width
    squares = []
    for column in columns:
        dev = column - mean
        dev *= dev
        squares.append(dev)
    total = _pairwise_sum(squares)
    total /= width
    return np.sqrt(total, out=total)


def first_smoothing(error_rows: np.ndarray) -> np.ndarray:
    """Rows hold E[i-s..i]; returns how much E_i widens the spread of the s errors before it."""
    widening = population_std(error_rows) - population_std(error_rows[:, :-1])
    return np.where(widening > 0, widening, 0.0)


def local_max(fse_rows: np.ndarray) -> np.ndarray:
    """Max of each window of 2h+1 first-smoothing values, skipping missing ones (alarms).

    As in the authors' implementation (Python's ``max`` over the window), a window whose
    oldest value is missing is missing.
    """
    out = fse_rows[:, 0].copy()
    for j in range(1, fse_rows.shape[1]):
        out = np.fmax(out, fse_rows[:, j])
    out[np.isnan(fse_rows[:, 0])] = np.nan
    return out


def periodic_smoothing(fse: np.ndarray, references: np.ndarray) -> np.ndarray:
    """``references`` has one column per previous period; missing ones are skipped.

    A point whose references are all missing gets a missing score.
    """
    ref = references[:, 0].copy()
    for j in range(1, references.shape[1]):
        ref = np.fmax(ref, references[:, j])
    excess = np.where(fse > ref, fse - ref, 0.0)
    excess[np.isnan(ref)] = np.nan
    return excess


def _pairwise_sum_scalar(values: list[float]) -> float:
    """:func:`_pairwise_sum` for one row of Python floats: the same additions in the same order."""
    width = len(values)
    if width < _BLOCK:
        total = 0.0
        for v in values:
            total += v
        return total
    if width > 128:
        half = width // 2
        half -= half % _BLOCK
        return _pairwise_sum_scalar(values[:half]) + _pairwise_sum_scalar(values[half:])
    acc = list(values[:_BLOCK])
    j = _BLOCK
    while j < width - width % _BLOCK:
        for k in range(_BLOCK):
            acc[k] += values[j + k]
        j += _BLOCK
    total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while j < width:
        total += values[j]
        j += 1
    return total


def population_std_scalar(values: list[float]) -> float:
    """:func:`population_std` of one row of Python floats, bit-identical to it."""
    width = len(values)
    mean = _pairwise_sum_scalar(values) / width
    squares = []
    for v in values:
        dev = v - mean
        squares.append(dev * dev)
    return math.sqrt(_pairwise_sum_scalar(squares) / width)


def ewma_forecast_scalar(values: list[float], alpha: float) -> float:
    """:func:`ewma_forecast` of one row of Python floats."""
    keep = 1 - alpha
    r = values[0]
    for v in values[1:]:
        r = alpha * v + keep * r
    return r


def first_smoothing_scalar(errors: list[float]) -> float:
    """:func:`first_smoothing` of one row ``E[i-s..i]`` of Python floats."""
    widening = population_std_scalar(errors) - population_std_scalar(errors[:-1])
    return widening if widening > 0 else 0.0
