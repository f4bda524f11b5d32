"""Detector metrics against hand-computed examples and the definitions' own properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.detector_metrics import (
    detector_scores,
    event_recall,
    false_alarm_events,
    pa_k_adjust,
    point_adjust,
)
from evaluation.errors import EvaluationError

# segments [2, 6) (4 points) and [8, 10) (2 points)
LABEL = np.array([0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
ALARM = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], dtype=bool)


def test_point_wise_by_hand():
    s = detector_scores(ALARM, LABEL, seconds_per_point=3600)
    # TP = {3}; FP = {0, 7}; FN = {2, 4, 5, 8, 9}; TN = {1, 6, 10, 11}
    assert (s.true_positives, s.false_positives, s.false_negatives, s.true_negatives) == (1, 2, 5, 4)
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(1 / 6)
    assert s.f1 == pytest.approx(2 / 9)
    assert s.far == pytest.approx(2 / 6)
    assert s.mar == pytest.approx(5 / 6)


def test_adjusted_and_event_metrics_by_hand():
    s = detector_scores(ALARM, LABEL, seconds_per_point=3600)
    # PA: the first segment is detected (alarm at 3) -> TP 4, FP 2, FN 2
    assert point_adjust(ALARM, LABEL).astype(int).tolist() == [1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    assert s.f1_pa == pytest.approx(8 / 12)
    # PA%20: 1 of 4 points = 25 % > 20 % -> adjusted; PA%25: not (strictly more than K %)
    assert s.f1_pa_k == pytest.approx(2 / 3)
    assert pa_k_adjust(ALARM, LABEL, 25).tolist() == ALARM.tolist()
    # F1(K) = 2/3 for K = 0..24, 2/9 for K = 25..100: trapezoid area / 100
    assert s.pa_k_auc == pytest.approx((24 * 2 / 3 + (2 / 3 + 2 / 9) / 2 + 75 * 2 / 9) / 100)
    assert s.event_recall == pytest.approx(0.5) == event_recall(ALARM, LABEL)
    # alarm runs {0}, {3}, {7}: two touch no label; 12 points of an hour = half a day
    assert s.false_alarm_events == 2 == false_alarm_events(ALARM, LABEL)
    assert s.false_alarms_per_day == pytest.approx(4.0)
    assert s.events == 2


def test_series_are_adjusted_separately_then_pooled():
    # a segment at the end of the first series and one at the start of the second must not merge
    a1, l1 = np.array([0, 0, 1]), np.array([0, 1, 1])
    a2, l2 = np.array([0, 0, 0]), np.array([1, 1, 0])
    s = detector_scores([a1, a2], [l1, l2])
    assert s.events == 2 and s.event_recall == 0.5
    assert (s.true_positives, s.false_negatives) == (1, 3)
    assert s.f1_pa == pytest.approx(2 * 2 / (2 * 2 + 0 + 2))
    assert math.isnan(s.false_alarms_per_day)


def test_all_ones_detector():
    rng = np.random.default_rng(0)
    label = rng.random(500) < 0.54
    s = detector_scores(np.ones(500, dtype=bool), label)
    p = label.mean()
    assert s.f1 == pytest.approx(2 * p / (1 + p))
    assert s.far == 1.0 and s.mar == 0.0 and s.f1_pa == pytest.approx(s.f1)


def test_sklearn_agrees_on_point_wise():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    label, alarm = rng.random(300) < 0.3, rng.random(300) < 0.2
    s = detector_scores(alarm, label)
    assert s.f1 == pytest.approx(sklearn_metrics.f1_score(label, alarm))
    assert s.precision == pytest.approx(sklearn_metrics.precision_score(label, alarm))
    assert s.recall == pytest.approx(sklearn_metrics.recall_score(label, alarm))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_pa_k_lies_between_point_wise_and_point_adjusted(pairs):
    alarm = np.array([a for a, _ in pairs])
    label = np.array([b for _, b in pairs])
    assert pa_k_adjust(alarm, label, 0).tolist() == point_adjust(alarm, label).tolist()
    assert pa_k_adjust(alarm, label, 100).tolist() == alarm.tolist()
    s = detector_scores(alarm, label)
    assert s.f1 - 1e-12 <= s.f1_pa_k <= s.f1_pa + 1e-12
    assert s.f1 - 1e-12 <= s.pa_k_auc <= s.f1_pa + 1e-12


def test_errors_name_the_input():
    with pytest.raises(EvaluationError, match="differ in length"):
        detector_scores(np.zeros(3), np.zeros(4))
    with pytest.raises(EvaluationError, match="k: must be"):
        pa_k_adjust([0, 1], [0, 1], 101)
    with pytest.raises(EvaluationError, match="no series"):
        detector_scores([], [])
    with pytest.raises(EvaluationError, match="0/1"):
        detector_scores(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(EvaluationError, match="seconds_per_point"):
        detector_scores(ALARM, LABEL, seconds_per_point=0)
