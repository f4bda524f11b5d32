"""A deliberately naive FluxEV written straight from the issue's step list, point by point with
plain lists, np.std/np.var and Python's max: an independent oracle for the vectorized detector.
"""

from __future__ import annotations

import math

import numpy as np


def _py_max(values):
    """Python's built-in max over floats with NaN, as the authors' code uses it."""
    return max(values)


def literal_fluxev(x, train_len, s=10, p=5, h=2, period=None, q=0.003, level=0.98, alpha=0.2, smoothing=2):
    x = [float(v) for v in x]
    n = len(x)
    periodic = smoothing == 2 and period is not None
    d = 2 * h
    first = 2 * s
    warm = first + h + (p - 1) * period if periodic else first
    err = [math.nan] * n
    fse = [math.nan] * n
    lm = [math.nan] * n
    score = [math.nan] * n
    thresholds, alarms = [], []
    t = z = None
    peaks = []
    count = 0
    for i in range(s, n):
        r = x[i - s]
        for v in x[i - s + 1 : i]:
            r = alpha * v + (1 - alpha) * r
        err[i] = x[i] - r
        if i < first:
            continue
        fse[i] = max(float(np.std(err[i - s : i + 1]) - np.std(err[i - s : i])), 0.0)
        if periodic:
            if i >= first + d:
                lm[i - h] = _py_max(fse[i - d : i + 1])
            if i >= warm:
                refs = [lm[i - k * period] for k in range(1, p)]
                refs = [v for v in refs if not math.isnan(v)]
                score[i] = max(fse[i] - max(refs), 0.0) if refs else math.nan
        else:
            score[i] = fse[i]
        if i == train_len - 1:
            init = np.array(score[warm : i + 1])
            t = float(np.sort(init)[int(level * len(init))])
            peaks = list(init[init > t] - t)
            count = len(init)
            z = _quantile(t, peaks, q, count)
        elif i >= train_len:
            v = score[i]
            alarm = v > z
            if not alarm and v > t:
                peaks.append(v - t)
                count += 1
                z = _quantile(t, peaks, q, count)
            elif not alarm:
                count += 1
            if alarm and periodic:
                fse[i] = math.nan
                lm[i - h] = _py_max(fse[i - d : i + 1])
            thresholds.append(z)
            alarms.append(bool(alarm))
    return np.array(score[train_len:]), np.array(thresholds), np.array(alarms, dtype=bool)


def _quantile(t, peaks, q, count):
    if len(peaks) < 2:
        return math.inf
    m = float(np.mean(peaks))
    v = float(np.var(peaks, ddof=1))
    if v <= 0:
        return math.inf
    gamma = 0.5 * (1 - m * m / v)
    sigma = 0.5 * m * (1 + m * m / v)
    r = count * q / len(peaks)
    return t + sigma / gamma * (r ** (-gamma) - 1) if gamma != 0 else t - sigma * math.log(r)
