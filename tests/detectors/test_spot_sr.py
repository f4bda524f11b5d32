import numpy as np
import pytest

from core.detector import DetectorError, UnmodelledSeries
from detectors.spot import DSPOTDetector, SPOTDetector
from detectors.sr import SpectralResidual, extend, saliency

rng = np.random.default_rng(3)


def mom_threshold(scores, q, level):
    """Siffer et al. Alg. 1 initialisation with the moment estimates (FluxEV Eq. 10-11), by hand."""
    x = np.sort(scores)
    t = x[int(level * len(x))]
    peaks = scores[scores > t] - t
    m, v = peaks.mean(), peaks.var(ddof=1)
    gamma = 0.5 * (1 - m * m / v)
    sigma = 0.5 * m * (1 + m * m / v)
    return t + sigma / gamma * ((q * len(scores) / len(peaks)) ** (-gamma) - 1)


def test_spot_upper_and_lower_thresholds_are_the_formula():
    train = rng.standard_t(5, size=5000)
    up = SPOTDetector(q=1e-3, side="upper").fit(train)
    low = SPOTDetector(q=1e-3, side="lower").fit(train)
    assert up.spots_[0][0].z_ == pytest.approx(mom_threshold(train, 1e-3, 0.98), rel=1e-9)
    assert low.spots_[0][0].z_ == pytest.approx(mom_threshold(-train, 1e-3, 0.98), rel=1e-9)
    result = low.detect(np.array([0.0, -100.0]))
    assert result.alarm.tolist() == [False, True]
    assert result.score[1] == 100.0 and result.threshold[0] == pytest.approx(low.spots_[0][0].z_)


def test_spot_both_sides_score_is_the_margin():
    train = rng.normal(size=3000)
    both = SPOTDetector(q=1e-3, side="both").fit(train)
    z_up, z_low = both.spots_[0][0].z_, -both.spots_[0][1].z_
    r = both.detect(np.array([z_up + 1.0, z_low - 2.0, 0.0]))
    np.testing.assert_allclose(r.score[:2], [1.0, 2.0])
    assert r.alarm.tolist() == [True, True, False] and (r.threshold == 0).all()


def test_period_aware_spot_learns_each_phase_from_its_neighbours():
    period, bins = 48, 4
    t = np.arange(period * 60)
    scale = np.where((t % period) < period // 4, 10.0, 1.0)
    train = rng.normal(size=len(t)) * scale
    d = SPOTDetector(q=1e-3, side="upper", period=period, bins=bins).fit(train)
    b = (t % period) * bins // period
    for k in range(bins):
        part = train[np.isin(b, [(k - 1) % bins, k, (k + 1) % bins])]
        assert d.spots_[k][0].z_ == pytest.approx(mom_threshold(part, 1e-3, 0.98), rel=1e-9)
    # a value of 8 is normal in the loud quarter of the period and an alarm elsewhere
    r = d.detect(np.array([8.0] * period))
    assert not r.alarm[: period // 8].any() and r.alarm[period // 2 : 3 * period // 4].all()


def test_dspot_removes_the_drift_and_keeps_alarms_out_of_the_window():
    train = np.linspace(0, 50, 4000) + rng.normal(0, 1, 4000)
    d = DSPOTDetector(depth=10, q=1e-3, side="both").fit(train)
    local = train[10:] - np.array([train[i - 10 : i].mean() for i in range(10, len(train))])
    assert d.spots_[0].z_ == pytest.approx(mom_threshold(local, 1e-3, 0.98), rel=1e-9)
    window = d.window_.copy()
    r = d.detect(np.array([train[-1] + 100.0]))
    assert r.alarm[0] and np.array_equal(d.window_, window)
    d.detect(np.array([train[-1]]))
    assert d.window_[-1] == train[-1]


def test_spot_errors():
    with pytest.raises(DetectorError, match="side"):
        SPOTDetector(side="up").validate()
    with pytest.raises(DetectorError, match="bins"):
        SPOTDetector(period=4, bins=5).validate()
    with pytest.raises(UnmodelledSeries):
        SPOTDetector(period=100).fit(np.arange(50.0))


def dft(x):
    n = len(x)
    k = np.arange(n)
    return np.exp(-2j * np.pi * np.outer(k, k) / n) @ x


def idft(f):
    n = len(f)
    k = np.arange(n)
    return np.exp(2j * np.pi * np.outer(k, k) / n) @ f / n


def test_saliency_against_a_hand_computed_spectrum():
    x = rng.normal(size=37) + np.sin(np.arange(37))
    spectrum = dft(x)
    log_amp = np.log(np.abs(spectrum))
    n = len(x)
    averaged = np.array([(log_amp[(f - 1) % n] + log_amp[f] + log_amp[(f + 1) % n]) / 3 for f in range(n)])
    expected = np.abs(idft(np.exp(log_amp - averaged + 1j * np.angle(spectrum))))
    np.testing.assert_allclose(saliency(x[None, :], 3)[0], expected, rtol=1e-9, atol=1e-12)


def test_extension_by_hand():
    w = np.array([[1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 99.0]])
    m = 3
    last = 16.0
    g = np.mean([(last - 11.0) / 1, (last - 7.0) / 2, (last - 4.0) / 3])
    estimate = 7.0 + g * m
    np.testing.assert_allclose(extend(w, m, 2)[0], [*w[0], estimate, estimate])


def test_sr_score_is_the_relative_excess_over_the_preceding_saliency():
    x = rng.normal(size=300)
    x[250] += 12
    d = SpectralResidual().fit(x[:200])
    r = d.detect(x[200:])
    row = extend(x[250 - 63 : 251][None, :], 5, 5)
    s = saliency(row, 3)[0]
    local = s[63 - 21 : 63].mean()
    assert r.score[50] == pytest.approx((s[63] - local) / local, rel=1e-9)
    assert r.alarm[50]


def test_sr_parameter_errors():
    with pytest.raises(DetectorError, match="z"):
        SpectralResidual(window=10, z=21).validate()
    with pytest.raises(DetectorError, match="threshold"):
        SpectralResidual(threshold=0).validate()
