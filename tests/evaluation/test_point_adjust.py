"""AIOps-challenge point adjustment with a delay, and pooled precision / recall / F1."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.errors import EvaluationError
from evaluation.point_adjust import adjust_alarms, point_adjusted_scores, pooled_scores, segments


def test_segments():
    assert segments([0, 1, 1, 0, 1]).tolist() == [[1, 3], [4, 5]]
    assert segments([0, 0]).shape == (0, 2)


def test_adjustment_by_hand():
    label = [0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    alarm = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1]
    # segment [1, 5): alarm at 3 = start + 2 <= start + delay (2) -> whole segment detected
    # segment [6, 9): no alarm -> stays missed; alarm at 0 and 9 are outside segments: kept
    # segment [10, 12) at the end: alarm at 11 = start + 1 <= start + 2 -> detected
    assert adjust_alarms(alarm, label, delay=2).astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]


def test_late_alarm_counts_as_missed():
    label = [0, 1, 1, 1, 1, 1, 0]
    alarm = [0, 0, 0, 0, 1, 0, 0]  # start + 3 > start + delay (2)
    assert not adjust_alarms(alarm, label, delay=2).any()
    assert adjust_alarms(alarm, label, delay=3).astype(int).tolist() == [0, 1, 1, 1, 1, 1, 0]
    assert adjust_alarms([0, 1, 0], [0, 1, 1], delay=0).tolist() == [False, True, True]


def literal_adjust(alarm, label, delay):
    out = list(alarm)
    i = 0
    while i < len(label):
        if label[i]:
            j = i
            while j < len(label) and label[j]:
                j += 1
            hit = any(alarm[i : min(i + delay + 1, j)])
            for k in range(i, j):
                out[k] = hit
            i = j
        else:
            i += 1
    return [bool(v) for v in out]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80), st.integers(0, 10))
def test_matches_a_literal_implementation(pairs, delay):
    alarm = [a for a, _ in pairs]
    label = [b for _, b in pairs]
    assert adjust_alarms(alarm, label, delay).tolist() == literal_adjust(alarm, label, delay)


def test_pooled_scores_by_hand():
    s = pooled_scores([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert (s.true_positives, s.false_positives, s.false_negatives) == (2, 1, 1)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert pooled_scores([0, 0], [0, 0]).f1 == 0.0


def test_pooled_over_series_adjusts_each_on_its_own():
    # pooled: series 1 detected (3 TP), series 2 missed (2 FN) and one false alarm
    scores = point_adjusted_scores([[0, 1, 0, 0], [1, 0, 0]], [[0, 1, 1, 1], [0, 1, 1]], delay=7)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (3, 1, 2)
    assert scores.precision == pytest.approx(0.75) and scores.recall == pytest.approx(0.6)


def test_bad_input():
    with pytest.raises(EvaluationError, match="length"):
        adjust_alarms([0, 1], [0, 1, 1])
    with pytest.raises(EvaluationError, match="0/1"):
        adjust_alarms([0, 2], [0, 1])
    with pytest.raises(EvaluationError, match="delay"):
        adjust_alarms([0, 1], [0, 1], delay=-1)
    with pytest.raises(EvaluationError, match="no series"):
        point_adjusted_scores([], [])
    with pytest.raises(EvaluationError, match="2 alarm series but 1"):
        point_adjusted_scores([[0], [1]], [[1]])
