"""Metis' input: three windows around the tested point, checked and cut into Metis' five parts.

For a window of w points (Metis' ``window``, 180 in the original): ``dataA`` is the tested point and
the w before it (w + 1 values), ``dataB`` the same time of day yesterday with w points on each side
(2w + 1), ``dataC`` the same one week ago (2w + 1). Their concatenation C + B + A has 5w + 3
values; the parts are c_left = C[:w+1], c_right = C[w:], b_left, b_right likewise, and a = A (the
halves overlap at the centre, which has the tested point's time of day).

Values are numbers or comma-separated text; floats are accepted (the original parsed them with
``int()`` and failed on decimals). Errors are :class:`core.DetectorError` with Metis' wording.
"""

from __future__ import annotations

import numpy as np

from core.detector import DetectorError


def parse_window(values, name: str) -> np.ndarray:
    """One window as float64: a sequence of numbers or comma-separated text."""
    if isinstance(values, str):
        items = [v.strip() for v in values.split(",")] if values.strip() else []
    elif isinstance(values, np.ndarray):
        items = values.ravel().tolist() if values.ndim == 1 else None  # type: ignore[assignment]
        if items is None:
            raise DetectorError(f"{name}: expected a 1-D sequence of numbers, got shape {values.shape}")
    else:
        try:
            items = list(values)
        except TypeError:
            raise DetectorError(f"{name}: expected numbers or comma-separated text, got {values!r}") from None
    if not items:
        raise DetectorError(f"{name} can not be empty")
    out = np.empty(len(items))
    for i, item in enumerate(items):
        if isinstance(item, bool):
            raise DetectorError(f"{name} contains illegal numbers: {item!r} at position {i}")
        try:
            out[i] = float(item)
        except (TypeError, ValueError):
            raise DetectorError(f"{name} contains illegal numbers: {item!r} at position {i}") from None
    if not np.isfinite(out).all():
        i = int(np.flatnonzero(~np.isfinite(out))[0])
        raise DetectorError(f"{name} contains illegal numbers: {items[i]!r} at position {i} (not finite)")
    return out


def metis_series(data_a, data_b, data_c, window: int | None = None) -> tuple[np.ndarray, int]:
    """The 5w + 3 values C + B + A and w; ``window`` None takes w = len(dataA) - 1."""
    a = parse_window(data_a, "dataA")
    b = parse_window(data_b, "dataB")
    c = parse_window(data_c, "dataC")
    if window is None:
        window = len(a) - 1
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise DetectorError(f"window: must be a positive integer, got {window!r}")
    w = int(window)
    for name, values, size in (("dataC", c, 2 * w + 1), ("dataB", b, 2 * w + 1), ("dataA", a, w + 1)):
        if len(values) != size:
            raise DetectorError(f"{name} length does not match: {len(values)} values, window {w} needs {size}")
    return np.concatenate((c, b, a)), w


def window_of(width: int) -> int:
    """w from the row width 5w + 3."""
    w, rest = divmod(width - 3, 5)
    if rest or w < 1:
        raise DetectorError(f"a Metis row has 5w + 3 values, got {width}")
    return w


def parts(rows: np.ndarray) -> dict[str, np.ndarray]:
    """The five parts of each row (views): c_left, c_right, b_left, b_right, a."""
    w = window_of(rows.shape[1])
    return {
        "c_left": rows[:, 0 : w + 1],
        "c_right": rows[:, w : 2 * w + 1],
        "b_left": rows[:, 2 * w + 1 : 3 * w + 2],
        "b_right": rows[:, 3 * w + 1 : 4 * w + 2],
        "a": rows[:, 4 * w + 2 :],
    }


def rows_from_series(values: np.ndarray, positions: np.ndarray, window: int, period: int) -> np.ndarray:
    """Metis rows for the points at ``positions`` of one series: C a week (7 periods) before, B a
    period before, A ending at the point. Every position needs 7 * period + window points before it."""
    w, week = window, 7 * period
    if len(positions) and positions.min() < week + w:
        raise DetectorError(f"position {int(positions.min())}: needs {week + w} points of history")
    if len(positions) and positions.max() + 1 > len(values):
        raise DetectorError("positions: beyond the series")
    offsets = np.concatenate(
        (np.arange(-week - w, -week + w + 1), np.arange(-period - w, -period + w + 1), np.arange(-w, 1))
    )
    return values[positions[:, None] + offsets[None, :]]
