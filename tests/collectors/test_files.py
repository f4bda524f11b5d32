"""Jaeger UI exports, JSON lines, OTLP JSON, RCAEval traces.csv and SpanFrame Parquet, by content."""

import gzip
import json

import pandas as pd
import pytest

from collectors import CollectError, detect_format, make_spanframe, read_spans, to_jaeger_traces, write_spans
from collectors.otlp import jaeger_to_otlp, otlp_id
from collectors.status import status_from_tags


def tag(key, value, kind="string"):
    return {"key": key, "type": kind, "value": value}


TRACE = {
    "traceID": "t1",
    "spans": [
        {
            "traceID": "t1",
            "spanID": "a",
            "operationName": "GET /",
            "references": [],
            "startTime": 1_000,
            "duration": 900,
            "tags": [tag("span.kind", "server"), tag("http.status_code", 503, "int64")],
            "processID": "p1",
        },
        {
            "traceID": "t1",
            "spanID": "b",
            "operationName": "Cart/Get",
            "references": [
                {"refType": "FOLLOWS_FROM", "traceID": "t1", "spanID": "x"},
                {"refType": "CHILD_OF", "traceID": "t1", "spanID": "a"},
            ],
            "startTime": 1_100,
            "duration": 500,
            "tags": [tag("span.kind", "client"), tag("peer.service", "cart"), tag("rpc.grpc.status_code", 0, "int64")],
            "processID": "p1",
        },
        {
            "traceID": "t1",
            "spanID": "c",
            "operationName": "Cart/Get",
            "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "b"}],
            "startTime": 1_150,
            "duration": 300,
            "tags": [tag("span.kind", "server"), tag("error", True, "bool")],
            "processID": "p2",
        },
        {
            "traceID": "t1",
            "spanID": "d",
            "operationName": "broken",
            "startTime": "soon",
            "duration": 1,
            "processID": "p2",
        },
    ],
    "processes": {
        "p1": {"serviceName": "web", "tags": [tag("hostname", "web-7")]},
        "p2": {"serviceName": "cart", "tags": [tag("k8s.pod.name", "cart-1")]},
    },
}


def check_trace(frame, skipped=None):
    by_id = frame.set_index("span_id")
    assert by_id["service"].to_dict() == {"a": "web", "b": "web", "c": "cart"}
    assert by_id["parent_id"].to_dict() == {"a": pd.NA, "b": "a", "c": "b"} or by_id.loc["b", "parent_id"] == "a"
    assert by_id["kind"].to_dict() == {"a": "server", "b": "client", "c": "server"}
    assert by_id["status"].to_dict() == {"a": "error", "b": "unset", "c": "error"}
    assert by_id.loc["b", "peer_service"] == "cart"
    assert by_id.loc["a", "http_status"] == 503 and by_id.loc["b", "grpc_status"] == 0
    assert by_id.loc["a", "pod"] == "web-7" and by_id.loc["c", "pod"] == "cart-1"
    assert frame.attrs["skipped"] == ({"invalid_start_time": 1} if skipped is None else skipped)


@pytest.mark.parametrize("layout", ["data", "list", "lines", "gzip"])
def test_jaeger_exports(tmp_path, layout):
    path = tmp_path / "export.json"
    if layout == "data":
        path.write_text(json.dumps({"data": [TRACE], "total": 1}))
    elif layout == "list":
        path.write_text(json.dumps([TRACE]))
    elif layout == "lines":
        path = tmp_path / "export.jsonl"
        path.write_text(json.dumps(TRACE) + "\n" + json.dumps({"data": []}) + "\nnot json\n")
    else:
        path = tmp_path / "export.json.gz"
        with gzip.open(path, "wt") as handle:
            json.dump({"data": [TRACE]}, handle)
    frame = read_spans(path)
    if layout == "lines":
        assert frame.attrs["skipped"].pop("malformed_line") == 1
    check_trace(frame)


def test_otlp_file(tmp_path):
    document = jaeger_to_otlp([TRACE | {"spans": TRACE["spans"][:3]}])
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "t1", "name": "no times"})
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(document))
    assert detect_format(path) == "otlp_json"
    frame = read_spans(path)
    check_trace(frame)


def test_otlp_ids_and_kinds():
    assert otlp_id("5B8EFFF798038103D269B633813FC60C") == "5b8efff798038103d269b633813fc60c"
    assert otlp_id("W47/95gDgQPSabYzgT/GDA==") == "5b8efff798038103d269b633813fc60c"
    assert otlp_id("") is None and otlp_id("AAAAAAAAAAA=") is None
    from collectors.otlp import _kind

    assert [_kind(v) for v in (2, "SPAN_KIND_CLIENT", 0, "weird")] == ["server", "client", "unknown", "unknown"]


def test_status_rules():
    assert status_from_tags({}) == "unset"
    assert status_from_tags({"error": "true"}) == "error"
    assert status_from_tags({"error": False}) == "unset"
    assert status_from_tags({"otel.status_code": "ERROR"}) == "error"
    assert status_from_tags({"otel.status_code": "OK"}) == "ok"
    assert status_from_tags({}, "STATUS_CODE_ERROR") == "error"
    assert status_from_tags({"http.response.status_code": 500}) == "error"
    assert status_from_tags({"http.status_code": "404"}) == "unset"
    assert status_from_tags({"rpc.grpc.status_code": 14}) == "error"
    assert status_from_tags({"rpc.grpc.status_code": 0}, 1) == "ok"


def test_rcaeval_csv(tmp_path):
    path = tmp_path / "traces.csv"
    path.write_text(
        "traceID,spanID,parentSpanID,serviceName,operationName,methodName,startTime,duration,statusCode\n"
        "t1,a,,front,GET /cart,GET,1000,900,200\n"
        "t1,b,a,front,hipstershop.CartService/GetCart,POST,1100,500,0\n"
        "t1,c,b,cart,hipstershop.CartService/GetCart,POST,1150,300,503\n"
        "t1,d,c,cart,redis,GET,1200,100,14\n"
        "t1,e,c,cart,x,GET,later,100,0\n"
    )
    frame = read_spans(path)
    by_id = frame.set_index("span_id")
    assert by_id["status"].to_dict() == {"a": "ok", "b": "ok", "c": "error", "d": "error"}
    assert by_id["kind"].to_dict() == {"a": "server", "b": "client", "c": "server", "d": "internal"}
    assert by_id.loc["c", "http_status"] == 503 and by_id.loc["d", "grpc_status"] == 14
    assert by_id.loc["b", "rpc_method"] == "POST"
    assert frame.attrs["skipped"] == {"invalid_start_time": 1}
    (tmp_path / "bad.csv").write_text("traceID,spanID,serviceName\n1,2,3\n")
    with pytest.raises(CollectError, match="bad.csv"):
        read_spans(tmp_path / "bad.csv")


def test_parquet_round_trip_and_directory(tmp_path):
    frame = read_spans(_write(tmp_path / "a.json", {"data": [TRACE]}))
    write_spans(frame, tmp_path / "spans.parquet")
    again = read_spans(tmp_path / "spans.parquet")
    pd.testing.assert_frame_equal(frame, again, check_categorical=False)
    assert again.attrs["skipped"] == frame.attrs["skipped"] == {"invalid_start_time": 1}
    (tmp_path / "a.json").unlink()
    (tmp_path / "README.md").write_text("hello")
    both = read_spans(tmp_path)
    assert len(both) == 3 and both.attrs["skipped"]["not_span_file"] == 1


def test_jaeger_writer_round_trip():
    rows = pd.DataFrame(
        {
            "trace_id": ["t1", "t1", "t2"],
            "span_id": ["a", "b", "c"],
            "parent_id": [None, "a", None],
            "service": ["web", "cart", "web"],
            "operation": ["GET", "Get", "GET"],
            "start_us": [5, 6, 7],
            "duration_us": [3, 1, 2],
            "kind": ["server", "server", "client"],
            "status": ["ok", "error", "unset"],
            "pod": ["w-1", None, "w-1"],
            "peer_service": [None, None, "db"],
            "http_status": [200, 503, None],
        }
    )
    frame = make_spanframe(rows)
    traces = to_jaeger_traces(frame)
    assert [t["traceID"] for t in traces] == ["t1", "t2"]
    from collectors import read_jaeger_traces

    again = read_jaeger_traces(json.loads(json.dumps(traces)))
    cols = list(rows.columns)
    pd.testing.assert_frame_equal(frame[cols], again[cols], check_categorical=False)


@pytest.mark.parametrize(
    "content,match",
    [
        ("{not json", "invalid JSON"),
        ('{"data": 5}', "'data' must be a list"),
        ('{"hello": 1}', "neither a Jaeger"),
        ("", "empty file"),
    ],
)
def test_bad_json_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CollectError, match=match):
        read_spans(path)


def test_bad_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(CollectError, match="missing span column"):
        read_spans(path)


def _write(path, document):
    path.write_text(json.dumps(document))
    return path


def test_jaeger_without_span_kinds_gets_inferred_kinds():
    from collectors import read_jaeger_traces

    trace = json.loads(json.dumps(TRACE))
    for span in trace["spans"]:
        span["tags"] = [t for t in span.get("tags", []) if t["key"] != "span.kind"]
    frame = read_jaeger_traces([trace])
    assert dict(zip(frame["span_id"], frame["kind"])) == {"a": "server", "b": "client", "c": "server"}


def test_rcaeval_camel_case_header_and_response_code(tmp_path):
    path = tmp_path / "traces.csv"
    path.write_text(
        "traceId,spanId,parentSpanId,serviceName,operationName,startTime,duration,response_code\n"
        "t1,p1,,a,root,10,1,200\nt1,c1,p1,b,work,11,10,500\n"
    )
    frame = read_spans(path)
    assert frame["status"].tolist() == ["ok", "error"] and frame["http_status"].tolist() == [200, 500]


def test_otlp_older_layout_and_json_lines(tmp_path):
    document = jaeger_to_otlp([TRACE | {"spans": TRACE["spans"][:3]}])
    for resource in document["resourceSpans"]:
        resource["instrumentationLibrarySpans"] = resource.pop("scopeSpans")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    check_trace(read_spans(path), skipped={})
    lines = tmp_path / "otlp.jsonl"
    lines.write_text(json.dumps({"result": document}) + "\n" + json.dumps({"resourceSpans": []}) + "\n")
    assert len(read_spans(lines)) == 3
