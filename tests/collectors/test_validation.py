"""Row validation, parent cycles, the unit rule in the readers, streaming JSON and window push-down."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import (
    CollectError,
    jsonfiles,
    make_spanframe,
    read_spans,
    skipped_counts,
    to_jaeger_traces,
    write_spans,
)
from collectors.jsonstream import iter_elements
from collectors.keys import cycle_members
from collectors.spanframe import MAX_DURATION_US
from core.units import UnitWarning

T0 = 1_661_142_963 * 10**6  # µs


def _rows(**columns):
    base = {
        "trace_id": ["t"] * 3,
        "span_id": ["a", "b", "c"],
        "parent_id": [None, "a", "b"],
        "service": ["web", "web", "cart"],
        "operation": ["GET", "Cart/Get", "Cart/Get"],
        "start_us": [T0, T0 + 1, T0 + 2],
        "duration_us": [10, 5, 3],
        "kind": ["server", "client", "server"],
        "status": ["ok", "ok", "error"],
        "pod": [None] * 3,
    }
    base.update(columns)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("start_us", float("nan"), "invalid_start_time"),
        ("start_us", "soon", "invalid_start_time"),
        ("start_us", 1e30, "invalid_start_time"),
        ("start_us", -T0, "start_out_of_range"),
        ("duration_us", float("inf"), "invalid_duration"),
        ("duration_us", -1, "negative_duration"),
        ("duration_us", MAX_DURATION_US + 1, "duration_out_of_range"),
        ("status", "weird", "unknown_status"),
        ("kind", "sideways", "unknown_kind"),
        ("service", "", "missing_service"),
        ("parent_id", "b", "parent_cycle"),
    ],
)
def test_each_bad_value_drops_its_row_counted(column, value, reason):
    values = list(_rows()[column])
    values[1] = value
    frame = make_spanframe(_rows(**{column: values}))  # for parent_id: b's parent is b, a cycle of one
    assert skipped_counts(frame) == {reason: 1}
    assert "b" not in set(frame["span_id"])


def test_times_in_another_unit_are_converted_counted_and_warned():
    with pytest.warns(UnitWarning, match=r"1 start_us in nanoseconds, 1 start_us in seconds to microseconds"):
        frame = make_spanframe(_rows(start_us=[T0, T0 // 10**6 + 1, (T0 + 2) * 1000], duration_us=[10, 5, 3]))
    assert frame["start_us"].tolist() == [T0, T0 + 10**6, T0 + 2]
    # a duration follows its start's unit: 5 s and 3 ns, in µs
    assert frame["duration_us"].tolist() == [10, 5 * 10**6, 0]
    assert frame.attrs["converted"] == {"start_us in nanoseconds": 1, "start_us in seconds": 1}


def test_cycle_members_by_hand():
    assert cycle_members(np.array([-1, 0, 1])).tolist() == [False] * 3
    assert cycle_members(np.array([2, 0, 1, 0, -1])).tolist() == [True, True, True, False, False]
    assert cycle_members(np.array([0, -1])).tolist() == [True, False]
    assert cycle_members(np.array([1, 0, 0, 2, 3])).tolist() == [True, True, False, False, False]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1, 11), min_size=1, max_size=12))
def test_cycle_members_agree_with_walking_the_links(parents):
    parent = np.array([p if p < len(parents) else -1 for p in parents])
    expected = []
    for i in range(len(parent)):
        j, steps = int(parent[i]), 0
        while j >= 0 and j != i and steps <= len(parent):
            j, steps = int(parent[j]), steps + 1
        expected.append(j == i)
    assert cycle_members(parent).tolist() == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["data", "resourceSpans", "x", "y"]), JSON, max_size=3) | st.lists(JSON))
def test_streamed_elements_rebuild_the_document(document):
    text = json.dumps(document, indent=1)
    parts = list(iter_elements(io.StringIO(text), "doc"))
    if isinstance(document, list):
        assert [e for _, e in parts] == document
        return
    rebuilt = dict(parts[-1][1])
    streamed = rebuilt.pop("_streamed", False)
    for key, element in parts[:-1]:
        rebuilt.setdefault(key, []).append(element)
    for key, value in document.items():
        if key in ("data", "resourceSpans") and isinstance(value, list):
            assert streamed
            rebuilt.setdefault(key, [])
    assert rebuilt == document


def test_chunked_json_equals_one_chunk(tmp_path, monkeypatch, sample):
    spans = sample(40)
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"data": to_jaeger_traces(spans)}))
    whole = read_spans(path)
    monkeypatch.setattr(jsonfiles, "CHUNK_SPANS", 7)
    chunked = read_spans(path)
    pd.testing.assert_frame_equal(whole, chunked)
    window = read_spans(path, start=(T_SAMPLE + 5 * 10**6) / 1e6, end=(T_SAMPLE + 9 * 10**6) / 1e6)
    expected = whole[(whole["start_us"] >= T_SAMPLE + 5 * 10**6) & (whole["start_us"] < T_SAMPLE + 9 * 10**6)]
    assert sorted(window["span_id"]) == sorted(expected["span_id"])


T_SAMPLE = 1_700_000_000 * 10**6


def test_parquet_window_pushdown_equals_filtering_after(tmp_path, sample):
    spans = sample(60)
    path = write_spans(spans, tmp_path / "s.parquet")
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(path), path, row_group_size=20)
    lo, hi = T_SAMPLE + 13 * 10**6, T_SAMPLE + 41 * 10**6
    window = read_spans(path, start=lo / 1e6, end=hi / 1e6)
    whole = read_spans(path)
    expected = whole[(whole["start_us"] >= lo) & (whole["start_us"] < hi)].reset_index(drop=True)
    pd.testing.assert_frame_equal(window.reset_index(drop=True), expected, check_categorical=False)


def test_parquet_in_another_unit_is_not_pushed_down(tmp_path, sample):
    spans = sample(10)
    spans["start_us"] = spans["start_us"] * 1000  # nanoseconds in a start_us column
    path = tmp_path / "ns.parquet"
    spans.to_parquet(path)
    with pytest.warns(UnitWarning):
        window = read_spans(path, start=T_SAMPLE / 1e6 + 2, end=T_SAMPLE / 1e6 + 4)
    assert sorted(window["trace_id"].unique()) == [f"{3:032x}", f"{4:032x}"]


def test_a_read_that_keeps_nothing_says_what_it_skipped(tmp_path):
    path = tmp_path / "traces.csv"
    path.write_text(
        "traceID,spanID,parentSpanID,serviceName,operationName,startTime,duration\nt,a,,s,op,nan,5\nt,b,,s,op,1,-5\n"
    )
    with pytest.raises(CollectError, match=r"no span read \(skipped: invalid_start_time 1, negative_duration 1\)"):
        read_spans(path)


def test_window_must_be_ordered(tmp_path, sample):
    path = write_spans(sample(3), tmp_path / "s.parquet")
    with pytest.raises(CollectError, match="start .* must be before end"):
        read_spans(path, start=T_SAMPLE / 1e6 + 10, end=T_SAMPLE / 1e6)
