"""The mean-shift change-point statistic of detectors.changepoint against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.detector import DetectorError
from detectors.changepoint import change_points, mean_shift_statistic


def test_statistic_by_hand():
    x = np.array([1.0, 2.0, 3.0, 7.0, 8.0, 9.0])
    t = mean_shift_statistic(x, 3)
    # t = 3: before [1, 2, 3] mean 2 var 1, after [7, 8, 9] mean 8 var 1 -> 6 / sqrt(2 / 3)
    assert t[3] == pytest.approx(6 / math.sqrt(2 / 3))
    assert np.isnan(t[[0, 1, 2, 4, 5]]).all()


def test_confidence_is_bonferroni_of_the_normal_tail():
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(40), np.full(40, 2.0)] + rng.normal(0, 0.5, 80)
    is_cp, confidence = change_points(x, window=8, threshold=0.99)
    stat = mean_shift_statistic(x, 8)
    i = 40
    assert confidence[i] == pytest.approx(max(0.0, 1 - 80 * math.erfc(stat[i] / math.sqrt(2))))
    assert list(np.flatnonzero(is_cp)) == [40]
    assert (confidence[:8] == 0).all()


def test_errors():
    with pytest.raises(DetectorError, match="threshold"):
        change_points(np.zeros(30), 5, threshold=1.5)
    with pytest.raises(DetectorError, match="window"):
        mean_shift_statistic(np.zeros(30), 0)
