"""MVAD's data rules in the multivariate base: alignment, filling, limits, and their errors."""

import json

import numpy as np
import pandas as pd
import pytest
from multivariate_helpers import correlated

from core.detector import DetectorError, UnmodelledSeries
from detectors import make_detector
from detectors.multivariate import PCADetector

DAYS = pd.to_datetime(["2020-11-01", "2020-11-02", "2020-11-04", "2020-11-05"])
OTHER = pd.to_datetime(["2020-11-01", "2020-11-02", "2020-11-03", "2020-11-04"])


def test_inner_and_outer_alignment_follow_the_mvad_example():
    variables = {"v1": pd.Series([1.0, 2, 4, 5], index=DAYS), "v2": pd.Series([1.0, 2, 3, 4], index=OTHER)}
    inner = PCADetector(align_mode="Inner").prepare(variables)
    assert [str(t.date()) for t in inner[2]] == ["2020-11-01", "2020-11-02", "2020-11-04"]
    assert inner[0].tolist() == [[1, 1], [2, 2], [4, 4]]
    outer = PCADetector(align_mode="Outer", max_missing_ratio=0.5, fill_na_method="Zero").prepare(variables)
    assert len(outer[2]) == 5
    assert outer[0].tolist() == [[1, 1], [2, 2], [0, 3], [4, 4], [5, 0]]
    assert outer[3][0] == {
        "variable": "v1",
        "filledNARatio": 0.2,
        "effectiveCount": 4,
        "firstTimestamp": "2020-11-01T00:00:00",
        "lastTimestamp": "2020-11-05T00:00:00",
    }
    assert outer[3][1]["filledNARatio"] == 0.2 and outer[3][1]["lastTimestamp"] == "2020-11-04T00:00:00"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("Previous", [1, 2, 2, 3, 3, 4]),
        ("Subsequent", [1, 2, 3, 3, 4, 4]),
        ("Linear", [1, 2, 2.5, 3, 3.5, 4]),
        ("Zero", [1, 2, 0, 3, 0, 4]),
        ("Fixed", [1, 2, 7, 3, 7, 4]),
    ],
)
def test_fill_methods_follow_the_mvad_table(method, expected):
    frame = pd.DataFrame({"x": [1, 2, np.nan, 3, np.nan, 4], "y": np.arange(6.0)})
    detector = PCADetector(fill_na_method=method, padding_value=7 if method == "Fixed" else None, max_missing_ratio=0.5)
    assert detector.prepare(frame)[0][:, 0].tolist() == expected


def test_edges_take_the_nearest_value():
    frame = pd.DataFrame({"x": [np.nan, 2.0, 3.0, np.nan]})
    assert PCADetector(fill_na_method="Linear", max_missing_ratio=0.5).prepare(frame)[0][:, 0].tolist() == [2, 2, 3, 3]


def test_parameter_errors_name_the_field_and_the_choices():
    with pytest.raises(DetectorError, match="align_mode: must be one of Inner, Outer, got 'Middle'"):
        make_detector("pca", align_mode="Middle")
    with pytest.raises(DetectorError, match="fill_na_method: must be one of Previous, Subsequent, Linear"):
        make_detector("pca", fill_na_method="Mean")
    with pytest.raises(DetectorError, match="padding_value: required when fill_na_method is 'Fixed'"):
        make_detector("pca", fill_na_method="Fixed")
    with pytest.raises(DetectorError, match=r"max_missing_ratio: must be a number in \[0, 1\)"):
        make_detector("pca", max_missing_ratio=1.5)
    assert make_detector("pca", align_mode="inner").prepare(pd.DataFrame({"x": [1.0, np.nan, 2]}))[0].shape == (2, 1)


def test_data_errors_name_the_variable_and_the_value():
    frame = correlated(50)
    frame.iloc[:15, 1] = np.nan
    with pytest.raises(DetectorError, match=r"variable 'b' has 30.0% missing values .* max_missing_ratio = 20%"):
        PCADetector().fit(frame)
    bad = correlated(50).astype(object)
    bad.iloc[3, 0] = "high"
    with pytest.raises(DetectorError, match="variable 'a' holds a non-numeric value"):
        PCADetector().fit(bad)
    inf = correlated(50)
    inf.iloc[3, 2] = np.inf
    with pytest.raises(DetectorError, match="variable 'c' holds an infinite value"):
        PCADetector().fit(inf)
    with pytest.raises(DetectorError, match="expected a DataFrame"):
        PCADetector().fit([1, 2, 3])
    with pytest.raises(UnmodelledSeries, match="train: 2 rows after Outer alignment, PCADetector needs at least 3"):
        PCADetector().fit(correlated(2))


def test_detection_needs_the_training_variables():
    detector = PCADetector().fit(correlated(100))
    with pytest.raises(DetectorError, match=r"missing \['c'\], unexpected \['d'\]"):
        detector.detect(correlated(10).rename(columns={"c": "d"}))
    reordered = correlated(20, seed=3)
    same = PCADetector().fit(correlated(100)).detect(reordered[["c", "a", "b"]])
    assert np.allclose(same.score, PCADetector().fit(correlated(100)).detect(reordered).score)
    with pytest.raises(DetectorError, match="call fit"):
        PCADetector().detect(reordered)


@pytest.mark.parametrize(("name", "params"), [("pca", {"smooth": 3}), ("fluxev-combined", {"smoothing": 1, "s": 5})])
def test_update_is_detect_one_row_at_a_time(name, params):
    train, test = correlated(200), correlated(40, seed=5)
    test.iloc[20:23, 0] += 4.0
    batch = make_detector(name, **params).fit(train).detect(test)
    streaming = make_detector(name, **params).fit(train)
    points = [streaming.update(row) for row in test.to_numpy()]
    assert np.allclose([p.score for p in points], batch.score)
    assert [p.alarm for p in points] == batch.alarm.tolist() and batch.alarm.any()
    mapping = make_detector(name, **params).fit(train).update(dict(test.iloc[0]))
    assert mapping.score == pytest.approx(batch.score[0])


def test_anomaly_states_have_mvad_fields():
    train, test = correlated(200), correlated(60, seed=1)
    test.iloc[30:, 1] += 5.0
    detector = PCADetector().fit(train)
    states = detector.anomaly_states(test, top_contributor_count=3)
    json.dumps(states)
    assert len(states) == 60
    assert states[0]["timestamp"] == test.index[0].isoformat()
    assert set(states[0]["value"]) == {"isAnomaly", "severity", "score", "interpretation"}
    anomalous = [s for s in states if s["value"]["isAnomaly"]]
    assert anomalous and all(0 < s["value"]["severity"] <= 1 for s in anomalous)
    assert all(s["value"]["severity"] == 0 and not s["value"]["interpretation"] for s in states if s not in anomalous)
    late = [s for s in anomalous if s["timestamp"] >= test.index[35].isoformat()]
    first = late[0]["value"]["interpretation"]
    assert len(first) == 3 and first[0]["variable"] == "b"
    assert [i["contributionScore"] for i in first] == sorted((i["contributionScore"] for i in first), reverse=True)
    # b jumped by 5 while a and c did not: its correlation with them changed over the window
    changes = first[0]["correlationChanges"]
    assert set(changes["changedVariables"]) == {"a", "c"} and all(abs(v) > 0.5 for v in changes["changedValues"])
    everything = PCADetector().fit(train).anomaly_states(test, top_contributor_count=30)
    for state in everything:
        if state["value"]["isAnomaly"]:
            assert sum(i["contributionScore"] for i in state["value"]["interpretation"]) == pytest.approx(1.0)
    with pytest.raises(DetectorError, match="top_contributor_count: must be an integer 1..30"):
        detector.anomaly_states(test, top_contributor_count=0)
