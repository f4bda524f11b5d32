"""Bands around a forecast, as FreeWheel's detector builds them (seed 001, "如何计算上下界" and
"区间太紧"):

* the forecast's standard error s, floored at ``rel_floor`` times |expected| (a series fitted so
  well that s is tiny would flag every +/-10 % wiggle);
* the central interval of confidence ``level`` of N(expected, s^2), or, for a non-negative metric,
  of that normal truncated at 0 (the quantiles of ``scipy.stats.truncnorm``, computed with
  ``scipy.special``'s ndtr/ndtri: most business metrics are non-negative);
* merged with the tolerated jitter: the band is at least expected +/- ``jitter`` |expected|.

A point's score is the confidence level at which it sits on the band's edge, in "nines":
score = -log10(2 P(X beyond x)) under the (truncated) normal, 0 inside the jitter; the alarm
threshold is -log10(1 - level) (2 for level 0.99), and the severity of a point is the number of
``tiers`` (confidence levels) whose band it leaves.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from core.detector import DetectorError

SIDES = ("both", "upper", "lower")


def check_band_params(level, tiers, rel_floor, jitter, side, non_negative) -> None:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise DetectorError(f"level: must be a confidence in (0, 1), got {level!r}")
    if not isinstance(tiers, (tuple, list)) or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1 for t in tiers
    ):
        raise DetectorError(f"tiers: must be a list of confidences in (0, 1), got {tiers!r}")
    for name, value in (("rel_floor", rel_floor), ("jitter", jitter)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise DetectorError(f"{name}: must be a number >= 0, got {value!r}")
    if side not in SIDES:
        raise DetectorError(f"side: must be one of {SIDES}, got {side!r}")
    if non_negative not in (True, False, "auto"):
        raise DetectorError(f"non_negative: must be True, False or 'auto', got {non_negative!r}")


def effective_std(expected: np.ndarray, std: np.ndarray, rel_floor: float) -> np.ndarray:
    """max(s, rel_floor |expected|), and never 0 (1e-12 of the scale)."""
    floor = np.maximum(rel_floor * np.abs(expected), 1e-12 * np.maximum(np.abs(expected), 1.0))
    return np.maximum(std, floor)


def interval(expected, std, level: float, non_negative: bool) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of N(expected, std^2), truncated at 0 when ``non_negative``
    (the quantiles of ``scipy.stats.truncnorm``: mu + s ndtri(Phi(a) + p (1 - Phi(a))), a = -mu/s)."""
    expected, std = np.asarray(expected, dtype=float), np.asarray(std, dtype=float)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    if not non_negative:
        z = special.ndtri(hi_q)
        return expected - z * std, expected + z * std
    below = special.ndtr(-expected / std)
    quantile = lambda p: expected + std * special.ndtri(below + p * (1 - below))  # noqa: E731
    return np.maximum(quantile(lo_q), 0.0), quantile(hi_q)


def band(expected, std, level, non_negative, jitter) -> tuple[np.ndarray, np.ndarray]:
    """The interval merged with the jitter (module docstring)."""
    lower, upper = interval(expected, std, level, non_negative)
    tolerance = jitter * np.abs(expected)
    lower = np.minimum(lower, expected - tolerance)
    upper = np.maximum(upper, expected + tolerance)
    if non_negative:
        lower = np.maximum(lower, 0.0)
    return lower, upper


def _log_tail(v, mu, sd, upper: bool, non_negative: bool) -> np.ndarray:
    """log P(X > v) (upper) or log P(X < v) for X ~ N(mu, sd^2), truncated at 0 if non_negative."""
    z, a = (v - mu) / sd, -mu / sd
    if not non_negative:
        return special.log_ndtr(-z) if upper else special.log_ndtr(z)
    log_mass = special.log_ndtr(-a)
    if upper:
        return special.log_ndtr(-np.maximum(z, a)) - log_mass
    log_z, log_a = special.log_ndtr(np.maximum(z, a)), special.log_ndtr(a)
    with np.errstate(divide="ignore"):
        return log_z + np.log1p(-np.exp(np.minimum(log_a - log_z, 0.0))) - log_mass


def nines(x, expected, std, non_negative: bool, jitter: float, side: str = "both") -> np.ndarray:
    """score = -log10(2 P(beyond x)) under the (truncated) normal; 0 within the jitter."""
    x, expected, std = (np.asarray(v, dtype=float) for v in (x, expected, std))
    score = np.zeros(len(x))
    tolerance = jitter * np.abs(expected)
    up = (x > expected + tolerance) & (side != "lower")
    down = (x < expected - tolerance) & (side != "upper")
    for mask, upper in ((up, True), (down, False)):
        if mask.any():
            log_tail = _log_tail(x[mask], expected[mask], std[mask], upper, non_negative)
            score[mask] = np.maximum(0.0, -(np.log(2.0) + log_tail) / np.log(10.0))
    return score


def threshold_of(level: float) -> float:
    """The score at the edge of the ``level`` band: -log10(1 - level)."""
    return float(-np.log10(1.0 - level))


def severity(score: np.ndarray, tiers) -> np.ndarray:
    """Number of tiers (confidence levels) whose band each point leaves."""
    limits = np.array([threshold_of(t) for t in tiers])
    return (np.asarray(score)[:, None] > limits[None, :]).sum(axis=1)


def smape(actual, forecast) -> float:
    """SMAPE in percent: 100/n sum 2 |F - A| / (|A| + |F|); a point with A = F = 0 counts 0."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    if len(a) != len(f) or len(a) == 0:
        raise DetectorError(f"smape: need equal, non-empty lengths, got {len(a)} and {len(f)}")
    den = np.abs(a) + np.abs(f)
    terms = np.divide(2 * np.abs(f - a), den, out=np.zeros(len(a)), where=den > 0)
    return float(100 * terms.mean())
