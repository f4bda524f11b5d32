"""Azure Anomaly Detector's univariate API (v1.1): request checks, imputation and the model.

The contract (docs/service.md; ``research/seed_systems.md`` section 2.1): ``series`` of 12 to
8640 points ``{timestamp, value}``, ascending without duplicates; ``granularity`` (``none`` by
default: timestamps may be absent) with ``customInterval``; ``period`` (detected when absent);
``maxAnomalyRatio`` in (0, 0.5) (default 0.25); ``sensitivity`` 0..99 (default 99); ``imputeMode``
``auto|previous|linear|fixed|zero|notFill`` for the points missing on the granularity's grid.

The model (the framework's own; Azure's is not published):

* period: the one given, else :func:`core.period.detect_period` (0 when none is found);
* expected value: with a period p (and two cycles), the median of the points at the same phase,
  shifted by the centred rolling median (p points) of what remains, so the level may move; without,
  the centred rolling median of 7 points;
* margins: k * sigma on both sides, sigma = 1.4826 * MAD of the residuals (a floor of 1e-6 times
  the mean absolute expected value, so that a constant series has a band), k = 4 * f(sensitivity),
  f(s) = 1 + (99 - s) / 33 (1 at 99, 4 at 0: a lower sensitivity widens the band);
* anomaly: Spectral Residual (the ``"sr"`` detector of :mod:`detectors.sr`, Ren et al., KDD 2019,
  the unsupervised model of Azure's own SR-CNN) run on the residuals (value minus expected value:
  with the season removed, dips are as salient as spikes) fires with threshold
  tau = 3 * f(sensitivity), AND the point lies outside the band; at most
  floor(maxAnomalyRatio * n) anomalies, the most severe;
* severity: 1 - margin / |residual| for an anomaly (in (0, 1)), 0 otherwise; positive/negative by
  the residual's sign.

SR judges a point on the ``window`` points ending at it (64, or n when shorter); for the first
points, the history is the residuals' opening reflected in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.detector import DetectorError
from core.period import detect_period
from detectors import make_detector
from detectors.changepoint import change_points
from service.errors import AzureError

MIN_POINTS = 12
MAX_POINTS = 8640
GRANULARITIES = ("yearly", "monthly", "weekly", "daily", "hourly", "minutely", "secondly", "microsecond", "none")
IMPUTE_MODES = ("auto", "previous", "linear", "fixed", "zero", "notFill")
DEFAULT_RATIO = 0.25
DEFAULT_SENSITIVITY = 99
SR_WINDOW = 64
MARGIN_SIGMAS = 4.0
SR_THRESHOLD = 3.0
SUGGESTED_WINDOW = {
    "minutely": 1440,
    "hourly": 168,
    "daily": 28,
    "secondly": 3600,
    "microsecond": 1000,
    "weekly": 52,
    "monthly": 24,
    "yearly": 12,
    "none": 28,
}
"""``suggestedWindow`` without a period: minutely, hourly and daily from Azure's open-source
package (``util/enum.py``); the others are the framework's choice."""


@dataclass
class Prepared:
    """The checked request: ``values`` on the grid (imputed), ``positions`` of the input points."""

    values: np.ndarray
    positions: np.ndarray
    granularity: str
    period: int | None
    sensitivity: int
    max_ratio: float


def _step(granularity: str, interval: int):
    if granularity == "yearly":
        return pd.DateOffset(years=interval)
    if granularity == "monthly":
        return pd.DateOffset(months=interval)
    unit = {"weekly": "7D", "daily": "1D", "hourly": "1h", "minutely": "1min", "secondly": "1s", "microsecond": "1us"}
    return pd.Timedelta(unit[granularity]) * interval


def _number(options: dict, key: str, kind: type, code: str, check, what: str):
    value = options.get(key)
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
    if kind is int and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or not check(value):
        raise AzureError(code, f"The '{key}' field {what}.")
    return value


def check_series(options: dict, granularity_required: bool = False) -> tuple[list[dict], str, int]:
    """The series, granularity and customInterval of ``options``, or the Azure error."""
    series = options.get("series")
    if series is None:
        raise AzureError("RequiredSeries", "The 'series' field is required in request.")
    if not isinstance(series, list):
        raise AzureError("InvalidSeries", "The 'series' field must be a list of {timestamp, value} points.")
    granularity = options.get("granularity")
    if granularity is None:
        if granularity_required:
            raise AzureError("RequiredGranularity", "The 'granularity' field is required in request.")
        granularity = "none"
    if not isinstance(granularity, str) or granularity not in GRANULARITIES:
        raise AzureError(
            "InvalidGranularity",
            f"The 'granularity' field must be one of {', '.join(GRANULARITIES)}; got {granularity!r}.",
        )
    interval = _number(
        options, "customInterval", int, "InvalidCustomInterval", lambda v: v > 0, "must be a positive integer"
    )
    if len(series) < MIN_POINTS:
        raise AzureError("InvalidSeries", f"The 'series' field must have at least {MIN_POINTS} points.")
    if len(series) > MAX_POINTS:
        raise AzureError("InvalidSeries", f"The 'series' field cannot have more than {MAX_POINTS} points.")
    for i, point in enumerate(series):
        value = point.get("value") if isinstance(point, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AzureError(
                "InvalidSeries", f"The 'value' at index {i} of the 'series' field must be a finite number."
            )
    return series, granularity, interval or 1


def _timestamps(series: list[dict], granularity: str) -> pd.DatetimeIndex | None:
    raw = [p.get("timestamp") for p in series]
    if all(t is None for t in raw) and granularity == "none":
        return None
    stamps = []
    for i, t in enumerate(raw):
        try:
            stamp = pd.Timestamp(t) if isinstance(t, str) else None
        except ValueError:
            stamp = None
        if stamp is None or pd.isna(stamp):
            raise AzureError("InvalidSeries", f"The 'timestamp' at index {i} is invalid in {granularity} granularity.")
        stamps.append(stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC"))
    index = pd.DatetimeIndex(stamps)
    diffs = np.diff(index.asi8)
    if (diffs == 0).any():
        raise AzureError("InvalidSeries", "The 'series' field cannot have duplicated timestamp.")
    if (diffs < 0).any():
        raise AzureError("InvalidSeries", "The 'series' field must be sorted by timestamp in ascending order.")
    return index


def prepare(options: dict) -> Prepared:
    """Check ``options`` (a decoded request body) and put the values on the grid (module docstring)."""
    series, granularity, interval = check_series(options)
    period = _number(options, "period", int, "InvalidPeriod", lambda v: v >= 0, "must be a non-negative integer")
    ratio = _number(
        options,
        "maxAnomalyRatio",
        float,
        "InvalidModelArgument",
        lambda v: 0 < v < 0.5,
        "must be a number with 0 < maxAnomalyRatio < 0.5",
    )
    sensitivity = _number(
        options,
        "sensitivity",
        int,
        "InvalidModelArgument",
        lambda v: 0 <= v <= 99,
        "must be an integer between 0 and 99",
    )
    mode = options.get("imputeMode") or "auto"
    if mode not in IMPUTE_MODES:
        raise AzureError("InvalidImputeMode", f"The 'imputeMode' field must be one of {', '.join(IMPUTE_MODES)}.")
    fixed = options.get("imputeFixedValue")
    if mode == "fixed" and (isinstance(fixed, bool) or not isinstance(fixed, (int, float)) or not math.isfinite(fixed)):
        raise AzureError(
            "InvalidImputeFixedValue", "The 'imputeFixedValue' field must be a number when imputeMode is fixed."
        )
    values = np.array([float(p["value"]) for p in series])
    positions = np.arange(len(values))
    index = _timestamps(series, granularity)
    if index is not None and granularity != "none" and mode != "notFill":
        grid = pd.date_range(index[0], index[-1], freq=_step(granularity, interval))
        where = grid.get_indexer(index)
        bad = np.flatnonzero(where < 0)
        if len(bad):
            raise AzureError(
                "InvalidSeries", f"The 'timestamp' at index {int(bad[0])} is invalid in {granularity} granularity."
            )
        if len(grid) > MAX_POINTS or len(grid) >= 2 * len(values):
            raise AzureError(
                "InvalidSeries",
                f"Ratio of missing points should be less than 50%: {len(grid) - len(values)} of {len(grid)} "
                "points missing.",
            )
        full = pd.Series(np.nan, index=np.arange(len(grid)))
        full.iloc[where] = values
        if mode in ("auto", "linear"):
            full = full.interpolate(method="linear")
        elif mode == "previous":
            full = full.ffill()
        else:
            full = full.fillna(0.0 if mode == "zero" else float(fixed))  # type: ignore[arg-type]
        values, positions = full.to_numpy(dtype=float), where
    return Prepared(
        values,
        positions,
        granularity,
        period,
        DEFAULT_SENSITIVITY if sensitivity is None else sensitivity,
        DEFAULT_RATIO if ratio is None else float(ratio),
    )


def sensitivity_factor(sensitivity: int) -> float:
    """f(s) = 1 + (99 - s) / 33 (module docstring)."""
    return 1.0 + (99 - sensitivity) / 33.0


def resolve_period(values: np.ndarray, period: int | None) -> int:
    """The period given, else the detected one, else 0."""
    if period is not None:
        return int(period)
    found = detect_period(values) if len(values) >= 6 else None
    return int(found) if found else 0


def expected_values(values: np.ndarray, period: int) -> np.ndarray:
    """Seasonal median plus the rolling median of what remains, or a rolling median (module docstring)."""
    x = pd.Series(values)
    if period > 1 and len(values) >= 2 * period:
        phase = np.arange(len(values)) % period
        seasonal = x.groupby(phase).transform("median")
        level = (x - seasonal).rolling(period, center=True, min_periods=1).median()
        return (seasonal + level).to_numpy(dtype=float)
    return x.rolling(7, center=True, min_periods=1).median().to_numpy(dtype=float)


def sr_scores(values: np.ndarray) -> tuple[np.ndarray, Any]:
    """Spectral Residual scores of every point (history: the opening reflected) and the detector."""
    n = len(values)
    window = min(SR_WINDOW, n)
    detector = make_detector("sr", window=window, z=min(21, window - 2))
    history = values[1:window][::-1]
    detector.fit(history)
    return detector.detect(values).score, detector


def detect_values(
    values, period: int | None = None, sensitivity: int = DEFAULT_SENSITIVITY, max_ratio: float = DEFAULT_RATIO
):
    """The model on a regular series (module docstring): a dict of arrays ``expected``, ``margin``,
    ``anomaly``, ``positive``, ``negative``, ``severity``, ``score`` and the ``period``."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < MIN_POINTS or not np.isfinite(x).all():
        raise DetectorError(f"values: need at least {MIN_POINTS} finite values, got {x.shape}")
    p = resolve_period(x, period)
    expected = expected_values(x, p)
    residual = x - expected
    sigma = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    sigma = max(sigma, 1e-6 * max(float(np.mean(np.abs(expected))), 1.0))
    f = sensitivity_factor(sensitivity)
    margin = np.full(len(x), MARGIN_SIGMAS * f * sigma)
    score, _ = sr_scores(residual)
    anomaly = (score > SR_THRESHOLD * f) & (np.abs(residual) > margin)
    severity = np.where(anomaly, 1.0 - margin / np.maximum(np.abs(residual), 1e-300), 0.0)
    cap = math.floor(max_ratio * len(x))
    if anomaly.sum() > cap:
        keep = np.argsort(-severity, kind="stable")[:cap]
        capped = np.zeros(len(x), dtype=bool)
        capped[keep] = True
        anomaly &= capped
        severity = np.where(anomaly, severity, 0.0)
    return {
        "period": p,
        "expected": expected,
        "margin": margin,
        "anomaly": anomaly,
        "positive": anomaly & (residual > 0),
        "negative": anomaly & (residual < 0),
        "severity": severity,
        "score": score,
    }


def _run(options: dict) -> tuple[Prepared, dict]:
    prep = prepare(options)
    return prep, detect_values(prep.values, prep.period, prep.sensitivity, prep.max_ratio)


def entire(options: dict) -> dict:
    """The body of ``timeseries/entire/detect``."""
    prep, out = _run(options)
    at = prep.positions
    margins = [float(v) for v in out["margin"][at]]
    return {
        "period": out["period"],
        "expectedValues": [float(v) for v in out["expected"][at]],
        "upperMargins": margins,
        "lowerMargins": margins,
        "isAnomaly": [bool(v) for v in out["anomaly"][at]],
        "isNegativeAnomaly": [bool(v) for v in out["negative"][at]],
        "isPositiveAnomaly": [bool(v) for v in out["positive"][at]],
        "severity": [float(v) for v in out["severity"][at]],
    }


def last(options: dict) -> dict:
    """The body of ``timeseries/last/detect`` (the last point of the same model)."""
    prep, out = _run(options)
    period = out["period"]
    return {
        "period": period,
        "suggestedWindow": 4 * period + 1 if period > 1 else SUGGESTED_WINDOW[prep.granularity],
        "expectedValue": float(out["expected"][-1]),
        "upperMargin": float(out["margin"][-1]),
        "lowerMargin": float(out["margin"][-1]),
        "isAnomaly": bool(out["anomaly"][-1]),
        "isNegativeAnomaly": bool(out["negative"][-1]),
        "isPositiveAnomaly": bool(out["positive"][-1]),
        "severity": float(out["severity"][-1]),
    }


def changepoint(options: dict) -> dict:
    """The body of ``timeseries/changepoint/detect`` (:mod:`detectors.changepoint`)."""
    series, granularity, _ = check_series(options, granularity_required=True)
    _timestamps(series, granularity)
    period = _number(options, "period", int, "InvalidPeriod", lambda v: v >= 0, "must be a non-negative integer")
    window = _number(
        options,
        "stableTrendWindow",
        int,
        "InvalidModelArgument",
        lambda v: 1 <= v <= len(series) // 2,
        "must be an integer between 1 and half the series length",
    )
    threshold = _number(
        options, "threshold", float, "InvalidModelArgument", lambda v: 0 <= v <= 1, "must be a number between 0 and 1"
    )
    values = np.array([float(p["value"]) for p in series])
    is_cp, confidence = change_points(values, window or 10, 0.99 if threshold is None else float(threshold))
    return {
        "period": resolve_period(values, period),
        "isChangePoint": [bool(v) for v in is_cp],
        "confidenceScores": [float(v) for v in confidence],
    }
