"""One-call FluxEV on pandas objects: a Series, or every column of a DataFrame."""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from fluxev.detector import FluxEV
from fluxev.errors import DetectorError
from fluxev.preprocessing import fill_missing
from fluxev.validation import as_finite_values, as_timestamps

COLUMNS = ("score", "threshold", "alarm")


def _train_length(index: pd.Index, train_len, train_until) -> int:
    if (train_len is None) == (train_until is None):
        raise DetectorError("give exactly one of train_len (points) or train_until (a time)")
    if train_len is not None:
        if isinstance(train_len, bool) or not isinstance(train_len, numbers.Integral) or train_len < 1:
            raise DetectorError(f"train_len: must be a positive integer, got {train_len!r}")
        if train_len >= len(index):
            raise DetectorError(f"train_len: {train_len} leaves no point to detect in {len(index)}")
        return int(train_len)
    until = train_until
    if isinstance(index, pd.DatetimeIndex):
        if isinstance(until, numbers.Real) and not isinstance(until, bool):
            until = pd.Timestamp(float(until), unit="s", tz="UTC")
        until = pd.Timestamp(until)
        if index.tz is not None and until.tz is None:
            raise DetectorError("train_until: naive time for a tz-aware index; give a UTC time")
        if index.tz is None and until.tz is not None:
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


def detect_series(series, train_len=None, train_until=None, fill: bool = False, **params) -> pd.DataFrame:
    """FluxEV on one series: the first ``train_len`` points (or those up to ``train_until``,
    inclusive) initialise the detector, the rest are detected.

    Returns a DataFrame with the input's index and columns ``score`` (SSE, or FSE with
    smoothing 1; NaN during the warm-up), ``threshold`` (NaN on the training part) and ``alarm``.
    NaN values are an error unless ``fill=True``, which fills them (the paper's day rule when a
    period is given, linear otherwise) and never raises an alarm on a filled point.
    """
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
        period = params.get("period")
        raw = fill_missing(numeric, period if period else len(numeric) + 1)
    values = as_finite_values(raw, name)
    try:
        detector = FluxEV(**params)
    except TypeError as exc:
        raise DetectorError(f"unknown FluxEV parameter ({exc})") from exc
    detector.fit(values[:n_train])
    result = detector.detect(values[n_train:])
    score = np.concatenate((detector.train_score_, result.score))
    threshold = np.concatenate((np.full(n_train, np.nan), result.threshold))
    alarm = np.concatenate((np.zeros(n_train, dtype=bool), result.alarm & ~filled[n_train:]))
    out = pd.DataFrame({"score": score, "threshold": threshold, "alarm": alarm}, index=series.index)
    out.attrs["filled"] = int(filled.sum())
    return out


def detect_frame(frame: pd.DataFrame, train_len=None, train_until=None, errors: str = "skip",
                 fill: bool = False, **params) -> pd.DataFrame:
    """``detect_series`` on every column of ``frame``.

    Returns a DataFrame with the frame's index and column MultiIndex (column, field) with fields
    ``score, threshold, alarm``. With ``errors="skip"`` a column that cannot be modelled (too short,
    NaN without ``fill``, ...) is left out and listed in ``result.attrs["skipped"]`` as
    ``{column: reason}``; with ``errors="raise"`` its DetectorError propagates.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DetectorError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}")
    if errors not in ("skip", "raise"):
        raise DetectorError(f"errors: must be 'skip' or 'raise', got {errors!r}")
    if not frame.columns.is_unique:
        raise DetectorError("frame: column names must be unique")
    parts, skipped = {}, {}
    for column in frame.columns:
        try:
            parts[column] = detect_series(frame[column], train_len, train_until, fill=fill, **params)
        except DetectorError as exc:
            if errors == "raise":
                raise
            skipped[column] = str(exc)
    if parts:
        out = pd.concat(parts, axis=1)
    else:
        out = pd.DataFrame(index=frame.index,
                           columns=pd.MultiIndex.from_tuples([], names=[None, None]))
    out.attrs["skipped"] = skipped
    return out
