"""Every span reader on the kept corpus and on generated files: a SpanFrame that keeps the
SpanFrame's invariants, or a CollectError; never another exception, never a hang."""

from __future__ import annotations

import json
import math
import string

import numpy as np
import pandas as pd
import pytest
from fuzz_helpers import CORPUS, FUZZ, outcome
from hypothesis import given
from hypothesis import strategies as st

from collectors import CollectError, make_spanframe, read_spans
from collectors.keys import cycle_members, parent_positions
from collectors.spanframe import LAST_START_US, MAX_DURATION_US, SKIP_REASONS

T0_US = 1_661_142_963 * 10**6


def check_spanframe(frame: pd.DataFrame) -> None:
    """The invariants every reader's result keeps, whatever its input."""
    assert frame["start_us"].dtype == np.int64 and frame["duration_us"].dtype == np.int64
    if len(frame):
        assert frame["start_us"].min() >= 0 and frame["start_us"].max() <= LAST_START_US
        assert frame["duration_us"].min() >= 0 and frame["duration_us"].max() <= MAX_DURATION_US
        assert not frame["service"].isna().any() and not frame["span_id"].isna().any()
        assert not cycle_members(parent_positions(frame)).any()
    skipped = frame.attrs["skipped"]
    assert all(isinstance(v, int) and v > 0 for v in skipped.values())
    assert set(skipped) <= set(SKIP_REASONS), set(skipped) - set(SKIP_REASONS)


def read(path, **kwargs):
    kind, value = outcome(read_spans, path, **kwargs)
    if kind == "result":
        check_spanframe(value)
    else:
        assert isinstance(value, CollectError)
    return kind, value


# ---------------------------------------------------------------- the corpus, each outcome pinned

EXPECTED = {
    "jaeger_nan_start.json": {"invalid_start_time": 1},
    "jaeger_inf_duration.json": {"invalid_duration": 1},
    "jaeger_duration_1e30.json": {"duration_out_of_range": 1},
    "jaeger_start_in_seconds.json": {},
    "jaeger_start_in_ns.json": {},
    "jaeger_duration_400_days.json": {"duration_out_of_range": 1},
    "jaeger_text_duration.json": {"invalid_duration": 1},
    "jaeger_parent_cycle.json": CollectError,  # both spans are on the cycle: nothing is left
    "jaeger_deep_nesting.json": CollectError,
    "jaeger_truncated.json": CollectError,
    "jaeger_no_traces.json": CollectError,
    "otlp_int64_overflow.json": CollectError,
    "otlp_zero_span_id.json": CollectError,
    "otlp_unknown_status.json": CollectError,
    "rcaeval_inf_duration.csv": {"invalid_duration": 1},
    "rcaeval_unknown_status.csv": {"unknown_status": 1},
    "rcaeval_missing_duration_column.csv": CollectError,
    "rcaeval_bad_utf8_header.csv": CollectError,  # found by atheris: a UnicodeDecodeError before
    "rcaeval_duplicate_columns.csv": CollectError,  # found by atheris: an AttributeError before
    "rcaeval_binary_column.csv": CollectError,  # found by atheris: a UnicodeDecodeError before
    "nezha_start_in_ms.csv": {},
    "nezha_nan_start.csv": {"invalid_start_time": 1},
    "empty.json": CollectError,
    "binary.bin": CollectError,
}


def test_every_corpus_file_is_pinned():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name):
    with pytest.warns() if "seconds" in name or "_ns" in name or "_ms" in name else _nothing():
        kind, value = read(CORPUS / name)
    expected = EXPECTED[name]
    if expected is CollectError:
        assert kind == "error", f"{name}: expected a CollectError, got {value}"
        return
    assert kind == "result", value
    assert value.attrs["skipped"] == expected
    starts = pd.to_datetime(value["start_us"], unit="us")
    assert (starts.dt.year == 2022).all(), starts


def test_corpus_messages_name_the_problem():
    messages = {name: str(read(CORPUS / name)[1]) for name, e in EXPECTED.items() if e is CollectError}
    assert "nested deeper" in messages["jaeger_deep_nesting.json"]
    assert "parent_cycle 2" in messages["jaeger_parent_cycle.json"]
    assert "invalid_start_time 1" in messages["otlp_int64_overflow.json"]
    assert "zero_span_id 1" in messages["otlp_zero_span_id.json"]
    assert "unknown_status 1" in messages["otlp_unknown_status.json"]
    assert "['duration']" in messages["rcaeval_missing_duration_column.csv"]
    assert "no span read" in messages["jaeger_no_traces.json"]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------- generated inputs

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, T0_US, T0_US // 10**6, T0_US // 1000, T0_US * 1000, 2**63 - 1, 2**63, 1e20, 1e308]),
)
TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_./:", max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
SPAN_FIELDS = ["traceID", "spanID", "operationName", "references", "startTime", "duration", "tags", "processID"]


def json_values(depth: int = 3):
    return st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                        max_leaves=12)  # fmt: skip


@st.composite
def jaeger_spans(draw):
    span = {}
    for key in SPAN_FIELDS:
        if draw(st.booleans()) or key in ("startTime", "duration", "spanID"):
            span[key] = draw(
                NUMBERS if key in ("startTime", "duration") else (json_values() if draw(st.booleans()) else TEXT)
            )
    if draw(st.booleans()):
        span["references"] = [{"refType": "CHILD_OF", "spanID": draw(TEXT)}]
    return span


@st.composite
def jaeger_documents(draw):
    traces = []
    for _ in range(draw(st.integers(0, 3))):
        spans = draw(st.lists(jaeger_spans() | json_values(), max_size=5))
        processes = draw(st.dictionaries(TEXT, st.fixed_dictionaries({"serviceName": SCALARS}), max_size=3))
        traces.append({"traceID": draw(TEXT), "spans": spans, "processes": processes})
    layout = draw(st.sampled_from(["data", "list", "one"]))
    if layout == "data":
        return {"data": traces}
    if layout == "list":
        return traces
    return traces[0] if traces else {"data": None}


@st.composite
def otlp_documents(draw):
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        spans.append(
            {
                "traceId": draw(st.sampled_from(["4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32, ""]) | TEXT),
                "spanId": draw(st.sampled_from(["00f067aa0ba902b7", "0" * 16, "AAAAAAAAAAE="]) | TEXT),
                "parentSpanId": draw(st.sampled_from(["", "00f067aa0ba902b7", "0" * 16]) | TEXT),
                "name": draw(TEXT),
                "kind": draw(st.integers(-1, 7) | TEXT),
                "startTimeUnixNano": draw(NUMBERS.map(lambda v: str(v) if not isinstance(v, float) else v) | TEXT),
                "endTimeUnixNano": draw(NUMBERS.map(lambda v: str(v) if not isinstance(v, float) else v) | TEXT),
                "status": draw(st.fixed_dictionaries({"code": SCALARS}) | SCALARS),
            }
        )
    service = draw(SCALARS)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }


def _write_json(tmp_path, document, name="spans.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, allow_nan=True))
    return path


@FUZZ
@given(document=jaeger_documents())
def test_jaeger_json(tmp_path_factory, document):
    read(_write_json(tmp_path_factory.mktemp("j"), document))


@FUZZ
@given(document=otlp_documents())
def test_otlp_json(tmp_path_factory, document):
    read(_write_json(tmp_path_factory.mktemp("o"), document))


@FUZZ
@given(lines=st.lists(jaeger_documents() | otlp_documents() | TEXT, min_size=2, max_size=4))
def test_json_lines(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("l") / "spans.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    read(path)


@FUZZ
@given(document=json_values())
def test_any_json(tmp_path_factory, document):
    read(_write_json(tmp_path_factory.mktemp("a"), document))


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".csv", ".gz", ".parquet", ""]))
def test_any_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("b") / f"x{suffix}"
    path.write_bytes(data)
    read(path)


CELLS = st.one_of(NUMBERS.map(str), TEXT, st.sampled_from(["", "nan", "inf", "-inf", "root", "1e30", "0x10"]))
RCAEVAL = "traceID,spanID,parentSpanID,serviceName,operationName,methodName,startTime,duration,statusCode"
NEZHA = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"


@FUZZ
@given(header=st.sampled_from([RCAEVAL, NEZHA]), rows=st.lists(st.lists(CELLS, min_size=7, max_size=10), max_size=5))
def test_span_csv(tmp_path_factory, header, rows):
    path = tmp_path_factory.mktemp("c") / "traces.csv"
    path.write_text(header + "\n" + "".join(",".join(c.replace(",", ";") for c in r) + "\n" for r in rows))
    read(path)


@FUZZ
@given(
    start=st.one_of(st.none(), NUMBERS, TEXT),
    end=st.one_of(st.none(), NUMBERS, TEXT),
)
def test_window_arguments(tmp_path_factory, start, end):
    path = _write_json(tmp_path_factory.mktemp("w"), {"data": [_trace()]})
    read(path, start=start, end=end)


def _trace():
    return {
        "traceID": "t1",
        "spans": [
            {"traceID": "t1", "spanID": "a", "operationName": "op", "startTime": T0_US, "duration": 5, "processID": "p"}
        ],
        "processes": {"p": {"serviceName": "s"}},
    }


COLUMN = st.lists(st.one_of(SCALARS, NUMBERS), min_size=3, max_size=3)


@FUZZ
@given(start=COLUMN, duration=COLUMN, kind=COLUMN, status=COLUMN, service=COLUMN, span=COLUMN, parent=COLUMN)
def test_make_spanframe(start, duration, kind, status, service, span, parent):
    data = pd.DataFrame(
        {
            "trace_id": ["t", "t", "t"],
            "span_id": [str(v) if v is not None else None for v in span],
            "parent_id": [str(v) if v is not None else None for v in parent],
            "service": service,
            "operation": ["op"] * 3,
            "start_us": start,
            "duration_us": duration,
            "kind": kind,
            "status": status,
            "pod": [None] * 3,
        }
    )
    kind_, value = outcome(make_spanframe, data)
    if kind_ == "result":
        check_spanframe(value)


@FUZZ
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**62), 2**62), max_size=20))
def test_parquet_start_columns(tmp_path_factory, values):
    n = len(values)
    frame = pd.DataFrame(
        {
            "trace_id": ["t"] * n,
            "span_id": [f"s{i}" for i in range(n)],
            "parent_id": [None] * n,
            "service": ["svc"] * n,
            "operation": ["op"] * n,
            "start_us": values,
            "duration_us": [5] * n,
            "kind": ["server"] * n,
            "status": ["ok"] * n,
            "pod": [None] * n,
        }
    )
    path = tmp_path_factory.mktemp("p") / "s.parquet"
    frame.to_parquet(path)
    kind, value = read(path)
    if kind == "result":
        kept = [v for v in values if isinstance(v, int) or math.isfinite(v)]
        assert len(value) + sum(value.attrs["skipped"].values()) == n
        assert len(value) <= len(kept)
