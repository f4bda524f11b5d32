"""Each FluxEV step against hand-computed values and independent libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fluxev import features as ft

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def test_ewma_seeded_with_first_value_by_hand():
    rows = np.array([[1.0, 2.0, 3.0]])
    # r = 1; r = .5*2 + .5*1 = 1.5; r = .5*3 + .5*1.5 = 2.25
    assert ft.ewma_forecast(rows, 0.5)[0] == 2.25


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=25, deadline=None)
@given(arrays(float, st.integers(3, 30), elements=st.floats(-1e3, 1e3)), st.floats(0.05, 0.95))
def test_ewma_matches_statsmodels_simple_exponential_smoothing(window, alpha):
    from statsmodels.tsa.holtwinters import SimpleExpSmoothing

    model = SimpleExpSmoothing(window[1:], initialization_method="known", initial_level=window[0])
    fitted = model.fit(smoothing_level=alpha, optimized=False)
    expected = float(fitted.forecast(1)[0])
    assert ft.ewma_forecast(window[None, :], alpha)[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(arrays(float, st.integers(1, 140), elements=finite))
def test_population_std_is_numpy_std_bit_for_bit(window):
    assert ft.population_std(window[None, :])[0] == np.std(window)
    assert ft.population_std(window[None, :])[0] == np.nanstd(window)


def test_first_smoothing_by_hand():
    # std([1,1,1,1,5]) = 1.6 (mean 1.8, squared deviations 4*0.64 + 10.24 = 12.8, /5 = 2.56)
    # std([1,1,1,1]) = 0, so the newest error widens the spread by 1.6
    assert ft.first_smoothing(np.array([[1.0, 1, 1, 1, 5]]))[0] == pytest.approx(1.6)
    # std([0,10,0,10]) = 5, std([0,10,0,10,5]) = sqrt(20) < 5: narrowing is clipped to 0
    assert ft.first_smoothing(np.array([[0.0, 10, 0, 10, 5]]))[0] == 0.0


def test_local_max_skips_missing_values_except_a_missing_oldest_one():
    rows = np.array(
        [
            [1.0, 3.0, 2.0, 0.5, 1.0],
            [1.0, np.nan, 7.0, 0.5, 1.0],
            [np.nan, 3.0, 2.0, 9.0, 1.0],
            [1.0, 3.0, 2.0, 0.5, np.nan],
        ]
    )
    out = ft.local_max(rows)
    assert out[0] == 3.0 and out[1] == 7.0 and math.isnan(out[2]) and out[3] == 3.0
    # the same rule as Python's max over these windows (the authors' implementation)
    for row, value in zip(rows, out):
        expected = max(row.tolist())
        assert (math.isnan(value) and math.isnan(expected)) or value == expected


def test_periodic_smoothing_by_hand():
    fse = np.array([5.0, 2.0, 4.0, 1.0])
    refs = np.array([[3.0, 1.0], [3.0, np.nan], [np.nan, np.nan], [0.0, 0.5]])
    out = ft.periodic_smoothing(fse, refs)
    assert out[0] == 2.0  # 5 - max(3, 1)
    assert out[1] == 0.0  # 2 < 3
    assert math.isnan(out[2])  # no reference at all
    assert out[3] == 0.5  # 1 - 0.5
