"""The shared protocol suite, over every registered univariate detector (the multivariate ones have
theirs in ``tests/detectors/multivariate``): batch == streaming, state round trip
through JSON, clear errors on bad input and unknown parameters."""

import json
import math

import numpy as np
import pytest

from core.detector import DetectorError
from detectors import available, detector_class, make_detector
from tests.detectors.conftest import PERIOD

# small settings so the whole suite stays fast; everything else is the detector's default
SMALL = {
    "fluxev": dict(period=PERIOD, p=3),
    "spot": dict(q=1e-3),
    "dspot": dict(q=1e-3),
    "sr": dict(),
    "sma": dict(period=PERIOD),
    "arima": dict(max_p=1, max_q=1, fit_points=200),
    "sarima": dict(period=4, max_p=0, max_q=0, cycles=24),  # a short season: SARIMAX's state grows with it
    "stl-arima": dict(period=PERIOD, max_p=1, max_q=0, fit_points=200, cycles=5),
    "xgboost": dict(period=PERIOD, n_estimators=15, fit_points=400, cycles=3, lags=6),
    "metis": dict(period=PERIOD, window=12),
    "metis-rate": dict(period=PERIOD, window=12),
    "auto": dict(
        period=PERIOD,
        candidate_params={
            "arima": dict(max_p=1, max_q=0, fit_points=150),
            "xgboost": dict(n_estimators=10, fit_points=300, cycles=2, lags=4),
            "stl-arima": dict(max_p=1, max_q=0, fit_points=150, cycles=4),
        },
    ),
}
TRAIN = 24 * PERIOD
NAMES = [name for name in available() if not detector_class(name).multivariate]


def test_every_detector_has_small_settings():
    assert set(NAMES) <= set(SMALL), set(NAMES) - set(SMALL)
    assert len(NAMES) >= 12


def _fitted(name, x):
    return make_detector(name, **SMALL[name]).fit(x[:TRAIN])


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_streaming(name, series):
    test = series[TRAIN : TRAIN + 4 * PERIOD]
    batch = _fitted(name, series).detect(test)
    stream = _fitted(name, series)
    points = [stream.update(v) for v in test]
    assert len(batch) == len(test)
    np.testing.assert_allclose(batch.score, [p.score for p in points], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(batch.threshold, [p.threshold for p in points], rtol=1e-9, atol=1e-9)
    assert batch.alarm.tolist() == [p.alarm for p in points]
    if batch.expected is not None:
        np.testing.assert_allclose(batch.expected, [p.expected for p in points], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_through_json(name, series):
    first = series[TRAIN : TRAIN + 2 * PERIOD]
    rest = series[TRAIN + 2 * PERIOD : TRAIN + 4 * PERIOD]
    original = _fitted(name, series)
    original.detect(first)
    state = json.loads(json.dumps(original.state_dict()))
    restored = detector_class(name).from_state(state)
    a, b = original.detect(rest), restored.detect(rest)
    np.testing.assert_array_equal(a.alarm, b.alarm)
    np.testing.assert_allclose(a.score, b.score, rtol=1e-12, atol=1e-12)
    assert restored.get_params().keys() == original.get_params().keys()


@pytest.mark.parametrize("name", NAMES)
def test_alarms_at_the_spike_and_rarely_elsewhere(name, series):
    """The fixture's +15 spike (30 noise sigmas) at 26 days + 5 points is flagged by every
    detector at that point or the next one (SR's saliency peaks a point late on a seasonal
    window); at most 5 % of the 6 test days alarm."""
    result = _fitted(name, series).detect(series[TRAIN:])
    assert result.alarm.dtype == bool and len(result) == len(series) - TRAIN
    spike = 26 * PERIOD + 5 - TRAIN
    assert result.alarm[spike : spike + 2].any(), np.flatnonzero(result.alarm)
    assert result.alarm.mean() <= 0.05, np.flatnonzero(result.alarm)
    assert not np.isnan(result.score).any()


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_named(name):
    with pytest.raises(DetectorError, match="unknown parameter 'bogus'"):
        make_detector(name, bogus=1)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(name, series):
    detector = make_detector(name, **SMALL[name])
    with pytest.raises(DetectorError, match="detect|fit"):
        detector.detect(series[:10])
    bad = series[:TRAIN].copy()
    bad[5] = math.nan
    with pytest.raises(DetectorError, match="NaN"):
        make_detector(name, **SMALL[name]).fit(bad)
    with pytest.raises(DetectorError, match="numeric"):
        make_detector(name, **SMALL[name]).fit(["a"] * TRAIN)
    fitted = _fitted(name, series)
    with pytest.raises(DetectorError):
        fitted.update(math.inf)
    with pytest.raises(DetectorError, match="state"):
        detector_class(name).from_state({"params": {}})


@pytest.mark.parametrize("name", NAMES)
def test_too_short_is_unmodelled(name, series):
    from core.detector import UnmodelledSeries

    with pytest.raises(UnmodelledSeries):
        make_detector(name, **SMALL[name]).fit(series[:8])
