"""SPOT: initialisation, streaming rules, running moments, GPD estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fluxev import SPOT, DetectorError, gpd


def test_initial_threshold_and_mom_threshold_by_hand():
    spot = SPOT(q=0.003, level=0.98).fit(np.arange(200.0))
    # sorted[int(0.98 * 200)] = sorted[196] = 196; peaks 1, 2, 3: mean 2, variance 1
    assert spot.t_ == 196.0 and spot.n_peaks_ == 3 and spot.n_ == 200
    gamma, sigma = spot.tail()
    assert gamma == pytest.approx(0.5 * (1 - 4)) and sigma == pytest.approx(0.5 * 2 * (1 + 4))
    r = 0.003 * 200 / 3
    assert spot.z_ == pytest.approx(196 + (5 / -1.5) * (r**1.5 - 1))


def test_streaming_rules():
    spot = SPOT(q=0.003, level=0.98).fit(np.arange(200.0))
    z = spot.z_
    assert spot.step(z + 1) == (z, True)  # alarm: nothing updated
    assert (spot.n_, spot.n_peaks_) == (200, 3)
    assert spot.step(100.0) == (z, False)  # below t: only n grows
    assert (spot.n_, spot.n_peaks_) == (201, 3)
    threshold, alarm = spot.step(197.5)  # between t and z: a new peak, new threshold
    assert not alarm and (spot.n_, spot.n_peaks_) == (202, 4) and threshold != z
    peaks = np.array([1.0, 2.0, 3.0, 1.5])
    assert spot.mean_ == pytest.approx(peaks.mean())
    assert spot.m2_ / 3 == pytest.approx(peaks.var(ddof=1))
    g, s = spot.tail()
    assert (g, s) == pytest.approx(gpd.mom(4, peaks.mean(), peaks.var(ddof=1)))
    r = 0.003 * 202 / 4
    assert threshold == pytest.approx(196 + s / g * (r**-g - 1))


def test_running_moments_match_numpy_after_many_peaks():
    rng = np.random.default_rng(3)
    init = rng.exponential(1.0, 1000)
    spot = SPOT(q=1e-4).fit(init)
    excesses = []
    for x in rng.exponential(1.0, 20000):
        before = spot.n_peaks_
        spot.step(x)
        if spot.n_peaks_ > before:
            excesses.append(x - spot.t_)
    all_peaks = np.concatenate((init[init > spot.t_] - spot.t_, excesses))
    assert spot.n_peaks_ == len(all_peaks)
    assert spot.mean_ == pytest.approx(all_peaks.mean(), rel=1e-12)
    assert spot.m2_ / (len(all_peaks) - 1) == pytest.approx(all_peaks.var(ddof=1), rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["mom", "mle"]), st.floats(0.5, 0.95))
def test_batch_run_equals_step_by_step(seed, estimator, level):
    rng = np.random.default_rng(seed)
    data = rng.standard_t(3, 700)
    data[rng.integers(0, 700, 20)] = np.nan
    init, stream = data[:200], data[200:]
    q = (1 - level) / 10
    a = SPOT(q, level, estimator).fit(init)
    b = SPOT(q, level, estimator).fit(init)
    thresholds, alarms = a.run(stream)
    steps = [b.step(x) for x in stream]
    assert np.array_equal(thresholds, [t for t, _ in steps])
    assert np.array_equal(alarms, [al for _, al in steps])
    assert (a.n_, a.n_peaks_, a.mean_, a.m2_, a.z_) == (b.n_, b.n_peaks_, b.mean_, b.m2_, b.z_)


@pytest.mark.parametrize("gamma,sigma", [(0.2, 1.5), (-0.2, 2.0), (0.0, 1.0)])
def test_mom_recovers_gpd_parameters(gamma, sigma):
    y = stats.genpareto.rvs(c=gamma, scale=sigma, size=400_000, random_state=1)
    g, s = gpd.mom(len(y), y.mean(), y.var(ddof=1))
    assert g == pytest.approx(gamma, abs=0.02)
    assert s == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("gamma,sigma", [(0.3, 1.5), (-0.2, 2.0), (0.1, 0.5)])
def test_grimshaw_recovers_gpd_parameters_and_matches_scipy_fit(gamma, sigma):
    y = stats.genpareto.rvs(c=gamma, scale=sigma, size=5000, random_state=2)
    g, s = gpd.grimshaw(y)
    assert g == pytest.approx(gamma, abs=0.06)
    assert s == pytest.approx(sigma, rel=0.08)
    c, _, scale = stats.genpareto.fit(y, floc=0)
    assert g == pytest.approx(c, abs=2e-3) and s == pytest.approx(scale, rel=2e-3)
    assert gpd.log_likelihood(y, g, s) >= stats.genpareto.logpdf(y, c, 0, scale).sum() - 1e-6


def test_log_likelihood_is_scipys():
    y = np.array([0.5, 1.0, 2.0, 0.1])
    for g, s in [(0.3, 1.2), (-0.1, 2.5), (0.0, 0.9)]:
        assert gpd.log_likelihood(y, g, s) == pytest.approx(stats.genpareto.logpdf(y, g, 0, s).sum())


def test_degenerate_tails_give_an_infinite_threshold_until_two_peaks_exist():
    spot = SPOT(q=0.01, level=0.9).fit(np.arange(10.0))  # t = sorted[9] = the max: no peak
    assert spot.n_peaks_ == 0 and spot.z_ == math.inf
    assert spot.step(100.0) == (math.inf, False)  # collected as a peak, not an alarm
    assert spot.n_peaks_ == 1 and spot.z_ == math.inf
    threshold, alarm = spot.step(50.0)
    assert not alarm and math.isfinite(threshold) and spot.n_peaks_ == 2
    constant = SPOT(q=0.01, level=0.9).fit(np.zeros(50))
    assert constant.t_ == 0 and constant.z_ == math.inf
    constant.step(1.0), constant.step(1.0)  # equal peaks: zero variance, still no estimate
    assert constant.z_ == math.inf
    assert gpd.grimshaw(np.array([1.0, 1.0])) is None and gpd.mom(1, 1.0, 0.0) is None


@pytest.mark.parametrize("q,level", [(0.0, 0.98), (0.03, 0.98), (0.5, 0.98), (-1, 0.9), (0.01, 1.0)])
def test_bad_risk_or_level(q, level):
    with pytest.raises(DetectorError, match="q:|level:"):
        SPOT(q, level).fit(np.arange(100.0))


def test_state_round_trip():
    rng = np.random.default_rng(0)
    for estimator in ("mom", "mle"):
        a = SPOT(0.01, 0.9, estimator).fit(rng.normal(size=300))
        a.run(rng.normal(size=200))
        b = SPOT.from_state(a.state_dict())
        tail = rng.normal(size=300)
        assert all(np.array_equal(u, v) for u, v in zip(a.run(tail), b.run(tail)))
