"""FluxEV end to end: against a literal per-point implementation, streaming == batch, checkpoints,
short training windows, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fluxev_literal import literal_fluxev
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxev import DetectionResult, DetectorError, FluxEV


def periodic_series(seed: int, period: int = 24, days: int = 12, spikes: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = period * days
    t = np.arange(n)
    x = 10 + 3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.3, n)
    idx = rng.integers(n // 2, n, spikes)
    x[idx] += rng.choice([-1, 1], spikes) * rng.uniform(2, 6, spikes)
    return x


@pytest.mark.parametrize("smoothing", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_literal_step_by_step_implementation(seed, smoothing):
    x = periodic_series(seed)
    params = dict(s=5, p=3, h=2, period=24, q=0.01, level=0.9, smoothing=smoothing)
    train_len = len(x) // 2
    score, threshold, alarm = literal_fluxev(x, train_len, **params)
    result = FluxEV(**params).fit(x[:train_len]).detect(x[train_len:])
    assert alarm.any()
    assert np.array_equal(result.alarm, alarm)
    np.testing.assert_allclose(result.score, score, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.threshold, threshold, rtol=1e-9)


def test_an_alarm_never_becomes_a_periodic_reference():
    period = 24
    x = 10 + 3 * np.sin(2 * np.pi * np.arange(period * 12) / period)
    x += np.random.default_rng(5).normal(0, 0.2, len(x))
    first, second = period * 2 + 5, period * 3 + 5  # positions in the test part
    x[period * 6 + first] += 8
    x[period * 6 + second] += 6  # same phase next day, smaller
    params = dict(s=5, p=3, h=1, period=period, q=0.01, level=0.9)
    result = FluxEV(**params).fit(x[: period * 6]).detect(x[period * 6 :])
    fse = FluxEV(s=5, smoothing=1, q=0.01, level=0.9).fit(x[: period * 6]).detect(x[period * 6 :]).score
    assert result.alarm[first] and result.alarm[second]
    assert fse[first] > fse[second]  # as a reference, the first anomaly would hide the second

    def local_max_without_alarms(centre):
        window = np.arange(centre - 1, centre + 2)
        assert not result.alarm[window[0]]
        return fse[window[~result.alarm[window]]].max()

    without_first = local_max_without_alarms(first)
    two_days_back = local_max_without_alarms(second - 2 * period)
    assert result.score[second] == pytest.approx(fse[second] - max(without_first, two_days_back))


series_params = st.fixed_dictionaries(
    {
        "s": st.integers(1, 6),
        "p": st.integers(2, 4),
        "h": st.integers(0, 3),
        "period": st.sampled_from([None, 8, 13, 24]),
        "smoothing": st.sampled_from([1, 2]),
        "estimator": st.sampled_from(["mom", "mle"]),
        "level": st.sampled_from([0.8, 0.9, 0.98]),
    }
)


@settings(max_examples=40, deadline=None)
@given(series_params, st.integers(0, 2**16), st.integers(1, 5))
def test_streaming_equals_batch_exactly(params, seed, n_chunks):
    if params["period"] is not None and params["period"] <= params["h"]:
        params["h"] = 0
    params["q"] = (1 - params["level"]) / 5
    x = periodic_series(seed, period=params["period"] or 10, days=14, spikes=10)
    detector = FluxEV(**params)
    train_len = detector.warmup + 60
    batch = FluxEV(**params).fit(x[:train_len])
    stream = FluxEV(**params).fit(x[:train_len])
    test = x[train_len:]
    chunks = np.array_split(test, n_chunks)
    parts = [batch.detect(c) for c in chunks]
    score = np.concatenate([p.score for p in parts])
    threshold = np.concatenate([p.threshold for p in parts])
    alarm = np.concatenate([p.alarm for p in parts])
    steps = [stream.update(v) for v in test]
    assert np.array_equal(score, [p.score for p in steps], equal_nan=True)
    assert np.array_equal(threshold, [p.threshold for p in steps])
    assert np.array_equal(alarm, [p.alarm for p in steps])
    assert json.dumps(batch.state_dict()) == json.dumps(stream.state_dict())


def test_checkpoint_round_trip_through_json():
    x = periodic_series(7, days=14)
    params = dict(s=5, p=3, h=2, period=24, q=0.01, level=0.9)
    a = FluxEV(**params).fit(x[:150])
    a.detect(x[150:200])
    state = json.loads(json.dumps(a.state_dict()))
    b = FluxEV.from_state(state)
    ra, rb = a.detect(x[200:]), b.detect(x[200:])
    for field in ("score", "threshold", "alarm"):
        assert np.array_equal(getattr(ra, field), getattr(rb, field), equal_nan=True)
    with pytest.raises(DetectorError, match="state"):
        FluxEV.from_state({"params": params})
    bad = dict(state, values=state["values"][:-1])
    with pytest.raises(DetectorError, match="window lengths"):
        FluxEV.from_state(bad)


def test_short_training_window_with_first_smoothing_only():
    rng = np.random.default_rng(0)
    x = 5 + rng.normal(0, 0.1, 60)
    x[45] += 3
    detector = FluxEV(s=3, smoothing=1, level=0.7, q=0.05)
    assert detector.warmup == 6 and detector.min_train_len() == 7
    result = detector.fit(x[:30]).detect(x[30:])
    assert isinstance(result, DetectionResult) and len(result) == 30
    assert result.alarm[15] and result.alarm.sum() <= 3
    # 7 points: one score initialises SPOT; no peak, so nothing is flagged until two peaks exist
    tiny = FluxEV(s=3, smoothing=1).fit(x[:7])
    assert tiny.spot_.n_peaks_ == 0 and math.isinf(tiny.spot_.z_)
    assert not tiny.detect(x[7:10]).alarm.any()


def test_constant_series_does_not_crash():
    detector = FluxEV(s=3, smoothing=1, level=0.9, q=0.01).fit(np.full(50, 2.0))
    result = detector.detect(np.concatenate((np.full(10, 2.0), [9.0, 2.0, 2.0])))
    assert np.all(result.score[:10] == 0) and not result.alarm.any()
    assert np.all(np.isinf(result.threshold))


def test_period_none_means_first_smoothing_only():
    x = periodic_series(3)
    a = FluxEV(s=4, period=None, smoothing=2, q=0.01, level=0.9).fit(x[:100]).detect(x[100:])
    b = FluxEV(s=4, smoothing=1, q=0.01, level=0.9).fit(x[:100]).detect(x[100:])
    assert np.array_equal(a.score, b.score) and np.array_equal(a.alarm, b.alarm)


def test_holt_winters_predictor():
    pytest.importorskip("statsmodels")
    x = periodic_series(4, period=24, days=16)
    params = dict(s=5, p=3, h=1, period=24, q=0.01, level=0.9, predictor="holt-winters")
    a = FluxEV(**params).fit(x[:240])
    np.testing.assert_allclose(a.forecaster_.in_sample, a.forecaster_.statsmodels_fitted_, rtol=1e-9, atol=1e-9)
    b = FluxEV.from_state(json.loads(json.dumps(a.state_dict())))
    batch = a.detect(x[240:])
    steps = [b.update(v) for v in x[240:]]
    assert np.array_equal(batch.alarm, [p.alarm for p in steps]) and batch.alarm.any()
    assert np.array_equal(batch.score, [p.score for p in steps], equal_nan=True)


def test_too_short_training_names_the_need():
    with pytest.raises(DetectorError, match=r"needs at least 1175 .*2s = 20.*\+ 4 \* 288"):
        FluxEV(period=288).fit(np.arange(500.0))
    with pytest.raises(DetectorError, match="at least 21"):
        FluxEV(smoothing=1).fit(np.arange(20.0))


@pytest.mark.parametrize(
    "bad,match",
    [
        ([1.0, np.nan, 2.0] * 20, "NaN"),
        ([1.0, np.inf, 2.0] * 20, "infinite"),
        (["a", "b"] * 30, "numeric"),
        ([1, "2", 3] * 20, "numeric"),
        ([True, False] * 30, "numeric"),
        (np.ones((30, 2)), "1-D"),
    ],
)
def test_bad_values(bad, match):
    with pytest.raises(DetectorError, match=match):
        FluxEV(smoothing=1).fit(np.array(bad, dtype=object) if isinstance(bad, list) else bad)


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(s=0), "s: must be a positive integer"),
        (dict(s=2.5), "s: must be a positive integer"),
        (dict(period=0), "period"),
        (dict(period=-24), "period"),
        (dict(period=24, p=1), "p: periodic"),
        (dict(period=24, h=-1), "h:"),
        (dict(period=2, h=2), "period: must exceed h"),
        (dict(q=0.0), "q: must be in"),
        (dict(q=0.05), "q: must be in"),
        (dict(q=0.01, level=1.2), "level"),
        (dict(alpha=0), "alpha"),
        (dict(smoothing=3), "smoothing"),
        (dict(estimator="bayes"), "estimator"),
        (dict(predictor="arima"), "predictor"),
        (dict(predictor="holt-winters"), "needs a period"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(DetectorError, match=match):
        FluxEV(**params).fit(np.arange(5000.0))


def test_detect_and_update_need_fit_and_finite_input():
    with pytest.raises(DetectorError, match="call fit"):
        FluxEV().update(1.0)
    detector = FluxEV(s=3, smoothing=1).fit(np.random.default_rng(0).normal(size=50))
    for bad in (math.nan, math.inf, "3", None, True):
        with pytest.raises(DetectorError):
            detector.update(bad)
    with pytest.raises(DetectorError, match="test"):
        detector.detect([1.0, math.nan])
