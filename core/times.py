"""The one time parser and the one bucket-alignment rule of the framework.

Times at package borders are accepted as

- Unix seconds: an ``int``/``float``/numpy number, or a string of digits (``"1661142963"``,
  ``"1661142963.5"``);
- ISO-8601 text (``"2022-08-22T04:36:03Z"``, ``"2022-08-22 04:36:03+08:00"``); text without a
  zone is read as UTC;
- ``datetime.datetime`` / ``datetime.date``, ``numpy.datetime64`` and ``pandas.Timestamp``
  (naive ones are read as UTC).

Booleans, NaN/NaT, infinities and other types are refused. A number of seconds whose magnitude
is 1e11 or more (after the year 5138) is refused as well, because it is almost always a time in
milliseconds, microseconds or nanoseconds given where seconds are expected; the message says so.
With ``units=True`` (the command line, readers of time columns) such a number is instead read in
the unit its magnitude tells (the rule of :mod:`core.units`), with a :class:`core.units.UnitWarning`.
Every parser returns a tz-aware UTC :class:`pandas.Timestamp` (or seconds / microseconds from it).

Durations are seconds (a number) or anything :class:`pandas.Timedelta` reads (``"30s"``,
``"10min"``, ``"1h30m"``).

Bucket alignment: a bucket of width ``w`` aligned on ``origin`` covers
``[origin + k w, origin + (k + 1) w)`` for an integer ``k``; :func:`bucket_floor` gives the start
of the bucket that holds a time.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re

import numpy as np
import pandas as pd

from core import units as unit_rule
from core.errors import FrameworkError, InputError

SECONDS_LIMIT = 1e11
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LAST_SECOND = pd.Timestamp.max.value // 10**9
_FACTORS = np.array([unit_rule.UNITS[u] for u in ("s", "ms", "us", "ns")], dtype=np.float64)


def _from_seconds(
    seconds: float, name: str, original, error: type[FrameworkError], by_magnitude: bool = False
) -> pd.Timestamp:
    if not math.isfinite(seconds):
        raise error(f"{name}: {original!r} is not a finite time")
    if abs(seconds) >= SECONDS_LIMIT:
        unit = unit_rule.unit_of(seconds, "s")
        if not by_magnitude or unit is None:
            raise error(
                f"{name}: {original!r} is not a Unix time in seconds{unit_rule.hint(seconds, 's')}; give seconds"
            )
        converted = seconds / unit_rule.UNITS[unit]
        unit_rule.warn_converted({f"{name} in {unit_rule.NAMES[unit]}": 1}, name, "s", stacklevel=4)
        seconds = converted
    if abs(seconds) > _LAST_SECOND:
        raise error(f"{name}: {original!r} is outside the times this framework can hold (1677-2262)")
    return pd.Timestamp(round(seconds * 1e9), unit="ns", tz="UTC")


def to_timestamp(
    value, name: str = "time", *, error: type[FrameworkError] = InputError, units: bool = False
) -> pd.Timestamp:
    """A tz-aware UTC Timestamp for any accepted time (module docstring); ``error`` is the
    exception class raised for an unusable value (the caller's package family); ``units`` reads
    a number in another unit than seconds by :mod:`core.units` (with a warning) instead of refusing it."""
    if value is None:
        raise error(f"{name}: a time is required")
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64):
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{name}: {value!r} is a boolean, not a time")
    if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, np.datetime64):
        return _from_seconds(float(value), name, value, error, units)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise error(f"{name}: empty text is not a time")
        if _NUMBER.match(text):
            return _from_seconds(float(text), name, value, error, units)
        try:
            stamp = pd.Timestamp(text)
        except (TypeError, ValueError, OverflowError) as exc:
            raise error(f"{name}: cannot read {value!r} as a time (Unix seconds or ISO-8601 expected)") from exc
    elif isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise error(f"{name}: cannot read {value!r} as a time ({exc})") from exc
    else:
        raise error(f"{name}: expected Unix seconds, ISO-8601 text or a datetime, got {type(value).__name__} {value!r}")
    if pd.isna(stamp):
        raise error(f"{name}: {value!r} is not a time (NaT)")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def optional_timestamp(
    value, name: str = "time", *, error: type[FrameworkError] = InputError, units: bool = False
) -> pd.Timestamp | None:
    """:func:`to_timestamp`, or None for None."""
    return None if value is None else to_timestamp(value, name, error=error, units=units)


def to_seconds(value, name: str = "time", *, error: type[FrameworkError] = InputError) -> float:
    """Unix seconds (float) of any accepted time."""
    return to_timestamp(value, name, error=error).value / 1e9


def to_us(value, name: str = "time", *, error: type[FrameworkError] = InputError) -> int | None:
    """Microseconds since the Unix epoch of any accepted time; None for None."""
    if value is None:
        return None
    return int(to_timestamp(value, name, error=error).value // 1000)


def to_timedelta(
    value,
    name: str = "duration",
    *,
    error: type[FrameworkError] = InputError,
    positive: bool = False,
) -> pd.Timedelta:
    """Seconds (a number) or a duration text as a Timedelta; negative durations are refused,
    and zero too when ``positive``."""
    if value is None or isinstance(value, (bool, np.bool_)):
        raise error(f"{name}: expected a duration such as 30s or 10min, got {value!r}")
    if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (np.timedelta64, np.datetime64)):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise error(f"{name}: {value!r} is not a finite duration")
        try:
            delta = pd.Timedelta(seconds=seconds)
        except (OverflowError, ValueError) as exc:
            raise error(
                f"{name}: {value!r} seconds is beyond the durations this framework can hold (292 years)"
            ) from exc
    else:
        try:
            delta = pd.Timedelta(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise error(f"{name}: cannot read {value!r} as a duration such as 30s or 10min") from exc
    if pd.isna(delta):
        raise error(f"{name}: {value!r} is not a duration (NaT)")
    if delta < pd.Timedelta(0) or (positive and delta == pd.Timedelta(0)):
        raise error(f"{name}: must be {'positive' if positive else 'non-negative'}, got {value!r}")
    return delta


def bucket_floor(time, width, origin=None, *, error: type[FrameworkError] = InputError) -> pd.Timestamp:
    """Start of the ``width``-wide bucket that holds ``time``, buckets aligned on ``origin``
    (default the Unix epoch)."""
    stamp = to_timestamp(time, "time", error=error)
    step = to_timedelta(width, "bucket", error=error, positive=True)
    base = pd.Timestamp(0, tz="UTC") if origin is None else to_timestamp(origin, "origin", error=error)
    return base + step * ((stamp - base) // step)


def format_time(value) -> str:
    """``2022-08-22 04:36:03 UTC`` for a time (whole seconds; fractions kept when present)."""
    stamp = to_timestamp(value)
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + " UTC"


def format_duration(value) -> str:
    """``30s``, ``10min``, ``1h30min``, ``250ms`` for a duration."""
    delta = to_timedelta(value)
    total_ms = round(delta.total_seconds() * 1000)
    if total_ms % 1000:
        return f"{total_ms}ms" if total_ms < 60_000 else f"{total_ms / 1000:g}s"
    seconds = total_ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}min" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def to_datetime_index(
    values, name: str = "times", *, error: type[FrameworkError] = InputError, units: bool = False
) -> pd.DatetimeIndex:
    """Many times at once, by the rules of :func:`to_timestamp` (numbers and digit strings are
    Unix seconds, other text ISO-8601, naive read as UTC); the first unusable one is named.
    ``units``: numbers in another unit than seconds are read by :mod:`core.units` (one warning
    with the count) instead of refused."""
    series = pd.Series(values)
    if series.dtype == bool:
        raise error(f"{name}: booleans are not times")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        index = pd.DatetimeIndex(series)
        if index.isna().any():
            raise error(f"{name}: position {int(np.flatnonzero(index.isna())[0])} is not a time (NaT)")
        return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    numeric = pd.to_numeric(series, errors="coerce")
    is_number = numeric.notna().to_numpy()
    if (series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy()).any():
        i = int(np.flatnonzero(series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy())[0])
        raise error(f"{name} at position {i}: {series.iloc[i]!r} is a boolean, not a time")
    out = np.zeros(len(series), dtype="int64")
    if is_number.any():
        seconds = numeric.to_numpy(dtype=float)[is_number]
        if units:
            codes = unit_rule.unit_codes(seconds, "s")
            converted = unit_rule.conversions(codes, "s", name)
            seconds = np.where(codes >= 0, seconds / np.take(_FACTORS, np.maximum(codes, 0)), seconds)
        bad = ~np.isfinite(seconds) | (np.abs(seconds) >= SECONDS_LIMIT) | (np.abs(seconds) > _LAST_SECOND)
        if bad.any():
            i = int(np.flatnonzero(is_number)[np.flatnonzero(bad)[0]])
            to_timestamp(series.iloc[i], f"{name} at position {i}", error=error, units=units)
            raise error(f"{name} at position {i}: {series.iloc[i]!r} is outside the times this framework can hold")
        if units:
            unit_rule.warn_converted(converted, name, "s")
        out[is_number] = np.round(seconds * 1e9).astype("int64")
    rest = ~is_number
    if rest.any():
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(series[rest], utc=True, errors="coerce", format="mixed"))
        except (TypeError, ValueError, OverflowError) as exc:
            raise error(f"{name}: cannot read the times ({exc})") from exc
        if parsed.isna().any():
            i = int(np.flatnonzero(rest)[np.flatnonzero(parsed.isna())[0]])
            to_timestamp(series.iloc[i], f"{name} at position {i}", error=error)
            raise error(f"{name} at position {i}: {series.iloc[i]!r} is not a time")
        out[rest] = parsed.as_unit("ns").asi8
    return pd.DatetimeIndex(pd.to_datetime(out, unit="ns", utc=True))
