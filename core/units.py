"""The one rule that decides the unit of an epoch time from its magnitude.

Sources document the unit of their times (Jaeger: microseconds, OTLP: nanoseconds, the command
line: seconds), but files and users slip: seconds where nanoseconds are expected date a span in
1970, nanoseconds where microseconds are expected date it in the year 54609. Every time of this
era has a magnitude that tells its unit:

============================  ============  ======================================
``|t|``                        unit          dates it covers
============================  ============  ======================================
``[1e8, 1e11)``                seconds       1973-03-03 to 5138-11-16
``[1e11, 1e14)``               milliseconds  the same
``[1e14, 1e17)``               microseconds  the same
``[1e17, 1e20)``               nanoseconds   the same (int64 nanoseconds end in 2262)
============================  ============  ======================================

A time below ``1e8`` is taken in the unit the source documents (a small synthetic or relative
time cannot be told from a time in a finer unit, and no real recording is from 1970-1973). A
time of ``1e20`` or more holds no date in any unit and is refused. A time whose band is not the
documented unit is converted, and the caller counts the conversion and warns
(:class:`UnitWarning`) with the count: it is never silent.

Durations carry no date, so their magnitude cannot tell their unit: where a source gives a
record's start and duration in one documented unit (Jaeger, RCAEval, SpanFrame Parquet), the
duration is converted by the same factor as its record's start time (:func:`follow`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from core.errors import FrameworkWarning

UNITS: dict[str, int] = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
LOW = 1e8
HIGH = 1e20
_ORDER = ("s", "ms", "us", "ns")
_EDGES = np.array([1e8, 1e11, 1e14, 1e17, 1e20])


class UnitWarning(FrameworkWarning):
    """Times were given in another unit than documented and were converted (the message counts them)."""


def unit_of(value: float, documented: str) -> str | None:
    """The unit of one epoch time by the rule of the module docstring (None: beyond every band)."""
    _check_unit(documented)
    magnitude = abs(float(value))
    if not np.isfinite(magnitude) or magnitude >= HIGH:
        return None
    if magnitude < LOW:
        return documented
    return _ORDER[int(np.searchsorted(_EDGES, magnitude, side="right")) - 1]


def unit_codes(values: np.ndarray, documented: str) -> np.ndarray:
    """Per value, the index in ``("s", "ms", "us", "ns")`` of its unit; -1 where none holds it
    (non-finite, or ``|t| >= 1e20``)."""
    _check_unit(documented)
    values = np.asarray(values)
    if len(values) and np.issubdtype(values.dtype, np.integer):
        low, high = int(values.min()), int(values.max())
        if low >= 0 or high < 0:  # magnitudes between those of the two ends: one band holds all
            bands = [-1 if abs(v) < LOW else int(np.searchsorted(_EDGES, abs(v), side="right")) for v in (low, high)]
            if bands[0] == bands[1] and bands[0] < len(_EDGES):
                code = _ORDER.index(documented) if bands[0] < 0 else bands[0] - 1
                return np.full(len(values), code, dtype=np.int64)
    magnitude = np.abs(values.astype(np.float64))
    with np.errstate(invalid="ignore"):
        codes = np.searchsorted(_EDGES, magnitude, side="right").astype(np.int64) - 1
        codes[magnitude < LOW] = _ORDER.index(documented)
        codes[~(magnitude < HIGH)] = -1
    return codes


def convert(values: np.ndarray, codes: np.ndarray, target: str) -> np.ndarray:
    """``values`` (each in the unit ``codes`` names) as int64 in ``target``; rows with code -1 are 0.

    Integer input is converted exactly (multiplied or floor-divided); float input is rounded.
    """
    _check_unit(target)
    values = np.asarray(values)
    out = np.zeros(len(values), dtype=np.int64)
    for code, unit in enumerate(_ORDER):
        rows = codes == code
        if not rows.any():
            continue
        ratio_up, ratio_down = UNITS[target] // UNITS[unit], UNITS[unit] // UNITS[target]
        chunk = values if rows.all() else values[rows]
        if np.issubdtype(chunk.dtype, np.integer):
            chunk = chunk.astype(np.int64)
            scaled = chunk * ratio_up if ratio_up >= 1 else np.floor_divide(chunk, ratio_down)
            if rows.all():
                return scaled
            out[rows] = scaled
        else:
            scaled = chunk.astype(np.float64) * (UNITS[target] / UNITS[unit])
            out[rows] = np.round(scaled).astype(np.int64)
    return out


def follow(durations: np.ndarray, codes: np.ndarray, documented: str, target: str) -> np.ndarray:
    """Durations documented in ``documented`` as float in ``target``, each scaled by the factor
    its record's start time was converted by (``codes`` from :func:`unit_codes` of the starts)."""
    factor = np.ones(len(codes), dtype=np.float64) * (UNITS[target] / UNITS[documented])
    for code, unit in enumerate(_ORDER):
        if unit != documented:
            factor[codes == code] = UNITS[target] / UNITS[unit]
    with np.errstate(over="ignore"):
        return np.asarray(durations, dtype=np.float64) * factor


def conversions(codes: np.ndarray, documented: str, field: str) -> dict[str, int]:
    """``{"<field> in <unit>": count}`` for the values whose unit is not the documented one."""
    counts = np.bincount(codes[codes >= 0], minlength=len(_ORDER))
    return {
        f"{field} in {NAMES[unit]}": int(counts[i]) for i, unit in enumerate(_ORDER) if unit != documented and counts[i]
    }


def warn_converted(converted: Mapping[str, int], source: str, documented: str, *, stacklevel: int = 3) -> None:
    """One :class:`UnitWarning` naming the source and every count of :func:`conversions`."""
    if not converted:
        return
    parts = ", ".join(f"{n} {what}" for what, n in converted.items())
    warnings.warn(
        UnitWarning(f"{source}: converted {parts} to {NAMES[documented]} (the unit told by their magnitude, "
                    "see core.units)"),
        stacklevel=stacklevel,
    )  # fmt: skip


def hint(value: float, documented: str) -> str:
    """`` (it looks like milliseconds: 1661142963 s)`` when ``value`` is in another unit's band."""
    unit = unit_of(value, documented)
    if unit is None or unit == documented:
        return ""
    return f" (it looks like {NAMES[unit]}: {float(value) / UNITS[unit]:.0f} s)"


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {list(UNITS)}, got {unit!r}")
