"""Time values at package borders: Unix seconds (float), tz-aware pandas Timestamps, ISO strings."""
from __future__ import annotations

import numbers

import pandas as pd

from collectors.errors import CollectError


def to_us(value, name: str = "time") -> int | None:
    """Microseconds since the Unix epoch for seconds, a Timestamp/datetime or an ISO string."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return int(round(float(value) * 1_000_000))
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise CollectError(f"{name}: cannot read {value!r} as a time: {exc}") from exc
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1000)


def to_timestamp(value, name: str = "time") -> pd.Timestamp | None:
    """A tz-aware UTC Timestamp for anything :func:`to_us` accepts."""
    us = to_us(value, name)
    return None if us is None else pd.Timestamp(us * 1000, tz="UTC")
