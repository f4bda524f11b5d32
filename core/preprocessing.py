"""Put a series on a regular time grid and fill its gaps as the FluxEV paper does.

Li et al., "FluxEV", WSDM 2021, Sec. 5.1: missing points are filled per day (``period`` points):
in a day with more than 5 missing points, a run of more than 5 and fewer than 0.6 * period
missing points takes the previous day's values at the same positions plus half the difference
between the two days' means; a run longer than 0.6 * period takes the previous day's values;
whatever is left is interpolated linearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.detector import DetectorError
from core.values import as_finite_values, as_timestamps

MIN_DAY_GAPS = 5
SHORT_RUN = 5
LONG_RUN_FRACTION = 0.6


@dataclass(frozen=True)
class RegularSeries:
    """A series on a regular grid: ``timestamps[i] = start + i * interval``."""

    timestamps: np.ndarray
    values: np.ndarray
    filled: np.ndarray
    interval: float


def regular_grid(timestamps, values, name: str = "series") -> RegularSeries:
    """Place ``values`` on the grid whose step is the smallest time step; gaps become NaN.

    ``filled`` marks the grid points that had no observation. Every step must be a whole
    multiple of the smallest step.
    """
    ts = as_timestamps(timestamps, name)
    vals = as_finite_values(values, name)
    if len(ts) != len(vals):
        raise DetectorError(f"{name}: {len(ts)} timestamps but {len(vals)} values")
    if len(ts) < 2:
        raise DetectorError(f"{name}: need at least 2 points to find the sampling interval")
    steps = np.diff(ts)
    interval = steps.min()
    ratio = steps / interval
    off = np.abs(ratio - np.round(ratio)) > 1e-9 * np.maximum(ratio, 1.0)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise DetectorError(
            f"{name}: time step {steps[i]} after timestamp {ts[i]} is not a multiple of the smallest step {interval}"
        )
    position = np.concatenate(([0], np.cumsum(np.round(ratio).astype(np.int64))))
    length = int(position[-1]) + 1
    grid_values = np.full(length, np.nan)
    grid_values[position] = vals
    filled = np.ones(length, dtype=bool)
    filled[position] = False
    grid_ts = ts[0] + np.arange(length) * interval
    return RegularSeries(grid_ts, grid_values, filled, float(interval))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def fill_missing(values, period: int) -> np.ndarray:
    """Fill the NaNs of a regular series with the paper's day-based rule (module docstring).

    Days are consecutive blocks of ``period`` points from the first point. Runs are taken within
    a day; runs are filled in order, so a day's mean includes the runs already filled. The first
    day has no previous day, so its runs are left to the linear interpolation; a previous-day value
    that is itself missing stays missing until then. The result has no NaN.
    """
    x = np.array(values, dtype=float)
    if x.ndim != 1:
        raise DetectorError("values: expected a 1-D series")
    if period < 1:
        raise DetectorError(f"period: must be a positive number of points, got {period}")
    length = len(x)
    missing = np.isnan(x)
    if missing.all():
        raise DetectorError("values: every point is missing; nothing to fill from")
    if missing.any():
        days = -(-length // period)
        flat = np.full(days * period, np.nan)
        flat[:length] = x
        grid = flat.reshape(days, period)
        gaps = np.isnan(grid).sum(axis=1)
        long_run = LONG_RUN_FRACTION * period
        for day in np.flatnonzero(gaps > MIN_DAY_GAPS).tolist():
            if day == 0:
                continue
            row, previous = grid[day], grid[day - 1]
            for start, stop in _runs(np.isnan(row)):
                run = stop - start
                if SHORT_RUN < run < long_run:
                    shift = (_nanmean(row) - _nanmean(previous)) / 2
                    row[start:stop] = previous[start:stop] + shift
                elif run > long_run:
                    row[start:stop] = previous[start:stop]
        x = grid.reshape(-1)[:length]
        missing = np.isnan(x)
        if missing.any():
            known = np.flatnonzero(~missing)
            x[missing] = np.interp(np.flatnonzero(missing), known, x[known])
    return x


def _nanmean(row: np.ndarray) -> float:
    valid = row[~np.isnan(row)]
    return float(valid.mean()) if len(valid) else float("nan")


def points_per_day(interval: float) -> int:
    """The period of a daily-seasonal series sampled every ``interval`` seconds."""
    if interval <= 0:
        raise DetectorError(f"interval: must be positive, got {interval}")
    period = int(86400 // interval)
    if period < 1:
        raise DetectorError(f"interval: {interval} s is longer than a day; no daily period")
    return period
