"""Checks of detector input (series and scalars); each failure is a DetectorError naming the input."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from core.detector import DetectorError


def as_finite_values(values, name: str = "values", max_abs: float | None = None) -> np.ndarray:
    """A 1-D float64 copy of ``values``; rejects non-numeric, NaN and infinite entries (and, with
    ``max_abs``, entries whose magnitude exceeds it)."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DetectorError(f"{name}: expected a 1-D series, got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == object):
        raise DetectorError(f"{name}: values must be numeric, got dtype {arr.dtype}")
    if arr.dtype == object:
        wrong = [v for v in arr if not isinstance(v, numbers.Real) or isinstance(v, bool)]
        if wrong:
            raise DetectorError(f"{name}: values must be numeric, found {wrong[0]!r}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DetectorError(f"{name}: values must be real numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "NaN" if np.isnan(out[i]) else "infinite"
        raise DetectorError(
            f"{name}: {int(bad.sum())} NaN/infinite value(s), first at position {i} ({kind}); "
            "put the series on a regular grid and fill the gaps first (fluxev.regular_grid, fluxev.fill_missing)"
        )
    if max_abs is not None:
        check_magnitude(out, name, max_abs)
    return out


def check_magnitude(values: np.ndarray, name: str, max_abs: float) -> None:
    """DetectorError when an entry's magnitude exceeds ``max_abs`` (beyond which a detector's
    arithmetic overflows float64)."""
    big = np.abs(values) > max_abs
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise DetectorError(
            f"{name}: value {values[i]:g} at position {i} exceeds ±{max_abs:g}, beyond which the detector's "
            "arithmetic overflows float64; rescale the series (e.g. divide by its median)"
        )


def as_timestamps(timestamps, name: str = "series") -> np.ndarray:
    """Timestamps as float seconds; must be strictly increasing."""
    if isinstance(timestamps, pd.DatetimeIndex) or (
        isinstance(timestamps, (pd.Series, pd.Index, np.ndarray))
        and np.issubdtype(np.asarray(timestamps).dtype, np.datetime64)
    ):
        ts = pd.DatetimeIndex(timestamps).as_unit("ns").asi8.astype(np.float64) / 1e9
    else:
        raw = np.asarray(timestamps)
        if raw.dtype == bool or not np.issubdtype(raw.dtype, np.number):
            raise DetectorError(f"{name}: timestamps must be numbers or datetimes, got {raw.dtype}")
        ts = raw.astype(np.float64)
    if ts.ndim != 1:
        raise DetectorError(f"{name}: timestamps must be 1-D")
    if not np.isfinite(ts).all():
        raise DetectorError(f"{name}: timestamps contain NaN/infinite entries")
    steps = np.diff(ts)
    if (steps == 0).any():
        i = int(np.flatnonzero(steps == 0)[0])
        raise DetectorError(f"{name}: duplicate timestamp {ts[i]} at positions {i} and {i + 1}")
    if (steps < 0).any():
        i = int(np.flatnonzero(steps < 0)[0])
        raise DetectorError(f"{name}: timestamps not sorted: {ts[i + 1]} at position {i + 1} follows {ts[i]}")
    return ts


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DetectorError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise DetectorError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def as_finite_scalar(value, name: str = "x", max_abs: float | None = None) -> float:
    """One finite real number as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise DetectorError(f"{name}: must be a real number, got {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise DetectorError(f"{name}: must be finite, got {out}")
    if max_abs is not None and abs(out) > max_abs:
        check_magnitude(np.array([out]), name, max_abs)
    return out
