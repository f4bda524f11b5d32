"""One series of the monitor (monitor/series.py): a level alarm waits for its confirmation, and a
collection gap drops it unless level alarms of other edges implicating the same service wait with it."""

import math
import warnings

import numpy as np
import pytest

from core.errors import DataWarning
from monitor.monitor import MONITOR_FLUXEV
from monitor.series import Alarm, SeriesModel, SeriesSettings, build_prototype, confirmed_at_gap

KEY = ("edge", "web", "db", "latency_mean_ms")


def _model(key, clean=()) -> SeriesModel:
    """A series of the monitor's defaults (warm-up and baseline 20, rel_floor 0.05, min_shift 3)
    whose clean history is ``clean``."""
    model = SeriesModel(key, SeriesSettings(build_prototype("fluxev", MONITOR_FLUXEV), 20, 20, 0.05, 3.0, frozenset()))
    model.clean.extend(clean)
    return model


def _warmed_up_to_a_pending_alarm() -> tuple[SeriesModel, float]:
    """200 values around 20 ms, then a 30 ms shift: its first value leaves a pending alarm."""
    rng = np.random.default_rng(0)
    x = 20 + rng.normal(0, 1, 202)
    x[200:] += 30
    model = _model(KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        for i, v in enumerate(x[:201]):
            assert model.observe(i, float(v)) is None, i
    assert model.pending is not None and model.pending.time == 200
    return model, float(x[201])


def test_the_next_value_still_shifted_confirms_the_alarm_with_the_first_time():
    model, still_shifted = _warmed_up_to_a_pending_alarm()
    alarm = model.observe(201, still_shifted)
    assert alarm is not None and alarm.time == 200 and alarm.value > 45 and 18 < alarm.baseline < 22


def test_a_collection_gap_drops_an_unconfirmed_alarm():
    model, still_shifted = _warmed_up_to_a_pending_alarm()
    model.pause()
    assert model.pending is None
    assert model.observe(201, still_shifted) is None


def _waiting(kind, caller, callee, metric):
    return Alarm((kind, caller, callee, metric), 0, 50.0, 20.0, 9.0, 3.0, 0.5)


def test_at_a_gap_waiting_alarms_of_two_edges_implicating_one_service_confirm_each_other():
    web_db = _waiting("edge", "web", "db", "latency_mean_ms")
    web_db_p90 = _waiting("edge", "web", "db", "latency_p90_ms")
    api_db = _waiting("edge", "api", "db", "server_mean_ms")
    db = _waiting("service", "db", None, "latency_mean_ms")
    calls = _waiting("edge", "db", "disk", "call_ratio")  # calls per request implicate the caller, db
    other = _waiting("edge", "web", "cache", "latency_mean_ms")
    assert confirmed_at_gap([web_db, web_db_p90, db, other], 2) == [], "one edge's metrics, and the service's own"
    assert confirmed_at_gap([web_db, api_db, db, other], 2) == [web_db, api_db, db]
    assert confirmed_at_gap([web_db, calls], 2) == [web_db, calls]
    assert confirmed_at_gap([web_db, api_db, calls], 3) == [web_db, api_db, calls]
    assert confirmed_at_gap([web_db, api_db], 3) == []
    assert confirmed_at_gap([web_db, api_db], 0) == [], "0: a gap drops every unconfirmed alarm"
    assert confirmed_at_gap([other], 1) == [other]


def test_the_margin_is_min_shift_noise_units_of_rca():
    # successive steps 1, 3, 1, 3: median 2, noise = 2 * 1.4826 / sqrt(2) = 2.0967; 5 % of 100 = 5 wins
    model = _model(KEY, [100.0, 101.0, 98.0, 99.0, 96.0])
    assert model.noise() == pytest.approx(2 * 1.4826 / math.sqrt(2))
    assert model.margin(100.0) == pytest.approx(3 * 5.0)
    assert model.harmful(115.5, 100.0) and not model.harmful(114.5, 100.0)
    assert not model.harmful(50.0, 100.0), "a drop of a latency is a recovery, not a symptom"
    # the noise wins on a small baseline: 3 * 2.0967
    assert model.margin(10.0) == pytest.approx(3 * 2 * 1.4826 / math.sqrt(2))


def test_the_metric_floor_is_a_noise_unit_too():
    # an error rate that was always 0: noise 0, 5 % of 0 = 0, floor 0.01 -> margin 0.03
    model = _model(("edge", "web", "db", "error_rate"), [0.0] * 5)
    assert model.margin(0.0) == pytest.approx(0.03)
    assert model.harmful(0.031, 0.0) and not model.harmful(0.029, 0.0)
    # calls per request count both ways
    ratio = _model(("edge", "web", "db", "call_ratio"), [2.0] * 5)
    assert ratio.margin(2.0) == pytest.approx(0.3)
    assert ratio.harmful(1.6, 2.0) and ratio.harmful(2.4, 2.0) and not ratio.harmful(1.8, 2.0)
