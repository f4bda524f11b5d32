"""Any detector of the protocol on pandas objects: a Series, or every column of a DataFrame.

The series is split into a training part (the first ``train_len`` points, or those up to
``train_until``, inclusive) and the part that is detected.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from core.detector import Detector, DetectorError
from core.preprocessing import fill_missing
from core.times import to_timestamp
from core.values import as_finite_values, as_timestamps

COLUMNS = ("score", "threshold", "alarm")


def _train_length(index: pd.Index, train_len, train_until) -> int:
    if (train_len is None) == (train_until is None):
        raise DetectorError("give exactly one of train_len (points) or train_until (a time)")
    if train_len is not None:
        if isinstance(train_len, bool) or not isinstance(train_len, numbers.Integral) or int(train_len) < 1:
            raise DetectorError(f"train_len: must be a positive integer, got {train_len!r}")
        if int(train_len) >= len(index):
            raise DetectorError(f"train_len: {train_len} leaves no point to detect in {len(index)}")
        return int(train_len)
    until = train_until
    if isinstance(index, pd.DatetimeIndex):
        until = to_timestamp(until, "train_until", error=DetectorError)
        if index.tz is None:
            until = until.tz_convert(None)
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DetectorError("series: index must be sorted and unique to split at train_until")
    try:
        count = int(index.searchsorted(until, side="right"))
    except TypeError as exc:
        raise DetectorError(f"train_until: {train_until!r} cannot be compared with the index") from exc
    if count == 0 or count >= len(index):
        raise DetectorError(f"train_until: {train_until!r} leaves no training or no test points")
    return count


def detect_series(series, detector: Detector, train_len=None, train_until=None, fill: bool = False) -> pd.DataFrame:
    """``detector`` (a :class:`core.Detector`; a fitted copy is made) on one series.

    Returns a DataFrame with the input's index and columns ``score`` (over the training part
    too when the detector records it as ``train_score_``, else NaN there), ``threshold`` (NaN on
    the training part), ``alarm``, and ``expected``/``lower``/``upper`` when the detector
    forecasts. NaN values are an error unless ``fill=True``, which fills them (FluxEV's day
    rule when the detector has a ``period``, linear otherwise) and never raises an alarm on a
    filled point; ``out.attrs["filled"]`` counts them.
    """
    if not isinstance(detector, Detector):
        raise DetectorError(f"detector: expected a core.Detector, got {type(detector).__name__}")
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    name = f"series {series.name!r}" if series.name is not None else "series"
    if isinstance(series.index, pd.DatetimeIndex):
        as_timestamps(series.index, name)
    n_train = _train_length(series.index, train_len, train_until)
    raw = series.to_numpy()
    filled = np.zeros(len(raw), dtype=bool)
    if fill:
        numeric = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        if np.isinf(numeric).any():
            raise DetectorError(f"{name}: infinite values")
        if (np.isnan(numeric) & ~pd.isna(series).to_numpy()).any():
            raise DetectorError(f"{name}: values must be numeric")
        filled = np.isnan(numeric)
        period = getattr(detector, "period", None)
        raw = fill_missing(numeric, period if isinstance(period, int) and period > 0 else len(numeric) + 1)
    values = as_finite_values(raw, name)
    fitted = detector.clone().fit(values[:n_train])
    result = fitted.detect(values[n_train:])
    train_score = getattr(fitted, "train_score_", None)
    if train_score is None or len(train_score) != n_train:
        train_score = np.full(n_train, np.nan)
    columns = {
        "score": np.concatenate((train_score, result.score)),
        "threshold": np.concatenate((np.full(n_train, np.nan), result.threshold)),
        "alarm": np.concatenate((np.zeros(n_train, dtype=bool), result.alarm & ~filled[n_train:])),
    }
    for field in ("expected", "lower", "upper"):
        part = getattr(result, field)
        if part is not None:
            columns[field] = np.concatenate((np.full(n_train, np.nan), part))
    out = pd.DataFrame(columns, index=series.index)
    out.attrs["filled"] = int(filled.sum())
    return out


def detect_frame(
    frame: pd.DataFrame, detector: Detector, train_len=None, train_until=None, errors: str = "skip", fill: bool = False
) -> pd.DataFrame:
    """``detect_series`` on every column of ``frame``.

    Returns a DataFrame with the frame's index and column MultiIndex (column, field) with fields
    ``score, threshold, alarm``. The detector's parameters are checked once, before any column.
    With ``errors="skip"`` a column that cannot be modelled (too short, NaN without ``fill``, ...)
    is left out and listed in ``result.attrs["skipped"]`` as ``{column: reason}``; with
    ``errors="raise"`` its DetectorError propagates.
    """
    if not isinstance(detector, Detector):
        raise DetectorError(f"detector: expected a core.Detector, got {type(detector).__name__}")
    detector.validate()
    if not isinstance(frame, pd.DataFrame):
        raise DetectorError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}")
    if errors not in ("skip", "raise"):
        raise DetectorError(f"errors: must be 'skip' or 'raise', got {errors!r}")
    if not frame.columns.is_unique:
        raise DetectorError("frame: column names must be unique")
    parts, skipped = {}, {}
    for column in frame.columns:
        try:
            parts[column] = detect_series(frame[column], detector, train_len, train_until, fill=fill)
        except DetectorError as exc:
            if errors == "raise":
                raise
            skipped[column] = str(exc)
    if parts:
        out = pd.concat(parts, axis=1)
    else:
        out = pd.DataFrame(index=frame.index, columns=pd.MultiIndex.from_tuples([], names=[None, None]))
    out.attrs["skipped"] = skipped
    return out
