"""Speed of OTLP protobuf decoding and of the OTLP/HTTP receiver under concurrent senders.

    python benchmarks/otlp_receiver.py [--senders 4] [--seconds 20] [--spans-per-request 512]

1. Decoding on one core (spans per CPU second) of ``ExportTraceServiceRequest`` bodies built with
   the official classes (spans shaped as an OpenTelemetry gRPC service's: ids, a name, kind,
   times, status and 8 attributes, 3 of which the SpanFrame reads): the receiver's path
   (``decode_columns`` per request, ``spanframe_of`` for all), ``decode_traces`` per request, one
   large request (each ``--decode-repeats`` times), and the OTLP JSON reader on the same requests
   (once) for comparison.
2. The receiver: ``monitor.sources.otlp.OTLPReceiver`` on 127.0.0.1 in this process, drained by a
   consumer thread; ``--senders`` processes POST protobuf bodies on keep-alive connections for
   ``--seconds`` (each stops by itself; a 503 is retried after its Retry-After). Reported:
   accepted spans per wall second, the receiver process's CPU seconds per span, refusals, and
   the lag from a request's arrival to its batch being taken from ``batches()`` (p50, p90, max).

The machine may be shared: the load average before and after is printed. The last line is
``decode_spans_per_cpu_s=... receiver_spans_per_s=... receiver_spans_per_cpu_s=... lag_p50_ms=...
lag_p90_ms=...`` (``receiver_spans_per_cpu_s``: accepted spans per CPU second of the receiver's
process, what one core would take if the receiver had it to itself).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import sys
import threading
import time
import urllib.parse

import _benchpath  # (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors import read_otlp
from collectors.otlp_proto import decode_columns, decode_traces, spanframe_of
from monitor.sources.otlp import OTLPReceiver

SERVICES = ("frontend", "cartservice", "checkoutservice", "currencyservice", "paymentservice", "shippingservice")


def build_request(n_spans: int, seed: int, t0_ns: int) -> bytes:
    """One request: ``n_spans`` spans spread over the services (one resource each)."""
    rnd = random.Random(seed)
    request = ExportTraceServiceRequest()
    per_service = max(1, n_spans // len(SERVICES))
    for number, service in enumerate(SERVICES):
        resource_spans = request.resource_spans.add()
        for key, value in (
            ("service.name", service),
            ("k8s.pod.name", f"{service}-{seed % 7}b9c-{number}x"),
            ("telemetry.sdk.language", "go"),
        ):
            resource_spans.resource.attributes.add(key=key).value.string_value = value
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
        for i in range(per_service):
            span = scope.spans.add(
                trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8), parent_span_id=rnd.randbytes(8)
            )
            span.name = f"hipstershop.{service.title()}/Method{i % 4}"
            span.kind = 2 if i % 2 else 3
            span.start_time_unix_nano = t0_ns + rnd.randrange(10**9)
            span.end_time_unix_nano = span.start_time_unix_nano + rnd.randrange(50_000, 5_000_000)
            span.status.code = 2 if rnd.random() < 0.01 else 0
            for key, value in (
                ("rpc.system", "grpc"),
                ("rpc.service", f"hipstershop.{service.title()}"),
                ("rpc.method", f"Method{i % 4}"),
                ("net.peer.ip", f"10.0.{rnd.randrange(4)}.{rnd.randrange(250)}"),
                ("net.peer.port", rnd.randrange(30000, 60000)),
                ("rpc.grpc.status_code", 0 if span.status.code == 0 else 14),
                ("instrumentation.version", "0.36.4"),
                ("thread.id", rnd.randrange(64)),
            ):
                value_message = span.attributes.add(key=key).value
                if isinstance(value, int):
                    value_message.int_value = value
                else:
                    value_message.string_value = value
    return request.SerializeToString()


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure_decode(bodies: list[bytes], repeats: int) -> dict:
    """Spans per CPU second: the receiver's path (each request to columns, then one SpanFrame for
    all of them), one SpanFrame per request, one large request (a file), and the JSON reader."""
    spans = sum(len(decode_columns(body)) for body in bodies)
    cpu = time.process_time()
    wall = time.perf_counter()
    for _ in range(repeats):
        spanframe_of([decode_columns(body) for body in bodies])
    receiver_cpu, receiver_wall = time.process_time() - cpu, time.perf_counter() - wall
    cpu = time.process_time()
    for _ in range(repeats):
        for body in bodies:
            decode_traces(body)
    each_cpu = time.process_time() - cpu
    whole = ExportTraceServiceRequest()
    for body in bodies:
        whole.MergeFromString(body)
    large = whole.SerializeToString()
    cpu = time.process_time()
    for _ in range(repeats):
        decode_traces(large)
    large_cpu = time.process_time() - cpu
    documents = [json_format.MessageToDict(ExportTraceServiceRequest.FromString(b)) for b in bodies]
    cpu = time.process_time()
    for document in documents:
        read_otlp([document])
    json_cpu = time.process_time() - cpu
    return {
        "spans": spans,
        "per_cpu_s": spans * repeats / receiver_cpu,
        "per_wall_s": spans * repeats / receiver_wall,
        "per_request_frame_per_cpu_s": spans * repeats / each_cpu,
        "large_per_cpu_s": spans * repeats / large_cpu,
        "json_per_cpu_s": spans / json_cpu,
    }


def sender(url: str, bodies: list[bytes], seconds: float, max_requests: int, results) -> None:
    """POST ``bodies`` round-robin for ``seconds`` (at most ``max_requests``); put (sent, refused)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/x-protobuf"}
    sent = refused = 0
    deadline = time.monotonic() + seconds
    for number in range(max_requests):
        if time.monotonic() > deadline:
            break
        connection.request("POST", parts.path, body=bodies[number % len(bodies)], headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            sent += 1
        elif response.status in (429, 503):
            refused += 1
            time.sleep(float(response.getheader("Retry-After", "1")))
        else:
            raise RuntimeError(f"unexpected HTTP {response.status}")
    connection.close()
    results.put((sent, refused))


def measure_receiver(bodies: list[bytes], spans_per_body: int, senders: int, seconds: float, queue_batches: int):
    lags: list[float] = []
    taken = [0]
    with OTLPReceiver(port=0, heartbeat_s=0.2, queue_batches=queue_batches) as receiver:

        def consume():
            for frame in receiver.batches():
                if len(frame):
                    lags.append(time.time() - frame.attrs["received_unix"])
                    taken[0] += len(frame)

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        context = mp.get_context("spawn")
        if _benchpath.HERE.as_posix() not in sys.path:
            sys.path.append(_benchpath.HERE.as_posix())  # last: the spawned senders import _benchpath, not detectors
        results = context.Queue()
        processes = [
            context.Process(target=sender, args=(receiver.url, bodies, seconds, 100_000, results))
            for _ in range(senders)
        ]
        for process in processes:
            process.start()
        deadline = time.monotonic() + 60
        while not receiver.stats.get("spans_accepted") and time.monotonic() < deadline:
            time.sleep(0.05)  # spawned interpreters import before they send: measure from the first batch on
        wall, cpu, before = time.perf_counter(), time.process_time(), receiver.stats.get("spans_accepted", 0)
        for process in processes:
            process.join(seconds + 60)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        accepted = receiver.stats.get("spans_accepted", 0) - before
        outcomes = [results.get(timeout=10) for _ in processes]
        stats = dict(receiver.stats)
    consumer.join(5)
    lag_ms = np.array(lags) * 1000
    return {
        "accepted_per_s": accepted / wall,
        "cpu_s_per_kspan": cpu / max(accepted, 1) * 1000,
        "requests_ok": sum(o[0] for o in outcomes),
        "refused": sum(o[1] for o in outcomes),
        "lag_p50_ms": float(np.percentile(lag_ms, 50)),
        "lag_p90_ms": float(np.percentile(lag_ms, 90)),
        "lag_max_ms": float(lag_ms.max()),
        "delivered": taken[0],
        "stats": stats,
        "spans_per_request": spans_per_body,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--spans-per-request", type=int, default=512, help="the SDK's BatchSpanProcessor default")
    parser.add_argument("--queue-batches", type=int, default=64)
    parser.add_argument("--decode-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    t0 = 1_661_140_000 * 10**9
    bodies = [build_request(args.spans_per_request, seed, t0 + seed * 10**9) for seed in range(20)]
    spans_per_body = len(decode_traces(bodies[0]))
    decode = measure_decode(bodies, args.decode_repeats)
    print(
        f"decode ({len(bodies)} requests, {decode['spans']} spans): requests to columns, then one SpanFrame "
        f"(the receiver's path): {decode['per_cpu_s']:,.0f} spans per CPU s ({decode['per_wall_s']:,.0f} per wall s); "
        f"a SpanFrame per request: {decode['per_request_frame_per_cpu_s']:,.0f}; all in one request: "
        f"{decode['large_per_cpu_s']:,.0f}; OTLP JSON reader, a SpanFrame per request: {decode['json_per_cpu_s']:,.0f}"
    )
    receiver = measure_receiver(bodies, spans_per_body, args.senders, args.seconds, args.queue_batches)
    print(
        f"receiver: {args.senders} senders x {spans_per_body} spans/request for {args.seconds:.0f} s: "
        f"{receiver['accepted_per_s']:,.0f} spans/s accepted, {receiver['cpu_s_per_kspan'] * 1000:.1f} ms receiver CPU "
        f"per 1000 spans, {receiver['requests_ok']} requests ok, {receiver['refused']} refused (queue full)"
    )
    print(
        f"lag arrival -> batches(): p50 {receiver['lag_p50_ms']:.1f} ms, p90 {receiver['lag_p90_ms']:.1f} ms, "
        f"max {receiver['lag_max_ms']:.1f} ms; delivered {receiver['delivered']} spans"
    )
    print(f"load average after: {load_average()}")
    print(
        f"decode_spans_per_cpu_s={decode['per_cpu_s']:.0f} receiver_spans_per_s={receiver['accepted_per_s']:.0f} "
        f"receiver_spans_per_cpu_s={1000 / receiver['cpu_s_per_kspan']:.0f} "
        f"lag_p50_ms={receiver['lag_p50_ms']:.1f} lag_p90_ms={receiver['lag_p90_ms']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
