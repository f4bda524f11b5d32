"""Regular grid and the paper's day-based filling rule, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluxev import DetectorError, fill_missing, points_per_day, regular_grid


def test_regular_grid_marks_filled_points():
    grid = regular_grid([0, 60, 180, 240], [1.0, 2.0, 4.0, 5.0])
    assert grid.interval == 60
    np.testing.assert_array_equal(grid.timestamps, [0, 60, 120, 180, 240])
    np.testing.assert_array_equal(grid.filled, [False, False, True, False, False])
    np.testing.assert_array_equal(grid.values[~grid.filled], [1, 2, 4, 5])
    assert np.isnan(grid.values[2])


def test_regular_grid_accepts_datetimes():
    times = pd.to_datetime([0, 300, 900], unit="s", utc=True)
    grid = regular_grid(times, [1, 2, 3])
    assert grid.interval == 300 and grid.filled.tolist() == [False, False, True, False]


@pytest.mark.parametrize(
    "times,match",
    [
        ([0, 60, 150], "not a multiple"),
        ([0, 120, 60], "not sorted"),
        ([0, 60, 60], "duplicate"),
        (["a", "b", "c"], "numbers or datetimes"),
    ],
)
def test_regular_grid_rejects_bad_timestamps(times, match):
    with pytest.raises(DetectorError, match=match):
        regular_grid(times, [1.0, 2.0, 3.0])


def test_regular_grid_rejects_bad_values():
    with pytest.raises(DetectorError, match="NaN"):
        regular_grid([0, 60, 120], [1.0, np.nan, 3.0])
    with pytest.raises(DetectorError, match="2 timestamps but 3 values"):
        regular_grid([0, 60], [1.0, 2.0, 3.0])


def three_days(period=20):
    j = np.arange(period, dtype=float)
    return np.concatenate((j, 100 + j, 200 + j))


def test_day_rule_by_hand():
    period = 20
    x = three_days(period)
    x[14:20] = np.nan  # first day, 6 missing: no previous day, so linear
    x[20 + 4 : 20 + 12] = np.nan  # day 1, run of 8: 5 < 8 < 0.6 * 20 -> shifted previous day
    x[40 + 2 : 40 + 16] = np.nan  # day 2, run of 14 > 12 -> previous day's values
    x[40 + 18] = np.nan  # day 2, run of 1 -> linear
    out = fill_missing(x, period)
    j = np.arange(period, dtype=float)
    np.testing.assert_allclose(out[14:20], np.linspace(13, 100, 8)[1:-1])
    kept = np.r_[0:4, 12:20]
    # day means over the points present when the run is filled (day 0 still lacks 14..19)
    shift = ((100 + j[kept]).mean() - j[:14].mean()) / 2
    assert shift == pytest.approx((110 + 10 / 12 - 6.5) / 2)
    np.testing.assert_allclose(out[24:32], j[4:12] + shift)
    # day 2 copies day 1 as filled just before: runs are filled day by day, in order
    np.testing.assert_allclose(out[42:56], np.concatenate((100 + j[2:4], j[4:12] + shift, 100 + j[12:16])))
    assert out[58] == pytest.approx(218.0)
    assert not np.isnan(out).any()


def test_runs_of_exactly_six_tenths_of_a_day_and_quiet_days_are_linear():
    period = 20
    x = three_days(period)
    x[20 + 4 : 20 + 16] = np.nan  # exactly 0.6 * period: neither rule applies
    x[40 + 3 : 40 + 8] = np.nan  # only 5 missing in the day: linear
    out = fill_missing(x, period)
    np.testing.assert_allclose(out[24:36], np.linspace(103, 116, 14)[1:-1])
    np.testing.assert_allclose(out[43:48], 200 + np.arange(3, 8))


def test_fill_errors_and_period():
    with pytest.raises(DetectorError, match="every point"):
        fill_missing([np.nan, np.nan], 10)
    with pytest.raises(DetectorError, match="period"):
        fill_missing([1.0, np.nan, 2.0], 0)
    assert points_per_day(60) == 1440 and points_per_day(300) == 288
    with pytest.raises(DetectorError):
        points_per_day(2 * 86400)
