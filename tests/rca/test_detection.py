"""detect_evidence on synthetic series with a known shift, and its reports and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests_rca_helpers import BUCKET, INJECT, N_TEST, N_TRAIN, START, ZDetector, build_series

import rca
from core.detector import Detector, DetectorError, UnmodelledSeries
from rca.detection import derived_edge_frame, robust_shift, strength_from


def test_known_shift_gives_hand_computed_strength_mad():
    train = np.array([10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0])
    test = np.array([20.0, 21.0, 19.0])
    shift, spread, center = robust_shift(train, test, rel_floor=0.0, floor=0.0, spread="mad")
    # median 10, |dev| = 0 1 1 0 2 2 0 -> MAD 1 -> spread 1.4826
    assert center == 10.0
    assert spread == pytest.approx(1.4826)
    assert shift == pytest.approx(10 / 1.4826)


def test_difference_spread_and_recent_baseline_ignore_an_earlier_incident():
    # an earlier incident (100s) inside the training window, then back to normal (~10)
    train = np.array([100.0, 101.0, 100.0, 102.0, 10.0, 11.0, 10.0, 9.0, 10.0])
    test = np.array([20.0, 20.0, 21.0])
    shift, spread, center = robust_shift(train, test, rel_floor=0.0, floor=0.0, baseline_points=5)
    # baseline: median(10, 11, 10, 9, 10) = 10; |diffs| = 1 1 2 92 1 1 1 1 -> median 1
    assert center == 10.0
    assert spread == pytest.approx(1.4826 / np.sqrt(2))
    assert shift == pytest.approx(10 / (1.4826 / np.sqrt(2)))
    # the whole-window median and MAD (11 and 1.4826 * 2) see a change 4x smaller
    mad_shift, _, mad_center = robust_shift(train, test, rel_floor=0.0, floor=0.0, spread="mad")
    assert mad_center == 11.0 and mad_shift == pytest.approx(9 / (1.4826 * 2))


def test_relative_floor_limits_z_of_constant_training():
    shift, spread, _ = robust_shift(np.full(10, 2.0), np.array([2.1]), rel_floor=0.05, floor=0.0)
    assert spread == pytest.approx(0.1)
    assert shift == pytest.approx(1.0)


def test_strength_direction_and_confirmation():
    assert strength_from(-4.0, True, "latency_mean_ms", 0.5) == 0.0
    assert strength_from(4.0, True, "latency_mean_ms", 0.5) == 4.0
    assert strength_from(4.0, False, "latency_mean_ms", 0.5) == 2.0
    assert strength_from(-4.0, True, "call_ratio", 0.5) == 4.0
    assert strength_from(float("nan"), True, "error_rate", 0.5) == 0.0


def test_strength_sources_combine_level_and_onset():
    assert strength_from(4.0, True, "latency_mean_ms", onset=10.0, source="both") == 7.0
    assert strength_from(4.0, True, "latency_mean_ms", onset=10.0, source="shift") == 4.0
    assert strength_from(4.0, True, "latency_mean_ms", onset=10.0, source="score") == 10.0
    assert strength_from(4.0, True, "latency_mean_ms", onset=float("nan"), source="both") == 4.0
    # a fall in latency is not harmful, however abrupt
    assert strength_from(-4.0, True, "latency_mean_ms", onset=10.0, source="both") == 0.0
    with pytest.raises(rca.RCAError, match="strength source"):
        strength_from(4.0, True, "latency_mean_ms", onset=1.0, source="max")


def test_injected_shift_is_found_on_the_right_series():
    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    ev = rca.detect_evidence(es, ss, INJECT, detector=ZDetector)
    t = ev.table.set_index(["kind", "caller", "callee", "metric"])
    spent = t.loc[("edge", "a", "b", "server_mean_ms")]
    assert spent["strength"] > 10 and spent["alarms"] == N_TEST
    assert spent["first_alarm"] == INJECT
    assert spent["delta"] == pytest.approx(10.0, abs=0.5)
    assert spent["n_train"] == N_TRAIN and spent["n_test"] == N_TEST
    # the gap between a and b did not change
    assert t.loc[("edge", "a", "b", "gap_mean_ms")]["strength"] < 3
    assert t.loc[("service", "b", None, "latency_mean_ms")]["strength"] > 10
    key = ("edge", "a", "b", "server_mean_ms")
    assert list(ev.scores[key].columns) == ["value", "score", "threshold", "alarm"]
    assert ev.scores[key].index[0] == INJECT


def test_flat_and_short_series_are_reported_not_dropped():
    es, ss = build_series([("a", "b")])
    ev = rca.detect_evidence(es, ss, START + 2 * BUCKET, detector=ZDetector)
    assert ev.table.empty
    assert (ev.unmodelled["reason"].str.startswith("too short: 2 valid training points, need 3")).all()
    ev = rca.detect_evidence(es, ss, INJECT, detector=ZDetector)
    flat = ev.unmodelled.set_index(["kind", "caller", "metric"])
    assert flat.loc[("edge", "a", "error_rate"), "reason"].startswith("flat: constant 0")
    assert flat.loc[("edge", "a", "call_ratio"), "reason"].startswith("flat: constant 1")


class TooShort(Detector):
    def fit(self, train):
        raise UnmodelledSeries("needs 40 points")


def test_unmodelled_series_keeps_shift_with_a_note():
    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    config = rca.DetectionConfig(detector=TooShort, unconfirmed_weight=0.5)
    ev = rca.detect_evidence(es, ss, INJECT, config=config)
    row = ev.table.set_index(["kind", "caller", "callee", "metric"]).loc[("edge", "a", "b", "server_mean_ms")]
    assert "needs 40 points" in row["note"]
    assert row["alarms"] == 0
    assert row["strength"] == pytest.approx(0.5 * row["shift"])
    listed = ev.unmodelled.set_index(["kind", "caller", "callee", "metric"]).loc[("edge", "a", "b", "server_mean_ms")]
    assert "needs 40 points" in listed["reason"] and "level shift" in listed["reason"]


def test_a_detector_bug_is_not_hidden():
    class Broken(Detector):
        def fit(self, train):
            raise ValueError("a bug, not a property of the series")

    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    with pytest.raises(ValueError, match="a bug"):
        rca.detect_evidence(es, ss, INJECT, detector=Broken)


def test_mistyped_detector_parameter_is_an_error_naming_the_valid_ones():
    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    with pytest.raises(
        DetectorError,
        match=r"unknown parameter 'smoothin' \(did you mean 'smoothing'\?\); "
        r"valid parameters: s, p, h, period",
    ):
        rca.localize(
            edge_series=es, service_series=ss, inject_time=INJECT, detection=rca.DetectionConfig(params={"smoothin": 1})
        )
    with pytest.raises(DetectorError, match="q: must be in"):
        rca.DetectionConfig(params={"q": -5})
    with pytest.raises(DetectorError, match="unknown detector 'fluxe'"):
        rca.localize(edge_series=es, inject_time=INJECT, detector="fluxe")


def test_collection_gap_buckets_are_missing_not_zero():
    es, ss = build_series([("a", "b"), ("a", "c")], calls={("a", "b"): 1.0, ("a", "c"): 2.0})
    gap_time = START + 5 * BUCKET
    es.loc[gap_time, "calls"] = 0
    derived = derived_edge_frame(es, ss)
    assert derived.loc[(gap_time, "a", "b"), "latency_mean_ms"] != derived.loc[(gap_time, "a", "b"), "latency_mean_ms"]
    other = derived.xs(START, level="time")
    assert other.loc[("a", "c"), "call_ratio"] == pytest.approx(2.0)
    assert other.loc[("a", "b"), "gap_mean_ms"] == pytest.approx(
        other.loc[("a", "b"), "latency_mean_ms"] - other.loc[("a", "b"), "server_mean_ms"]
    )


def test_test_window_ends_before_end_time():
    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    ev = rca.detect_evidence(es, ss, INJECT, end_time=INJECT + 2 * BUCKET, detector=ZDetector)
    assert set(ev.table["n_test"]) == {2}


def test_bad_inputs_raise_rca_errors():
    es, ss = build_series([("a", "b")])
    with pytest.raises(rca.RCAError, match="train_until: a time is required"):
        rca.detect_evidence(es, ss, None, detector=ZDetector)
    with pytest.raises(rca.RCAError, match="not after train_until"):
        rca.detect_evidence(es, ss, INJECT, end_time=INJECT, detector=ZDetector)
    with pytest.raises(rca.RCAError, match="edge_series: index must be a MultiIndex"):
        rca.detect_evidence(es.reset_index(), ss, INJECT, detector=ZDetector)
    with pytest.raises(rca.RCAError, match="missing column"):
        rca.detect_evidence(es.drop(columns="calls"), ss, INJECT, detector=ZDetector)
    with pytest.raises(rca.RCAError, match="cannot read 'soon' as a time"):
        rca.detect_evidence(es, ss, "soon", detector=ZDetector)


def test_unix_seconds_and_timestamps_agree():
    es, ss = build_series([("a", "b")], fault={"slow": {"b": 10.0}})
    a = rca.detect_evidence(es, ss, INJECT, detector=ZDetector).table
    b = rca.detect_evidence(es, ss, INJECT.timestamp(), detector=ZDetector).table
    pd.testing.assert_frame_equal(a, b)


def test_event_level_is_the_worst_test_bucket():
    train, burst = np.zeros(10), np.array([0.12, 0.0, 0.0, 0.0, 0.0, 0.0])
    # noise: |diffs| all 0 -> the metric floor 0.01; baseline 0
    assert robust_shift(train, burst, 0.05, 0.01, 5, level="max")[0] == pytest.approx(12.0)
    assert robust_shift(train, burst, 0.05, 0.01, 5, level="median")[0] == 0.0


def test_error_burst_shorter_than_the_test_window_blames_the_failing_callee():
    # a -> b -> c; c fails 12 % of calls in the first test bucket only (a restarting pod),
    # and the failures propagate to b and a; the median test bucket has no error at all
    es, ss = build_series([("a", "b"), ("b", "c")])
    for frame in (es, ss):
        first = frame.index.get_level_values("time") == INJECT
        frame.loc[first, "error_rate"] = 0.12
    graph = rca.graph_from_edge_series(es)
    burst = rca.detect_evidence(es, ss, INJECT, detector=ZDetector)
    assert rca.rank(graph, burst).services()[0] == "c"
    t = burst.table.set_index(["kind", "caller", "callee", "metric"])
    assert t.loc[("edge", "b", "c", "error_rate")]["delta"] == pytest.approx(0.12)
    hidden = rca.detect_evidence(es, ss, INJECT, config=rca.DetectionConfig(detector=ZDetector, event_metrics=()))
    assert hidden.table.loc[hidden.table["metric"] == "error_rate", "strength"].max() == 0.0
