"""Period detection for a regular series: the periodogram and the autocorrelation propose, the
seasonal strength and the similarity of adjacent segments decide (FreeWheel's three methods,
similarity of adjacent segments, ACF and FFT, with a decision rule).

The measures (on the series with its linear trend removed):

* **periodogram**: |FFT|^2 at the Fourier frequencies k/n, of the series and of its first
  difference (which flattens the 1/f^2 power of slow drifts); the ``n_candidates`` strongest local
  maxima of each with period n/k in [min_period, max_period] propose n/k;
* **ACF** (Wiener-Khinchin, by FFT, unbiased): the ``n_candidates`` highest local maxima of at
  least ``min_acf`` that stand ``min_dip`` above the lowest ACF value before them propose their lags;
* **seasonal strength** (Wang, Smith & Hyndman 2006): with d = x minus its centred moving
  average over T points and s the mean of d at each phase t mod T,
  F(T) = max(0, 1 - Var(d - s) / ((1 - 1/c) Var(d))), c = len(d) / T cycles. The moving average
  follows level shifts and trends, so a long series with a drifting level keeps a high F at its
  true period, and with many cycles F falls off within a few points of it (the phase means smear);
* **segment similarity**: the mean Pearson correlation of adjacent segments of T points.

Decision rule: the periodogram's resolution is n/k^2 points around n/k, so each proposal is moved
to the lag of highest F within 2 + min(n/k^2, 1 %) points of it (searched on a grid of about 16
lags, then point by point around the grid's best). A candidate T is trusted when the
series holds at least ``min_cycles`` periods, F(T) >= ``min_strength`` and its segment similarity
>= ``min_similarity``. Of the trusted ones the strongest wins, except that the smaller trusted
candidates that divide it (a multiple within 0.5 % of it) and have at least ``harmonic_ratio`` of
its strength replace it, the strongest of them winning (a daily series also repeats every two days,
and with few cycles the longer period's strength is inflated). No trusted candidate: ``None``
(aperiodic). F is the judge because it measures what a seasonal model uses (the same phase in
earlier cycles, after the level is removed); the proposers are cheap and only need to put the true
period near a candidate; the similarity vetoes shapes that do not repeat from one cycle to the
next.
"""

from __future__ import annotations

import numbers

import numpy as np

from core.detector import DetectorError
from core.values import as_finite_values


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DetectorError(f"detect_period: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        raise DetectorError(f"detect_period: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _detrend(values: np.ndarray) -> np.ndarray | None:
    t = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(t, values, 1)
    x = values - (slope * t + intercept)
    scale = x.std()
    if not scale > 1e-12 * max(1.0, float(np.abs(values).max())):
        return None
    return x / scale


def autocorrelation(values, max_lag: int) -> np.ndarray:
    """ACF at lags 0..max_lag of the demeaned series, unbiased (lag k's sum of products divided by
    n - k) and normalised to 1 at lag 0."""
    x = as_finite_values(values, "values")
    x = x - x.mean()
    n = len(x)
    max_lag = min(int(max_lag), n - 1)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(x, size)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1] / (n - np.arange(max_lag + 1))
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def seasonal_strength(values, period: int) -> float:
    """F(T) = max(0, 1 - Var(d - s) / ((1 - 1/c) Var(d))), d = x - centred moving average over T
    points (the 2xT average for even T), s = mean of d per phase, c = len(d) / T (module docstring).
    Dividing by 1 - 1/c, the residual variance's expectation for noise, makes an aperiodic series
    score about 0 whatever T. NaN with fewer than 2 cycles."""
    x = as_finite_values(values, "values")
    return _strength(x, np.concatenate(([0.0], np.cumsum(x))), int(period))


def _strength(x: np.ndarray, csum: np.ndarray, period: int) -> float:
    n = len(x)
    if period < 2 or n < 2 * period:
        return float("nan")
    wide = (csum[period:] - csum[:-period]) / period
    trend = wide if period % 2 else 0.5 * (wide[:-1] + wide[1:])
    half = period // 2
    d = x[half : half + len(trend)] - trend
    cycles, rest = divmod(len(d), period)
    sums = d[: cycles * period].reshape(cycles, period).sum(axis=0)
    counts = np.full(period, float(cycles))
    sums[:rest] += d[cycles * period :]
    counts[:rest] += 1
    total = float(d @ d)
    explained = float((sums * sums / counts).sum())
    var_d = total / len(d) - (d.sum() / len(d)) ** 2
    if not var_d > 0:
        return 0.0
    residual = max(total - explained, 0.0) / len(d)
    return float(max(0.0, 1.0 - residual / (1 - period / len(d)) / var_d))


def segment_similarity(values, period: int) -> float:
    """Mean Pearson correlation of adjacent segments of ``period`` points (NaN with fewer than 2
    segments; constant segments count as 0)."""
    x = as_finite_values(values, "values")
    period = int(period)
    count = len(x) // period
    if count < 2:
        return float("nan")
    seg = x[: count * period].reshape(count, period)
    seg = seg - seg.mean(axis=1, keepdims=True)
    norm = np.sqrt((seg**2).sum(axis=1))
    num = (seg[:-1] * seg[1:]).sum(axis=1)
    den = norm[:-1] * norm[1:]
    corr = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(corr.mean())


def _best_lag(z: np.ndarray, csum: np.ndarray, lags: range, strength: dict[int, float]) -> int:
    for lag in lags:
        if lag not in strength:
            strength[lag] = _strength(z, csum, lag)
    return max(lags, key=lambda t: (strength[t], -t))


def _local_maxima(y: np.ndarray) -> np.ndarray:
    if len(y) < 3:
        return np.zeros(0, dtype=int)
    return np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1


def _proposals(power: np.ndarray, n: int, lo: int, hi: int, count: int) -> list[float]:
    k = np.arange(len(power))
    peaks = _local_maxima(power)
    peaks = peaks[(n / peaks >= lo) & (n / peaks <= hi)]
    return [n / kk for kk in peaks[np.argsort(power[peaks])[::-1][:count]].tolist()] if len(k) else []


def detect_period(
    values,
    min_period: int = 2,
    max_period: int | None = None,
    *,
    min_cycles: int = 3,
    min_strength: float = 0.1,
    min_similarity: float = 0.2,
    min_acf: float = 0.3,
    min_dip: float = 0.1,
    n_candidates: int = 5,
    harmonic_ratio: float = 0.75,
) -> int | None:
    """The period of ``values`` in points, or None when no candidate passes the rule (module
    docstring). ``max_period`` defaults to len(values) // min_cycles."""
    x = as_finite_values(values, "values")
    min_period = _check_int(min_period, "min_period", 2)
    min_cycles = _check_int(min_cycles, "min_cycles", 2)
    n_candidates = _check_int(n_candidates, "n_candidates", 1)
    min_strength = _check_fraction(min_strength, "min_strength")
    min_similarity = _check_fraction(min_similarity, "min_similarity")
    min_acf = _check_fraction(min_acf, "min_acf")
    min_dip = _check_fraction(min_dip, "min_dip")
    harmonic_ratio = _check_fraction(harmonic_ratio, "harmonic_ratio")
    n = len(x)
    longest = n // min_cycles
    if max_period is not None:
        longest = min(longest, _check_int(max_period, "max_period", 2))
    if longest < min_period:
        return None
    z = _detrend(x)
    if z is None:
        return None
    guesses = _proposals(np.abs(np.fft.rfft(z)) ** 2, n, min_period, longest, n_candidates)
    guesses += _proposals(np.abs(np.fft.rfft(np.diff(z))) ** 2, n - 1, min_period, longest, n_candidates)
    acf = autocorrelation(z, longest + 1)
    running_min = np.minimum.accumulate(acf)
    peaks = _local_maxima(acf)
    peaks = peaks[(peaks >= min_period) & (peaks <= longest)]
    peaks = peaks[(acf[peaks] >= min_acf) & (acf[peaks] - running_min[peaks] >= min_dip)]
    guesses += [float(lag) for lag in peaks[np.argsort(acf[peaks])[::-1][:n_candidates]].tolist()]
    csum = np.concatenate(([0.0], np.cumsum(z)))
    strength: dict[int, float] = {}
    candidates: set[int] = set()
    for guess in guesses:
        radius = 2 + int(np.ceil(min(guess / (n / guess), 0.01 * guess)))
        lo, hi = max(min_period, int(guess) - radius), min(longest, int(np.ceil(guess)) + radius)
        if lo > hi:
            continue
        step = max(1, (hi - lo) // 16)
        best = _best_lag(z, csum, range(lo, hi + 1, step), strength)
        candidates.add(_best_lag(z, csum, range(max(lo, best - step), min(hi, best + step) + 1), strength))
    trusted = {
        t: strength[t]
        for t in sorted(candidates)
        if strength[t] >= min_strength and segment_similarity(z, t) >= min_similarity
    }
    if not trusted:
        return None
    best = max(trusted, key=lambda t: (trusted[t], -t))
    divisors = [
        t
        for t in trusted
        if t < best
        and abs(best - round(best / t) * t) <= max(2.0, 0.005 * best)
        and trusted[t] >= harmonic_ratio * trusted[best]
    ]
    return max(divisors, key=lambda t: (trusted[t], -t)) if divisors else best
