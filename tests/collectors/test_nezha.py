"""Nezha / TraStrainer minute CSVs: hand-made files, plus a check on the shared day when present."""

import gzip
from pathlib import Path

import pytest

from collectors import CollectError, read_spans
from collectors.nezha import read_nezha_csv, service_from_pod

BASE_S = 1_661_142_960  # the rows' times are BASE_S plus a few seconds, in nanoseconds
BASE_US = BASE_S * 1_000_000
HEADER = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "online-boutique-2022-08-22" / "trace"

# t1: front (server root) -> front client "x.Cart/Get" -> cart server; front client "x.Ads/Get" lost callee.
ROWS = [
    "t1,a,root,front-6d5f-abcde,x.Front/Recv.,1661142961000000000,1661142961009000000,9000",
    "t1,b,a,front-6d5f-abcde,x.Cart/Get,1661142961001000000,1661142961005000000,4000",
    "t1,c,b,cart-77aa-zzzzz,x.Cart/Get,1661142961002000000,1661142961004000000,2000",
    "t1,d,c,cart-77aa-zzzzz,db.query,1661142961002500000,1661142961003000000,500",
    "t1,e,a,front-6d5f-abcde,x.Ads/Get,1661142961006000000,1661142961008000000,2000",
]


def write(path, rows, gz=True):
    text = HEADER + "".join(r + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_service_from_pod():
    assert service_from_pod("cartservice-579f59597d-wc2lz") == "cartservice"
    assert service_from_pod("my-cart-579f59597d-wc2lz") == "my-cart"
    assert service_from_pod("redis-0") == "redis-0"


def test_columns_kinds_and_status(tmp_path):
    frame = read_spans(write(tmp_path / "03_53_trace.csv.gz", ROWS))
    by_id = frame.set_index("span_id")
    assert by_id.loc["a", "service"] == "front" and by_id.loc["c", "service"] == "cart"
    assert by_id["parent_id"].isna().tolist() == [True, False, False, False, False]
    assert by_id.loc["a", "start_us"] == BASE_US + 1_000_000 and by_id.loc["b", "duration_us"] == 4000
    assert by_id["kind"].to_dict() == {"a": "server", "b": "client", "c": "server", "d": "internal", "e": "client"}
    assert set(frame["status"]) == {"unset"}
    assert frame["pod"].iloc[0] == "front-6d5f-abcde"


def test_directory_overlap_time_selection_and_duplicates(tmp_path):
    write(tmp_path / "03_53_trace.csv.gz", ROWS[:3])
    write(
        tmp_path / "03_54_trace.csv.gz",
        [*ROWS[2:], "t1,c,b,cart-77aa-zzzzz,x.Cart/Get,1661142961002000000,1661142961004000000,2100"],
    )
    (tmp_path / "notes.txt").write_text("not spans")
    frame = read_spans(tmp_path)
    assert len(frame) == 5
    assert frame.attrs["skipped"] == {"duplicate_span": 1, "not_span_file": 1, "verbatim_duplicate": 1}
    window = read_spans(tmp_path, start=BASE_S + 1.001, end=BASE_S + 1.006)
    assert sorted(window["span_id"]) == ["b", "c", "d"]


def test_malformed_rows_are_counted(tmp_path):
    rows = [*ROWS, "t1,f,a,front-6d5f-abcde,x.Front/Other", "t1,g,a,front-6d5f-abcde,op,soon,1,5"]
    frame = read_nezha_csv([write(tmp_path / "m.csv", rows, gz=False)])
    assert len(frame) == 5
    assert frame.attrs["skipped"] == {"malformed_row": 1, "invalid_start_time": 1}


def test_bad_files(tmp_path):
    bad = tmp_path / "x.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(CollectError, match="x.csv.gz"):
        read_spans(bad)
    with pytest.raises(CollectError, match="no such file"):
        read_spans(tmp_path / "missing")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(CollectError, match="not a span file"):
        read_spans(other)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")
def test_shared_day_minute():
    frame = read_spans(SHARED / "03_53_trace.csv.gz")
    assert len(frame) > 20_000
    assert set(frame["status"]) == {"unset"}
    server_ops = frame.loc[frame["kind"] == "server", "operation"].astype(str)
    assert server_ops.str.contains("Recv").any()
