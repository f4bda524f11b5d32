"""One series of the monitor (monitor/series.py): a level alarm waits for its confirmation, and a
collection gap drops it."""

import warnings

import numpy as np

from core.errors import DataWarning
from monitor.monitor import MONITOR_FLUXEV
from monitor.series import SeriesModel, SeriesSettings, build_prototype

KEY = ("edge", "web", "db", "latency_mean_ms")


def _warmed_up_to_a_pending_alarm() -> tuple[SeriesModel, float]:
    """200 values around 20 ms, then a 30 ms shift: its first value leaves a pending alarm."""
    rng = np.random.default_rng(0)
    x = 20 + rng.normal(0, 1, 202)
    x[200:] += 30
    model = SeriesModel(KEY, SeriesSettings(build_prototype("fluxev", MONITOR_FLUXEV), 20, 20, 0.05, 3.0, frozenset()))
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
