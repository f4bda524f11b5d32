"""The pooled tail (monitor/calibration.py) and how a series uses it (monitor/series.py)."""

import math
import warnings

import numpy as np
import pytest

from core.errors import DataWarning
from monitor.calibration import PooledTail
from monitor.errors import MonitorError
from monitor.monitor import MONITOR_FLUXEV, Monitor, MonitorConfig
from monitor.series import SeriesModel, SeriesSettings, build_prototype

KEY = ("edge", "web", "db", "latency_mean_ms")


def _mom_threshold(scores: np.ndarray, q: float, level: float) -> float:
    """SPOT's alarm threshold by hand: t at ``level``, method-of-moments GPD of the excesses
    (FluxEV Eq. 10-11), the quantile of risk ``q`` (Siffer et al. Eq. 1)."""
    x = np.sort(scores)
    t = x[int(level * len(x))]
    peaks = x[x > t] - t
    mean, var = peaks.mean(), peaks.var(ddof=1)
    gamma = 0.5 * (1 - mean**2 / var)
    sigma = 0.5 * mean * (mean**2 / var + 1)
    return t + sigma / gamma * ((q * len(x) / len(peaks)) ** -gamma - 1)


def _fill(tail: PooledTail, buckets: list[np.ndarray]) -> None:
    for scores in buckets:
        tail.begin()
        for s in scores:
            tail.learn(float(s))
        tail.end()


def test_no_threshold_until_min_scores_then_spot_on_the_pooled_scores():
    rng = np.random.default_rng(1)
    buckets = [rng.exponential(1.0, 40) for _ in range(5)]
    tail = PooledTail(window=10, min_scores=150, q=1e-3, level=0.9)
    _fill(tail, buckets[:3])
    tail.begin()
    assert tail.threshold == math.inf and tail.spot is None, "120 scores < min_scores"
    tail.end()  # a bucket without scores keeps nothing
    assert tail.size == 120
    _fill(tail, buckets[3:4])
    tail.begin()
    expected = _mom_threshold(np.concatenate(buckets[:4]), 1e-3, 0.9)
    assert tail.threshold == pytest.approx(expected, rel=1e-9)
    assert tail.threshold > np.concatenate(buckets[:4]).max() * 0.5


def test_the_window_forgets_buckets_older_than_it():
    rng = np.random.default_rng(2)
    wild = [rng.exponential(50.0, 60) for _ in range(3)]
    calm = [rng.exponential(1.0, 60) for _ in range(3)]
    tail = PooledTail(window=3, min_scores=100, q=1e-3, level=0.9)
    _fill(tail, wild + calm)
    tail.begin()
    assert tail.threshold == pytest.approx(_mom_threshold(np.concatenate(calm), 1e-3, 0.9), rel=1e-9)
    assert tail.threshold < 30, "the wild buckets are out of the window"


def test_state_round_trip_gives_the_same_threshold():
    rng = np.random.default_rng(3)
    tail = PooledTail(window=4, min_scores=50)
    _fill(tail, [rng.exponential(1.0, 30) for _ in range(6)])
    copy = PooledTail.from_state(tail.state())
    tail.begin()
    copy.begin()
    assert copy.threshold == tail.threshold and copy.size == tail.size == 120
    assert repr(copy) == "PooledTail(window=4, min_scores=50, q=0.001, level=0.95)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(window=0), "window must be an integer >= 1"),
        (dict(window=3, min_scores=0), "min_scores must be an integer >= 1"),
        (dict(window=3, q=0.2, level=0.95), "q: must be in"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(Exception, match=message):
        PooledTail(**kwargs)


def _warmed(calibration: str, own_min_peaks: int = 0) -> SeriesModel:
    """A latency around 20 ms (noise 1) past its 20-value warm-up: its own SPOT, fitted on ten
    scores at level 0.95, has no peak and an infinite threshold."""
    prototype = build_prototype("fluxev", MONITOR_FLUXEV)
    settings = SeriesSettings(prototype, 20, 20, 0.05, 3.0, frozenset(), calibration, own_min_peaks)
    model = SeriesModel(KEY, settings)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        for i, v in enumerate(20 + rng.normal(0, 1, 20)):
            model.observe(i, float(v))
    assert model.fitted and math.isinf(model.detector.spot_.z_)
    return model


def _ready_tail() -> PooledTail:
    tail = PooledTail(window=10, min_scores=100)
    _fill(tail, [np.random.default_rng(4).exponential(0.3, 200)])
    tail.begin()
    assert 1 < tail.threshold < 10
    return tail


def test_a_series_whose_own_tail_is_degenerate_alarms_through_the_pool():
    shift = 20 + 30.0  # 30 noise units up
    alone = _warmed("own-or-pooled")
    assert alone.observe(20, shift) is None and alone.pending is None, "no tail of its own, no pool: no alarm"
    model, tail = _warmed("own-or-pooled"), _ready_tail()
    assert model.observe(20, shift, tail) is None and model.pending is not None
    assert model.pending.threshold == tail.threshold and model.pending.score > tail.threshold
    assert 0 < model.pending.severity <= 1
    assert tail.current == [], "an alarmed score is not learned"
    alarm = model.observe(21, shift, tail)
    assert alarm is not None and alarm.time == 20


def test_before_the_pool_has_a_fit_an_untrusted_series_is_watched_by_the_baseline_rule():
    empty = PooledTail(window=10, min_scores=100)
    empty.begin()
    model = _warmed("own-or-pooled")
    baseline = float(np.median(model.clean))
    assert model.observe(20, baseline + 0.5, empty) is None and model.pending is None, "within the margin"
    assert model.observe(21, baseline + 30.0, empty) is None
    pending = model.pending
    assert pending is not None and pending.threshold == pytest.approx(model.margin(pending.baseline))
    assert pending.score == pytest.approx(baseline + 30.0 - pending.baseline)
    assert len(empty.current) == 2, "the detector's scores still feed the pool"
    alarm = model.observe(22, baseline + 30.0, empty)
    assert alarm is not None and alarm.time == 21


def test_calibration_pooled_uses_the_pooled_threshold_even_where_the_own_is_finite():
    def finite_own(model: SeriesModel) -> None:
        """An own threshold that is finite and that no score reaches."""
        model.detector.spot_.z_ = 1e9
        model.detector.spot_._estimate_threshold = lambda: 1e9

    model, tail = _warmed("pooled"), _ready_tail()
    finite_own(model)
    assert model.observe(20, 20 + 30.0, tail) is None
    assert model.pending is not None and model.pending.threshold == tail.threshold
    own = _warmed("own-or-pooled")
    finite_own(own)
    assert own.observe(20, 20 + 30.0, _ready_tail()) is None and own.pending is None, "own-or-pooled keeps it"


@pytest.mark.parametrize("peaks, pooled", [(3, True), (10, False)])
def test_an_own_tail_of_too_few_peaks_is_not_trusted(peaks, pooled):
    model, tail = _warmed("own-or-pooled", own_min_peaks=10), _ready_tail()
    spot = model.detector.spot_
    spot.z_, spot.n_peaks_ = 1e9, peaks
    spot._estimate_threshold = lambda: 1e9
    assert model.observe(20, 20 + 30.0, tail) is None
    assert (model.pending is not None) == pooled


def test_unalarmed_scores_are_learned_in_units_of_the_series():
    model, tail = _warmed("own-or-pooled"), _ready_tail()
    baseline = float(np.median(model.clean))
    assert model.unit(baseline) == pytest.approx(max(model.noise(), 0.05 * baseline))
    assert model.observe(20, baseline, tail) is None
    assert len(tail.current) == 1 and 0 <= tail.current[0] < tail.threshold


def test_the_monitor_resolves_the_calibration_from_the_detector():
    assert MonitorConfig().calibration_mode == "own-or-pooled"
    assert MonitorConfig(detector="sr").calibration_mode == "per-series"
    assert Monitor(MonitorConfig(calibration="per-series")).tail is None
    assert Monitor(MonitorConfig(calibration="per-series")).stats_json()["pooled_threshold"] is None
    tail = Monitor(MonitorConfig(pool_window="15min", pool_min_scores=50)).tail
    assert tail is not None and tail.window == 30 and tail.min_scores == 50
    assert (tail.q, tail.level) == (MONITOR_FLUXEV["q"], MONITOR_FLUXEV["level"])
    with pytest.raises(MonitorError, match="calibration='pooled' needs a detector whose scores are in the series"):
        MonitorConfig(detector="sr", calibration="pooled")
    with pytest.raises(MonitorError, match="calibration: must be one of"):
        MonitorConfig(calibration="global")
    with pytest.raises(MonitorError, match="own_min_peaks: must be an integer >= 0"):
        MonitorConfig(own_min_peaks=-1)
    with pytest.raises(MonitorError, match="pool_window"):
        MonitorConfig(pool_window="10s")
