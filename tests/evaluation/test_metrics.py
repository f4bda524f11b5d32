from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.metrics import (
    Outcome,
    accuracy_at,
    average_accuracy,
    by_day,
    by_fault_type,
    chance_accuracy,
    mean_rank,
    rank_of,
    summarize,
)


def _outcome(case_id, truth, ranking, n, fault="delay", error=None, seconds=1.0):
    return Outcome(
        case_id=case_id,
        method="m",
        fault_type=fault,
        root_causes=truth,
        ranking=ranking,
        n_candidates=n,
        seconds=seconds,
        error=error,
    )


# ranks 1, 3, miss (N=4 -> counts 5), 5
HAND = [
    _outcome("c1", ["a"], ["a", "b", "c"], 3, "cpu", seconds=1.0),
    _outcome("c2", ["b"], ["a", "c", "b"], 3, "cpu", seconds=2.0),
    _outcome("c3", ["x"], ["a", "b"], 4, "delay", seconds=3.0),
    _outcome("c4", ["c"], ["d", "e", "f", "g", "c", "h", "i"], 7, "delay", seconds=6.0),
]


def test_rank_of_first_root_cause_and_miss():
    assert rank_of(["a", "b", "c"], ["c", "b"]) == 2
    assert rank_of(["a", "b"], ["z"]) is None
    assert rank_of([], ["a"]) is None


def test_hand_computed_accuracies():
    ranks = [o.rank for o in HAND]
    assert ranks == [1, 3, None, 5]
    assert accuracy_at(ranks, 1) == 0.25
    assert accuracy_at(ranks, 2) == 0.25
    assert accuracy_at(ranks, 3) == 0.5
    assert accuracy_at(ranks, 5) == 0.75
    assert average_accuracy(ranks, 5) == pytest.approx((0.25 + 0.25 + 0.5 + 0.5 + 0.75) / 5)
    assert mean_rank(ranks, [3, 3, 4, 7]) == pytest.approx((1 + 3 + 5 + 5) / 4)


def test_summary_and_fault_breakdown():
    s = summarize(HAND)
    assert s["AC@1"] == 0.25 and s["AC@3"] == 0.5 and s["AC@5"] == 0.75
    assert s["Avg@5"] == pytest.approx(0.45)
    assert s["mean_rank"] == pytest.approx(3.5)
    assert s["seconds_per_case"] == pytest.approx(3.0)
    # chance AC@1 = mean(1/3, 1/3, 1/4, 1/7)
    assert s["chance"]["AC@1"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 4 + 1 / 7) / 4)
    # chance AC@3 = mean(1, 1, 3/4, 3/7)
    assert s["chance"]["AC@3"] == pytest.approx((1 + 1 + 0.75 + 3 / 7) / 4)
    groups = by_fault_type(HAND)
    assert list(groups) == ["cpu", "delay"]
    assert groups["cpu"]["cases"] == 2 and groups["cpu"]["AC@1"] == 0.5 and groups["cpu"]["AC@3"] == 1.0
    assert groups["delay"]["AC@1"] == 0.0 and groups["delay"]["AC@5"] == 0.5


def test_failed_case_counts_as_miss():
    outcomes = [_outcome("c1", ["a"], ["a"], 2), _outcome("c2", ["a"], [], 2, error="RCAError: boom")]
    s = summarize(outcomes)
    assert s["AC@1"] == 0.5 and s["failed"] == 1 and s["mean_rank"] == pytest.approx((1 + 3) / 2)


def test_chance_hand_values():
    assert chance_accuracy(10, 3) == pytest.approx(0.3)
    assert chance_accuracy(4, 2, n_root_causes=2) == pytest.approx(1 - 1 / 6)
    assert chance_accuracy(3, 5) == 1.0
    assert chance_accuracy(0, 1) == 0.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), r=st.integers(1, 3), k=st.integers(1, 6))
def test_chance_equals_enumeration_of_all_orders(n, r, k):
    r = min(r, n)
    truth = set(range(r))
    orders = list(permutations(range(n)))
    hits = sum(bool(truth & set(order[:k])) for order in orders)
    assert chance_accuracy(n, k, r) == pytest.approx(hits / len(orders))


def test_bad_k():
    with pytest.raises(ValueError):
        accuracy_at([1], 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 12)), min_size=1, max_size=30))
def test_accuracy_properties(ranks):
    curve = [accuracy_at(ranks, k) for k in range(1, 6)]
    assert curve == sorted(curve) and 0.0 <= curve[0] and curve[-1] <= 1.0
    assert curve[0] - 1e-12 <= average_accuracy(ranks, 5) <= curve[-1] + 1e-12
    sizes = [12] * len(ranks)
    assert 1.0 <= mean_rank(ranks, sizes) <= 13.0
    assert mean_rank(ranks, sizes) == pytest.approx(sum(13 if r is None else r for r in ranks) / len(ranks))


def test_by_day_groups_by_the_outcome_day():
    outcomes = [
        _outcome("a", ["x"], ["x", "y"], 2),
        _outcome("b", ["x"], ["y", "x"], 2),
        _outcome("c", ["y"], ["y"], 2),
    ]
    for o, day in zip(outcomes, ["2023-09-22", "2023-09-23", "2023-09-22"]):
        o.day = day
    table = by_day(outcomes)
    assert list(table) == ["2023-09-22", "2023-09-23"]
    assert table["2023-09-22"]["cases"] == 2 and table["2023-09-22"]["AC@1"] == 1.0
    assert table["2023-09-23"]["AC@1"] == 0.0 and table["2023-09-23"]["AC@2"] == 1.0
