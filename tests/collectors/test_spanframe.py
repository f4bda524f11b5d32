import numpy as np
import pandas as pd
import pytest

from collectors import CollectError, make_spanframe, skipped_counts
from collectors.spanframe import SPAN_COLUMNS, empty_spanframe


def _rows(**overrides):
    base = {
        "trace_id": ["t1", "t1", "t2"],
        "span_id": ["a", "b", "c"],
        "parent_id": [None, "a", None],
        "service": ["front", "cart", "front"],
        "operation": ["GET /", "Cart/Get", "GET /"],
        "start_us": [1_000, 1_100, 2_000],
        "duration_us": [500, 100, 300],
        "kind": ["server", "client", "SERVER"],
        "status": ["ok", None, "error"],
        "pod": ["front-1", "front-1", None],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_types_and_defaults():
    frame = make_spanframe(_rows())
    assert list(frame.columns[: len(SPAN_COLUMNS)]) == list(SPAN_COLUMNS)
    assert frame["start_us"].dtype == np.int64
    assert frame["kind"].tolist() == ["server", "client", "server"]
    assert frame["status"].tolist() == ["ok", "unset", "error"]
    assert frame["parent_id"].isna().tolist() == [True, False, True]
    assert skipped_counts(frame) == {}


def test_bad_rows_are_dropped_and_counted():
    rows = _rows(
        trace_id=["t1", "", "t2"],
        span_id=["a", "b", "a"],
        duration_us=[5, 1, -3],
    )
    rows = pd.concat([rows, rows.iloc[[0]]], ignore_index=True)
    frame = make_spanframe(rows, skipped={"malformed_row": 2})
    assert len(frame) == 1
    assert skipped_counts(frame) == {
        "duplicate_span": 1,
        "malformed_row": 2,
        "missing_trace_id": 1,
        "negative_duration": 1,
    }


def test_errors_name_column_and_bad_rows_are_counted():
    with pytest.raises(CollectError, match="missing span column"):
        make_spanframe(_rows().drop(columns=["pod"]))
    frame = make_spanframe(_rows(start_us=[1, "soon", 3]))
    assert frame["span_id"].tolist() == ["a", "c"] and skipped_counts(frame) == {"invalid_start_time": 1}
    frame = make_spanframe(_rows(kind=["server", "sideways", "client"]))
    assert frame["span_id"].tolist() == ["a", "c"] and skipped_counts(frame) == {"unknown_kind": 1}


def test_empty_and_parquet_round_trip(tmp_path):
    assert len(empty_spanframe()) == 0
    frame = make_spanframe(_rows())
    frame.to_parquet(tmp_path / "s.parquet")
    again = make_spanframe(pd.read_parquet(tmp_path / "s.parquet"))
    pd.testing.assert_frame_equal(frame, again, check_categorical=False)


def test_drop_mask_removes_rows_counted_by_the_loader():
    frame = make_spanframe(_rows(), skipped={"verbatim_duplicate": 1}, drop=np.array([False, True, False]))
    assert frame["span_id"].tolist() == ["a", "c"]
    assert skipped_counts(frame) == {"verbatim_duplicate": 1}
    with pytest.raises(CollectError, match="drop mask has 2 entries for 3 rows"):
        make_spanframe(_rows(), drop=np.array([True, False]))
