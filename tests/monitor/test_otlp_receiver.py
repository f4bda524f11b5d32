"""The OTLP/HTTP receiver on 127.0.0.1: real spans from the OpenTelemetry SDK's OTLP/HTTP exporter,
and bodies that are malformed, oversized, of the wrong type or gzip bombs (a clear 4xx, the server
keeps serving, nothing ingested twice)."""

import gzip
import http.client
import json
import threading
import tracemalloc
import urllib.parse

import pandas as pd
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from collectors import read_otlp
from collectors.otlp_proto import decode_traces
from monitor import MonitorError
from monitor.sources.otlp import INLINE_DECODE_BYTES, OTLPReceiver

PROTOBUF = {"Content-Type": "application/x-protobuf"}
T0 = 1_700_000_000 * 10**9


@pytest.fixture
def receiver():
    with OTLPReceiver(port=0, heartbeat_s=None, queue_batches=4, max_body_bytes=256 * 1024) as server:
        yield server


def post(url, body, headers, *, chunked=False):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        if chunked:
            connection.request("POST", parts.path, body=iter(body), headers=headers, encode_chunked=True)
        else:
            connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def request_of(n, *, service="cart", start=T0, zero_trace=0):
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = service
    scope = resource_spans.scope_spans.add()
    for i in range(n):
        trace_id = b"\x00" * 16 if i < zero_trace else (start + i).to_bytes(16, "big")
        span = scope.spans.add(trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"), name="GetCart", kind=2)
        span.start_time_unix_nano = start + i * 1000
        span.end_time_unix_nano = start + i * 1000 + 5000
    return request


def drain(receiver):
    frames = []
    while not receiver._queue.empty():
        frames.append(next(receiver.batches()))
    return frames


def tracer_provider(url, compression=None):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "frontend", "k8s.pod.name": "frontend-1"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=url, compression=compression, timeout=10))
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


@pytest.mark.parametrize("compression", [None, Compression.Gzip])
def test_spans_from_the_sdk_exporter_arrive_as_spanframes(receiver, compression):
    provider, memory = tracer_provider(receiver.url, compression)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.status_code", 200)
        with tracer.start_as_current_span("CartService/GetCart", kind=SpanKind.CLIENT) as call:
            call.set_attribute("rpc.grpc.status_code", 14)
            call.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    finished = memory.get_finished_spans()
    frames = drain(receiver)
    assert receiver.stats["requests_queued"] == 2, "SimpleSpanProcessor exports each span in a request of its own"
    assert len(frames) == 1 and receiver.stats["requests_delivered"] == 2, "requests waiting together: one SpanFrame"
    spans = pd.concat(frames, ignore_index=True).set_index("span_id")
    for span in finished:
        row = spans.loc[format(span.context.span_id, "016x")]
        assert row["trace_id"] == format(span.context.trace_id, "032x")
        assert (row["operation"], row["service"], row["pod"]) == (span.name, "frontend", "frontend-1")
        assert row["start_us"] == span.start_time // 1000
    assert spans.set_index("operation")["status"].to_dict() == {"GET /cart": "unset", "CartService/GetCart": "error"}
    assert receiver.stats["requests"] == 2 and receiver.stats["spans_accepted"] == 2
    assert all(f.attrs["received_unix"] > 0 for f in frames)


def test_protobuf_answer_without_partial_success_when_all_spans_are_kept(receiver):
    status, headers, body = post(receiver.url, request_of(3).SerializeToString(), PROTOBUF)
    assert status == 200 and headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(body)
    assert not answer.HasField("partial_success")
    assert len(drain(receiver)[0]) == 3


def test_rejected_spans_come_back_as_partial_success(receiver):
    status, _, body = post(receiver.url, request_of(5, zero_trace=2).SerializeToString(), PROTOBUF)
    answer = ExportTraceServiceResponse.FromString(body)
    assert status == 200 and answer.partial_success.rejected_spans == 2
    assert answer.partial_success.error_message == "rejected 2 of 5 spans: zero_trace_id 2"
    assert len(drain(receiver)[0]) == 3
    assert receiver.stats["spans_rejected"] == 2 and receiver.stats["rejected_zero_trace_id"] == 2


def test_json_body_is_read_by_the_json_reader_and_answered_in_json(receiver):
    request = request_of(4, zero_trace=1)
    document = json_format.MessageToDict(request)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    status, response_headers, body = post(receiver.url, json.dumps(document).encode(), headers)
    assert status == 200 and response_headers["content-type"] == "application/json"
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    frame = drain(receiver)[0]
    expected = read_otlp([document])
    pd.testing.assert_frame_equal(frame, expected, check_categorical=False)


def test_requests_waiting_together_become_one_spanframe_in_order_up_to_max_batch_spans():
    with OTLPReceiver(port=0, heartbeat_s=None, max_batch_spans=5) as receiver:
        for i, n in enumerate((2, 2, 2, 3)):
            post(receiver.url, request_of(n, start=T0 + i * 10**9).SerializeToString(), PROTOBUF)
        post(receiver.url, request_of(2, start=T0 + 3 * 10**9).SerializeToString(), PROTOBUF)
        frames = drain(receiver)
    assert [len(f) for f in frames] == [6, 3], "joined until 5 spans or more; the last request repeats two spans"
    assert frames[1].attrs["skipped"] == {"duplicate_span": 2} and receiver.stats["duplicate_spans"] == 2
    assert frames[0]["start_us"].is_monotonic_increasing and frames[0].attrs["received_unix"] > 0
    assert receiver.stats["requests_delivered"] == 5 and receiver.stats["batches_delivered"] == 2


def test_a_request_arriving_within_linger_s_joins_the_waiting_one():
    with OTLPReceiver(port=0, heartbeat_s=None, max_batch_spans=4, linger_s=30) as receiver:
        post(receiver.url, request_of(2).SerializeToString(), PROTOBUF)
        frames = []
        consumer = threading.Thread(target=lambda: frames.append(next(receiver.batches())))
        consumer.start()
        post(receiver.url, request_of(2, start=T0 + 10**9).SerializeToString(), PROTOBUF)
        consumer.join(10)
    assert [len(f) for f in frames] == [4], "the second request came within the 30 s: one SpanFrame"
    assert receiver.stats["batches_delivered"] == 1 and receiver.stats["requests_delivered"] == 2


def test_empty_request_is_a_success_and_queues_nothing(receiver):
    assert post(receiver.url, b"", PROTOBUF)[0] == 200
    assert post(receiver.url, b"{}", {"Content-Type": "application/json"})[0] == 200
    assert receiver._queue.empty() and receiver.stats["requests"] == 2


def status_of(body):
    status = status_pb2.Status.FromString(body)
    return status.message, status.details


@pytest.mark.parametrize(
    "body,headers,code,fragment",
    [
        (b"\x0a\x05\x12\x10abc", PROTOBUF, 400, "not a protobuf ExportTraceServiceRequest"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "body is not JSON"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "expected an ExportTraceServiceRequest object"),
        (b'{"resourceSpans": [3]}', {"Content-Type": "application/json"}, 400, "malformed_resource"),
        (b"not gzip at all", {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b"x" * 100)[:20], {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "ends before"),
        (b"spans", {"Content-Type": "text/plain"}, 415, "Content-Type 'text/plain' is not supported"),
        (b"spans", {}, 415, "Content-Type None is not supported"),
        (b"spans", {**PROTOBUF, "Content-Encoding": "br"}, 415, "Content-Encoding 'br' is not supported"),
    ],
)
def test_bad_bodies_get_a_clear_4xx_and_the_server_keeps_serving(receiver, body, headers, code, fragment):
    status, response_headers, answer = post(receiver.url, body, headers)
    assert status == code
    if response_headers["content-type"] == "application/json":
        message = json.loads(answer)["message"]
    else:
        message, details = status_of(answer)
        if code == 400:
            detail = error_details_pb2.BadRequest()
            assert details[0].Unpack(detail) and detail.field_violations[0].description == message
    assert fragment in message
    assert receiver._queue.empty()
    assert post(receiver.url, request_of(2).SerializeToString(), PROTOBUF)[0] == 200
    assert len(drain(receiver)[0]) == 2


def test_other_methods_and_paths_are_405_and_404(receiver):
    parts = urllib.parse.urlsplit(receiver.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for method, path, code in (
            ("GET", parts.path, 405),
            ("POST", "/v1/metrics", 404),
            ("POST", "/v1/traces/", 307),
        ):
            connection.request(method, path, body=b"" if method == "POST" else None, headers=PROTOBUF)
            response = connection.getresponse()
            response.read()
            assert response.status == code, (method, path)
            if code == 405:
                assert response.getheader("allow") == "POST"
            if code == 307:
                assert response.getheader("location") == receiver.url
    finally:
        connection.close()
    assert receiver.stats.get("requests", 0) == 0


def test_bodies_over_the_limit_are_413_declared_or_streamed(receiver):
    big = request_of(6000).SerializeToString()
    assert len(big) > receiver.max_body_bytes
    assert post(receiver.url, big, PROTOBUF)[0] == 413
    chunks = [big[i : i + 8192] for i in range(0, len(big), 8192)]
    status, _, body = post(receiver.url, chunks, PROTOBUF, chunked=True)
    assert status == 413 and "over the limit" in status_of(body)[0]
    assert receiver.stats["too_large"] == 2 and receiver._queue.empty()
    assert post(receiver.url, request_of(1).SerializeToString(), PROTOBUF)[0] == 200


def test_a_body_too_large_to_decode_on_the_event_loop_is_decoded_on_the_decoding_thread():
    body = request_of(6000).SerializeToString()
    assert len(body) > INLINE_DECODE_BYTES
    with OTLPReceiver(port=0, heartbeat_s=None) as receiver:
        assert post(receiver.url, body, PROTOBUF)[0] == 200
        assert post(receiver.url, gzip.compress(body), {**PROTOBUF, "Content-Encoding": "gzip"})[0] == 200
        frames = drain(receiver)
    assert [len(f) for f in frames] == [6000] and frames[0].attrs["skipped"] == {"duplicate_span": 6000}


def test_a_gzip_bomb_is_refused_without_inflating_it(receiver):
    bomb = gzip.compress(b"\0" * (64 * 2**20), compresslevel=9)
    assert len(bomb) < receiver.max_body_bytes
    tracemalloc.start()
    try:
        status, _, body = post(receiver.url, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413 and "inflates beyond the limit" in status_of(body)[0]
    assert peak < 8 * receiver.max_body_bytes, f"peak {peak} bytes while refusing a 64 MiB bomb"
    assert (
        post(receiver.url, gzip.compress(request_of(2).SerializeToString()), {**PROTOBUF, "Content-Encoding": "gzip"})[
            0
        ]
        == 200
    )


def test_a_full_queue_answers_503_with_retry_after_and_nothing_counts_twice(receiver):
    for i in range(receiver.queue_batches):
        assert post(receiver.url, request_of(2, start=T0 + i * 10**9).SerializeToString(), PROTOBUF)[0] == 200
    refused = request_of(2, start=T0 + 99 * 10**9).SerializeToString()
    status, headers, body = post(receiver.url, refused, PROTOBUF)
    assert status == 503 and headers["retry-after"] == "1" and "full" in status_of(body)[0]
    assert receiver.stats["queue_full"] == 1
    delivered = drain(receiver)
    assert post(receiver.url, refused, PROTOBUF)[0] == 200
    delivered += drain(receiver)
    spans = pd.concat(delivered, ignore_index=True)
    assert len(spans) == 2 * (receiver.queue_batches + 1) and not spans.duplicated(["trace_id", "span_id"]).any()
    assert receiver.stats["spans_accepted"] == len(spans)


def wait_for(condition, timeout_s=10.0):
    deadline = threading.Event()
    timer = threading.Timer(timeout_s, deadline.set)
    timer.start()
    try:
        while not condition():
            assert not deadline.wait(0.01), "condition not met in time"
    finally:
        timer.cancel()


def test_the_sdk_exporter_retries_after_a_full_queue_and_its_spans_arrive_once():
    with OTLPReceiver(port=0, heartbeat_s=None, queue_batches=1, busy_status=429) as receiver:
        assert post(receiver.url, request_of(1).SerializeToString(), PROTOBUF)[0] == 200
        provider, memory = tracer_provider(receiver.url)
        exported = threading.Thread(target=lambda: provider.get_tracer("t").start_span("retried").end())
        exported.start()
        wait_for(lambda: receiver.stats.get("queue_full", 0) >= 1)
        batches = receiver.batches()
        frames = [next(batches), next(batches)]
        exported.join(10)
        provider.shutdown()
    assert receiver.stats["queue_full"] == 1, "the exporter waited the Retry-After second, then got in"
    assert pd.concat(frames)["operation"].tolist() == ["GetCart", "retried"]
    assert receiver.stats["spans_accepted"] == 2 and len(memory.get_finished_spans()) == 1


def test_close_ends_batches_after_draining_and_frees_the_port():
    receiver = OTLPReceiver(port=0, heartbeat_s=None).start()
    post(receiver.url, request_of(3).SerializeToString(), PROTOBUF)
    receiver.close()
    frames = list(receiver.batches())
    assert [len(f) for f in frames] == [3]
    with pytest.raises(ConnectionError):
        post(receiver.url, b"", PROTOBUF)
    receiver.close()


def test_heartbeats_are_empty_spanframes_when_idle():
    with OTLPReceiver(port=0, heartbeat_s=0.02) as receiver:
        beat = next(receiver.batches())
    assert len(beat) == 0 and beat.attrs["heartbeat"] and list(beat.columns) == list(decode_traces(b"").columns)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"busy_status": 500}, "busy_status must be 429 or 503"),
        ({"queue_batches": 0}, "queue_batches must be a positive integer"),
        ({"max_body_bytes": 1.5}, "max_body_bytes must be a positive integer"),
        ({"heartbeat_s": 0}, "heartbeat_s must be > 0"),
        ({"linger_s": -1}, r"linger_s must be seconds in \[0, 60\)"),
        ({"path": "v1/traces"}, "path must start with '/'"),
    ],
)
def test_bad_parameters_are_monitor_errors(kwargs, fragment):
    with pytest.raises(MonitorError, match=fragment):
        OTLPReceiver(port=0, **kwargs)


def test_a_port_in_use_is_a_monitor_error(receiver):
    with pytest.raises(MonitorError, match=f"cannot listen on 127.0.0.1:{receiver.port}"):
        OTLPReceiver(port=receiver.port).start()
