"""On one real KPI of the shared AIOps 2018 data (skipped when ../shared/data is absent):
the vectorized detector gives exactly the alarms of the literal per-point implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fluxev_literal import literal_fluxev

from fluxev import FluxEV, fill_missing, points_per_day, regular_grid

KPI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kpi-aiops2018"
NAME = "a8c06b47-cc41-3738-9110-12df0ee4c721.csv.gz"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (KPI / "train" / NAME).exists(), reason="../shared/data/kpi-aiops2018 absent"),
]


def load(part):
    frame = pd.read_csv(KPI / part / NAME)
    grid = regular_grid(frame["timestamp"].to_numpy(), frame["value"].to_numpy())
    period = points_per_day(grid.interval)
    return fill_missing(grid.values, period), grid.filled, period


def test_real_kpi_matches_literal_implementation():
    train, train_filled, period = load("train")
    test, test_filled, _ = load("test")
    assert period == 288 and test_filled.any()
    x = np.concatenate((train, test))
    params = dict(s=10, p=5, h=2, period=period, q=0.003)
    score, threshold, alarm = literal_fluxev(x, len(train), **params)
    result = FluxEV(**params).fit(train).detect(test)
    assert alarm.any()
    assert np.array_equal(result.alarm, alarm)
    np.testing.assert_allclose(result.score, score, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.threshold, threshold, rtol=1e-9)
