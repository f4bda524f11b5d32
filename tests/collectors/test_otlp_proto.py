"""OTLP protobuf decoding: spans made by the OpenTelemetry SDK, agreement with the OTLP JSON reader
on the same requests (hypothesis), every rejection counted, files read by content."""

import gzip

import numpy as np
import pandas as pd
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from collectors import CollectError, detect_format, otlp_proto, read_otlp, read_spans
from collectors.otlp_proto import (
    HEAD_BYTES,
    UNKNOWN_STATUS,
    any_value,
    combine_status,
    count_spans,
    decode_columns,
    decode_traces,
    derive,
    hex_ids,
    looks_like_otlp_protobuf,
    spanframe_of,
)
from collectors.spanframe import STATUSES
from collectors.status import status_from_tags

T0 = 1_700_000_000 * 10**9


def sdk_spans():
    """Spans recorded by the real SDK: frontend (server) -> frontend (client) -> cart (server, error)."""
    memory = InMemorySpanExporter()
    spans = []
    for service, pod in (("frontend", "frontend-7d9-abc"), ("cart", None)):
        attributes = {"service.name": service, **({"k8s.pod.name": pod} if pod else {"host.name": "node-3"})}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        spans.append(provider.get_tracer("test"))
    web, cart = spans
    with web.start_as_current_span("GET /cart", kind=SpanKind.SERVER, start_time=T0, end_on_exit=False) as root:
        root.set_attribute("http.status_code", 200)
        with web.start_as_current_span(
            "CartService/GetCart", kind=SpanKind.CLIENT, start_time=T0 + 1000, end_on_exit=False
        ) as call:
            call.set_attribute("rpc.service", "CartService")
            call.set_attribute("rpc.method", "GetCart")
            call.set_attribute("peer.service", "cart")
            with cart.start_as_current_span(
                "GetCart", kind=SpanKind.SERVER, start_time=T0 + 2_000_000, end_on_exit=False
            ) as inner:
                inner.set_attribute("rpc.grpc.status_code", 13)
                inner.set_status(Status(StatusCode.ERROR, "redis down"))
                inner.end(end_time=T0 + 5_999_999)
            call.end(end_time=T0 + 7_000_000)
        root.end(end_time=T0 + 9_000_500)
    return memory.get_finished_spans()


def test_spans_of_the_sdk_decode_to_what_the_sdk_recorded():
    finished = sdk_spans()
    frame = decode_traces(encode_spans(finished).SerializeToString()).set_index("span_id")
    assert len(frame) == 3 and frame.attrs["skipped"] == {}
    for span in finished:
        row = frame.loc[format(span.context.span_id, "016x")]
        assert row["trace_id"] == format(span.context.trace_id, "032x")
        assert (row["parent_id"] if pd.notna(row["parent_id"]) else None) == (
            format(span.parent.span_id, "016x") if span.parent else None
        )
        assert row["service"] == span.resource.attributes["service.name"]
        assert row["operation"] == span.name
        assert row["start_us"] == span.start_time // 1000
        assert row["duration_us"] == (span.end_time - span.start_time) // 1000
        assert row["kind"] == {SpanKind.SERVER: "server", SpanKind.CLIENT: "client"}[span.kind]
    by_name = frame.set_index("operation")
    assert by_name["status"].to_dict() == {"GET /cart": "unset", "CartService/GetCart": "unset", "GetCart": "error"}
    assert by_name["pod"].to_dict() == {
        "GET /cart": "frontend-7d9-abc",
        "CartService/GetCart": "frontend-7d9-abc",
        "GetCart": "node-3",
    }
    assert by_name.loc["GetCart", "grpc_status"] == 13 and by_name.loc["GET /cart", "http_status"] == 200
    assert by_name.loc["CartService/GetCart", "peer_service"] == "cart"
    assert by_name.loc["CartService/GetCart", "rpc_method"] == "GetCart"


# --- the same request as protobuf and as OTLP JSON gives the same SpanFrame

ID = st.binary(min_size=16, max_size=16).filter(any)
SPAN_ID = st.binary(min_size=8, max_size=8).filter(any)
KEYS = ("http.status_code", "rpc.grpc.status_code", "error", "otel.status_code", "status.code", "peer.service")
KEYS += ("rpc.service", "rpc.method", "server.address", "net.peer.name", "http.response.status_code", "other.key")
SCALAR = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["ERROR", "OK", "true", "503", "0", "", "STATUS_CODE_ERROR"]),
    st.integers(-(2**53), 2**53),
    st.sampled_from([0, 1, 2, 200, 404, 500, 503]),
    st.booleans(),
    st.floats(-1e15, 1e15, allow_nan=False),
    st.binary(max_size=4),
    st.none(),
)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=2))


def set_value(target, value):
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            set_value(target.array_value.values.add(), item)
        if not value:
            target.array_value.SetInParent()
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    else:
        target.string_value = value


@st.composite
def requests(draw):
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 3))):
        resource_spans = request.resource_spans.add()
        for key in draw(st.lists(st.sampled_from(["service.name", "k8s.pod.name", "host.name"]), unique=True)):
            attribute = resource_spans.resource.attributes.add(key=key)
            attribute.value.string_value = draw(st.sampled_from(["a", "b", ""]))
        for _ in range(draw(st.integers(1, 2))):
            scope = resource_spans.scope_spans.add()
            for _ in range(draw(st.integers(0, 8))):
                span = scope.spans.add(trace_id=draw(ID), span_id=draw(SPAN_ID), name=draw(st.sampled_from(["x", "y"])))
                span.parent_span_id = draw(st.one_of(st.just(b""), SPAN_ID))
                span.kind = draw(st.integers(0, 7))
                span.start_time_unix_nano = T0 + draw(st.integers(0, 10**12))
                span.end_time_unix_nano = span.start_time_unix_nano + draw(st.integers(0, 10**10))
                span.status.code = draw(st.integers(0, 3))
                for key, value in draw(st.lists(st.tuples(st.sampled_from(KEYS), VALUE), max_size=5)):
                    set_value(span.attributes.add(key=key).value, value)
    return request


@settings(max_examples=20, deadline=None)
@given(requests())
def test_protobuf_and_json_of_one_request_read_the_same(request):
    """The JSON reader gets the protobuf JSON mapping of the request (ids in base64, enums by name,
    int64 as text), an independent path to the same values."""
    from_proto = decode_traces(request.SerializeToString())
    from_json = read_otlp([json_format.MessageToDict(request)])
    pd.testing.assert_frame_equal(from_proto, from_json, check_categorical=False)
    assert from_proto.attrs["skipped"] == from_json.attrs["skipped"]
    assert count_spans(request) == len(from_proto) + sum(from_proto.attrs["skipped"].values())


@settings(max_examples=15, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=3))
def test_the_receivers_path_over_several_requests_reads_as_the_json_reader(batch):
    """``decode_columns`` per request, then one ``spanframe_of`` (the receiver's path), against the
    JSON reader given every request's JSON mapping: first with nothing cached of what attribute
    sets say, then again with all of it cached."""
    otlp_proto._DERIVED.clear()
    expected = read_otlp([json_format.MessageToDict(request) for request in batch])
    for _ in range(2):
        frame = spanframe_of([decode_columns(request.SerializeToString()) for request in batch])
        pd.testing.assert_frame_equal(frame, expected, check_categorical=False)
        assert frame.attrs["skipped"] == expected.attrs["skipped"]


def test_sdk_requests_with_events_links_an_empty_resource_and_an_empty_request_read_as_the_json_reader():
    finished = sdk_spans()
    request = encode_spans(finished)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.events.add(time_unix_nano=T0 + 10, name="exception").attributes.add(key="error").value.bool_value = True
    span.links.add(trace_id=b"\x07" * 16, span_id=b"\x08" * 8).attributes.add(
        key="peer.service"
    ).value.string_value = "x"
    anonymous = ExportTraceServiceRequest()
    anonymous.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x05" * 16, span_id=b"\x06" * 8, name="op", start_time_unix_nano=T0, end_time_unix_nano=T0 + 1
    )
    batch = [request, ExportTraceServiceRequest(), anonymous]
    expected = read_otlp([json_format.MessageToDict(r) for r in batch])
    frame = spanframe_of([decode_columns(r.SerializeToString()) for r in batch])
    pd.testing.assert_frame_equal(frame, expected, check_categorical=False)
    assert frame.attrs["skipped"] == expected.attrs["skipped"] == {"missing_service": 1}
    assert len(frame) == len(finished) and frame["parent_id"].isna().sum() == 1, "the root has no parent"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), SCALAR, max_size=5), st.integers(0, 5))
def test_vectorized_status_is_status_from_tags(tags, code):
    """Statuses the SpanFrame does not know (a code of 3, an attribute "00") are UNKNOWN_STATUS on
    both paths, so that both skip the span for the same reason."""
    state, error, *_ = derive(tags)
    position = STATUSES.index(state) if state in STATUSES else UNKNOWN_STATUS
    got = combine_status(np.array([code]), np.array([position]), np.array([error]))
    expected = status_from_tags(tags, code)
    assert got.tolist() == [STATUSES.index(expected) if expected in STATUSES else UNKNOWN_STATUS]


def test_a_status_code_beyond_int64_marks_an_error_and_leaves_the_column_empty():
    """Both readers; an infinite or non-numeric code is no code at all."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    resource = request.resource_spans[0].resource.attributes.add(key="service.name")
    resource.value.string_value = "svc"
    for number, value in enumerate((2.0**70, "1e100", "inf", "-inf", "x", 200)):
        span = scope.spans.add(trace_id=b"\x01" * 16, span_id=bytes([number + 1]) * 8, start_time_unix_nano=T0)
        span.end_time_unix_nano = T0
        set_value(span.attributes.add(key="http.status_code").value, value)
    frame = decode_traces(request.SerializeToString())
    assert frame["status"].tolist() == ["error", "error", "unset", "unset", "unset", "unset"]
    assert frame["http_status"].isna().tolist() == [True, True, True, True, True, False]
    from_json = read_otlp([json_format.MessageToDict(request)])
    pd.testing.assert_frame_equal(frame, from_json, check_categorical=False)


def test_any_value_of_every_kind():
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    value = AnyValue()
    item = value.kvlist_value.values.add(key="k")
    item.value.array_value.values.add().int_value = 7
    item.value.array_value.values.add().bytes_value = b"\x00\xff"
    item.value.array_value.values.add().double_value = 0.5
    item.value.array_value.values.add()
    assert any_value(value) == {"k": [7, "AP8=", 0.5, None]}


def test_every_span_that_cannot_be_kept_is_counted_by_reason():
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "svc"
    scope = resource_spans.scope_spans.add()
    good = {"trace_id": b"\x01" * 16, "start_time_unix_nano": T0, "end_time_unix_nano": T0 + 5000}
    cases = [
        ({}, None),
        ({"trace_id": b"\x00" * 16}, "zero_trace_id"),
        ({"span_id": b"\x00" * 8}, "zero_span_id"),
        ({"trace_id": b""}, "missing_trace_id"),
        ({"span_id": b""}, "missing_span_id"),
        ({"start_time_unix_nano": 0}, "invalid_start_time"),
        ({"start_time_unix_nano": 2**63, "end_time_unix_nano": 2**64 - 1}, "start_out_of_range"),
        ({"end_time_unix_nano": 0}, "invalid_duration"),
        ({"end_time_unix_nano": 2**63}, "invalid_duration"),
        ({"end_time_unix_nano": T0 - 1}, "negative_duration"),
    ]
    for number, (change, _) in enumerate(cases):
        span = scope.spans.add(name="op", **{**good, "span_id": (number + 1).to_bytes(8, "big"), **change})
        span.parent_span_id = b"\x00" * 8
    duplicate = scope.spans.add()
    duplicate.CopyFrom(scope.spans[0])
    anonymous = request.resource_spans.add().scope_spans.add()
    anonymous.spans.add(span_id=b"\x09" * 8, name="op", **good)
    frame = decode_traces(request.SerializeToString())
    expected = {reason: sum(1 for _, r in cases if r == reason) for _, reason in cases if reason}
    assert frame.attrs["skipped"] == {**expected, "duplicate_span": 1, "missing_service": 1}
    assert len(frame) == 1 and frame["span_id"].tolist() == ["0000000000000001"]
    assert frame["parent_id"].isna().all(), "an all-zero parent id means no parent"
    assert frame["start_us"].tolist() == [T0 // 1000] and frame["duration_us"].tolist() == [5]


def test_hex_ids_of_mixed_lengths():
    ids, zero, empty = hex_ids((b"", b"\0\0", b"\x01\x00", b"\xab" * 16, b"\0" * 8, b"\x00\x0f"))
    assert ids.to_pylist() == [None, None, "0100", "ab" * 16, None, "000f"]
    assert zero.tolist() == [False, True, False, False, True, False]
    assert empty.tolist() == [True, False, False, False, False, False]


def test_deprecated_instrumentation_library_spans_are_read():
    scope = ScopeSpans()
    scope.spans.add(
        trace_id=b"\x02" * 16, span_id=b"\x03" * 8, name="old", start_time_unix_nano=T0, end_time_unix_nano=T0
    )
    body = scope.SerializeToString()
    resource = ExportTraceServiceRequest().resource_spans.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "legacy"
    field_1000 = bytes([0xC2, 0x3E]) + bytes([len(body)]) + body
    inner = resource.SerializeToString() + field_1000
    data = bytes([0x0A, len(inner)]) + inner
    frame = decode_traces(data)
    assert frame["operation"].tolist() == ["old"] and frame["service"].tolist() == ["legacy"]
    assert count_spans(data) == 1


def test_bytes_that_are_not_a_request_are_a_collect_error():
    with pytest.raises(CollectError, match=r"upload: not a protobuf ExportTraceServiceRequest"):
        decode_traces(b"\x0a\x05\x12\x10abc", source="upload")
    with pytest.raises(CollectError, match="expected protobuf bytes"):
        decode_traces("text")


def test_an_empty_request_is_an_empty_spanframe():
    frame = decode_traces(b"")
    assert len(frame) == 0 and list(frame.columns[:3]) == ["trace_id", "span_id", "parent_id"]


# --- files


@pytest.fixture
def request_bytes():
    return encode_spans(sdk_spans()).SerializeToString()


@pytest.mark.parametrize("name,packed", [("spans.pb", False), ("spans.pb.gz", True), ("spans.bin", True)])
def test_read_spans_reads_protobuf_files_plain_or_gzip(tmp_path, request_bytes, name, packed):
    path = tmp_path / name
    path.write_bytes(gzip.compress(request_bytes) if packed else request_bytes)
    assert detect_format(path) == "otlp_protobuf"
    frame = read_spans(path)
    pd.testing.assert_frame_equal(frame, decode_traces(request_bytes), check_categorical=False)


def test_a_directory_mixes_protobuf_with_other_formats(tmp_path, request_bytes):
    (tmp_path / "a.pb").write_bytes(request_bytes)
    document = json_format.MessageToDict(ExportTraceServiceRequest.FromString(request_bytes))
    (tmp_path / "b.json").write_text(__import__("json").dumps(document))
    (tmp_path / "notes.txt").write_text("\n\nnot spans\n")
    frame = read_spans(tmp_path)
    assert len(frame) == 3, "the same spans twice are kept once"
    assert frame.attrs["skipped"] == {"duplicate_span": 3, "not_span_file": 1}


def test_text_is_never_taken_for_protobuf():
    for text in (b"\n \n{}", b"\n\nTraceID,SpanID\n", b'\n{"resourceSpans": []}', b"\n\x05\n\x03abc"):
        assert not looks_like_otlp_protobuf(text), text
    big = ("\n" + "x" * 120) * (HEAD_BYTES // 100)
    assert not looks_like_otlp_protobuf(big.encode()[:HEAD_BYTES])


def test_a_cut_short_head_of_a_large_request_is_recognised(request_bytes):
    request = ExportTraceServiceRequest.FromString(request_bytes)
    while request.ByteSize() <= HEAD_BYTES:
        request.resource_spans.extend(list(request.resource_spans))
    data = request.SerializeToString()
    assert looks_like_otlp_protobuf(data[:HEAD_BYTES])
    assert looks_like_otlp_protobuf(gzip.compress(data)[:HEAD_BYTES])
