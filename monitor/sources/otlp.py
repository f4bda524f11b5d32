"""An OTLP/HTTP trace receiver: ``POST /v1/traces`` in, SpanFrames out of a bounded queue.

It follows the OTLP/HTTP specification (opentelemetry-specification, ``protocol/otlp.md``):

- bodies are ``application/x-protobuf`` (an ``ExportTraceServiceRequest``, decoded by
  :func:`collectors.otlp_proto.decode_traces`) or ``application/json`` (OTLP JSON, read by
  :func:`collectors.read_otlp`), optionally ``Content-Encoding: gzip``;
- 200 with an ``ExportTraceServiceResponse`` in the request's encoding; when spans were rejected
  it carries ``partial_success {rejected_spans, error_message}`` (the reasons and counts);
- 400 for a body that cannot be decoded, 413 for a body over ``max_body_bytes`` (on the wire or
  once inflated: gzip is inflated chunk by chunk and refused as soon as it passes the bound),
  415 for another content type or encoding, ``busy_status`` (503, or 429) with ``Retry-After``
  when the queue of batches is full; every 4xx/5xx body is a ``google.rpc.Status`` message.

A request's spans are one batch: queued whole or refused whole, so a client that retries after a
refusal never makes a span count twice. Served by uvicorn, as a plain ASGI application, on a
thread of its own.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pandas as pd
import uvicorn
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors import CollectError, empty_spanframe, read_otlp
from collectors.otlp_proto import SpanColumns, decode_columns, spanframe_of
from monitor.errors import MonitorError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY_BYTES = 20 * 2**20
"""20 MiB: the OpenTelemetry Collector's default ``max_request_body_size``."""
INLINE_DECODE_BYTES = 256 * 2**10
"""Bodies up to this size (about 1,500 spans, a few ms) are decoded on the server's event loop;
larger ones, one at a time in arrival order, on a thread of their own, so that they do not hold
up the other connections' requests (several decoding at once would only share one GIL)."""
_GRPC_CODES = {400: code_pb2.INVALID_ARGUMENT, 413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT}
_STRUCTURE_REASONS = ("malformed_document", "malformed_resource")


class _Refused(MonitorError):
    """A request answered with an HTTP error (status, message)."""

    def __init__(self, status: int, message: str, stat: str):
        super().__init__(message)
        self.status = status
        self.stat = stat


class _Disconnected(MonitorError):
    """The client went away while sending its body: nothing to answer."""


class OTLPReceiver:
    """OTLP/HTTP receiver; a :class:`monitor.Source` whose :meth:`batches` drains the queue.

    ``host``/``port``: where to listen (127.0.0.1 by default; port 0 picks a free one, read it from
    :attr:`port` after :meth:`start`). ``queue_batches``: how many accepted requests may wait for
    :meth:`batches` (then requests are refused with ``busy_status``); ``max_batch_spans``: the
    most spans :meth:`batches` joins into one SpanFrame; ``linger_s``: how long after a request's
    arrival :meth:`batches` waits for more to join it (0: only those already waiting).
    ``heartbeat_s``: with no batch for that long, :meth:`batches` yields an empty SpanFrame so the
    consumer sees time pass (None: never). Every batch has ``attrs["received_unix"]``, the time
    its first request arrived.

    ``stats`` (plain ints): ``requests``, ``spans_accepted``, ``spans_rejected`` and
    ``rejected_<reason>`` per reason (as answered in ``partial_success``), ``requests_queued``,
    ``requests_delivered``, ``batches_delivered``, ``duplicate_spans`` (a span in two requests
    delivered together, dropped), ``queue_full``, ``bad_request``, ``too_large``,
    ``unsupported_media_type``.
    """

    name = "otlp"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        path: str = "/v1/traces",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        queue_batches: int = 64,
        max_batch_spans: int = 100_000,
        linger_s: float = 0.1,
        busy_status: int = 503,
        retry_after_s: int = 1,
        heartbeat_s: float | None = 1.0,
        start_timeout_s: float = 10.0,
    ):
        if busy_status not in (429, 503):
            raise MonitorError(f"OTLPReceiver: busy_status must be 429 or 503, got {busy_status!r}")
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("queue_batches", queue_batches),
            ("max_batch_spans", max_batch_spans),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MonitorError(f"OTLPReceiver: {name} must be a positive integer, got {value!r}")
        if isinstance(retry_after_s, bool) or not isinstance(retry_after_s, int) or retry_after_s < 0:
            raise MonitorError(f"OTLPReceiver: retry_after_s must be whole seconds >= 0, got {retry_after_s!r}")
        if isinstance(linger_s, bool) or not isinstance(linger_s, (int, float)) or not 0 <= linger_s < 60:
            raise MonitorError(f"OTLPReceiver: linger_s must be seconds in [0, 60), got {linger_s!r}")
        if heartbeat_s is not None and not heartbeat_s > 0:
            raise MonitorError(f"OTLPReceiver: heartbeat_s must be > 0 seconds or None, got {heartbeat_s!r}")
        if not str(path).startswith("/"):
            raise MonitorError(f"OTLPReceiver: path must start with '/', got {path!r}")
        self.host = host
        self.port = port
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.queue_batches = queue_batches
        self.max_batch_spans = max_batch_spans
        self.linger_s = float(linger_s)
        self.busy_status = busy_status
        self.retry_after_s = retry_after_s
        self.heartbeat_s = heartbeat_s
        self.start_timeout_s = start_timeout_s
        self.stats: dict[str, int] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[float, SpanColumns | pd.DataFrame]] = queue.Queue(maxsize=queue_batches)
        self._closed = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._decoder: ThreadPoolExecutor | None = None

    @property
    def url(self) -> str:
        """The endpoint, ``http://HOST:PORT/v1/traces``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> OTLPReceiver:
        """Listen and serve on a background thread (returns once the server accepts connections)."""
        if self._server is not None:
            return self
        if self._closed.is_set():
            raise MonitorError("OTLPReceiver: closed; make a new receiver to listen again")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise MonitorError(f"OTLPReceiver: cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"otlp-decode-{self.port}")
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"otlp-receiver-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise MonitorError(f"OTLPReceiver: the server on {self.host}:{self.port} did not start")
            time.sleep(0.005)
        return self

    def batches(self) -> Iterator[pd.DataFrame]:
        """SpanFrames of the accepted requests in arrival order, until :meth:`close` (what was queued
        before the close is still delivered). Requests waiting in the queue together, or arriving
        within ``linger_s`` of the first, become one SpanFrame of at most ``max_batch_spans`` spans
        (a SpanFrame costs some milliseconds however few its spans: one per request would cost
        more than the decoding); with nothing to deliver for ``heartbeat_s``, an empty heartbeat frame."""
        self.start()
        wait = self.heartbeat_s if self.heartbeat_s is not None else 0.1
        while True:
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                if self._closed.is_set():
                    return
                if self.heartbeat_s is not None:
                    beat = empty_spanframe(self.name)
                    beat.attrs["received_unix"] = time.time()
                    beat.attrs["heartbeat"] = True
                    yield beat
                continue
            group = [first]
            size = len(first[1])
            until = first[0] + self.linger_s
            while size < self.max_batch_spans and isinstance(group[-1][1], SpanColumns):
                linger = 0.0 if self._closed.is_set() else max(0.0, until - time.time())
                try:
                    item = self._queue.get(timeout=linger)
                except queue.Empty:
                    break
                group.append(item)
                size += len(item[1])
            yield from self._frames(group)

    def _frames(self, group: list) -> Iterator[pd.DataFrame]:
        """One SpanFrame per run of protobuf requests of ``group``; a JSON request's frame as it is."""
        run: list = []
        for arrived, item in [*group, (None, None)]:
            if isinstance(item, SpanColumns):
                run.append((arrived, item))
                continue
            if run:
                frame = spanframe_of([part for _, part in run], source=f"OTLP/HTTP {self.host}:{self.port}")
                frame.attrs["received_unix"] = run[0][0]
                duplicates = frame.attrs["skipped"].get("duplicate_span", 0)
                self._count(batches_delivered=1, requests_delivered=len(run), duplicate_spans=duplicates)
                run = []
                yield frame
            if item is not None:
                item.attrs["received_unix"] = arrived
                self._count(batches_delivered=1, requests_delivered=1)
                yield item

    def close(self) -> None:
        """Stop the server (in-flight requests get up to 2 s) and end :meth:`batches` once drained."""
        self._closed.set()
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._decoder is not None:
            self._decoder.shutdown(wait=False)

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _count(self, counts: Counter | None = None, /, **more: int) -> None:
        with self._lock:
            for key, value in {**(counts or {}), **more}.items():
                self.stats[key] = self.stats.get(key, 0) + int(value)

    def _app(self):
        """The ASGI application (no framework: one route, the rest 404, 405 or 307 as FastAPI answered)."""
        path, slashed = self.path, self.path.rstrip("/") + "/"

        async def app(scope, receive, send) -> None:
            if scope["type"] != "http":
                return
            if scope["path"] == path and scope["method"] == "POST":
                try:
                    reply = await self._export(scope, receive)
                except _Disconnected:
                    return
            elif scope["path"] == path:
                reply = _Reply(405, b'{"detail":"Method Not Allowed"}', JSON, ((b"allow", b"POST"),))
            elif scope["path"] == slashed and path != slashed:
                reply = _Reply(307, b"", None, ((b"location", _location(scope, path)),))
            else:
                reply = _Reply(404, b'{"detail":"Not Found"}', JSON)
            await reply.send(send)

        return app

    async def _export(self, scope, receive) -> _Reply:
        arrived = time.time()
        self._count(requests=1)
        encoding = PROTOBUF
        headers = _headers(scope)
        try:
            encoding = _media_type(headers.get("content-type"))
            gzipped = _gzipped(headers.get("content-encoding"))
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise _Refused(413, f"body of {declared} bytes is over the limit of {self.max_body_bytes}", "too_large")
            body = await _read_body(receive, self.max_body_bytes, gzipped)
            if self._queue.full():
                return self._busy(encoding)
            source = f"OTLP/HTTP {_peer(scope)}"
            if len(body) <= INLINE_DECODE_BYTES:
                frame, rejected = _decode(body, encoding, source)
            else:
                work = asyncio.get_running_loop().run_in_executor(self._decoder, _decode, body, encoding, source)
                frame, rejected = await work
        except _Refused as refused:
            self._count(Counter({refused.stat: 1}))
            return _status_response(refused.status, str(refused), encoding)
        if len(frame):
            try:
                self._queue.put_nowait((arrived, frame))
            except queue.Full:
                return self._busy(encoding)
            self._count(requests_queued=1)
        self._count(
            Counter({f"rejected_{k}": v for k, v in rejected.items()}),
            spans_accepted=len(frame),
            spans_rejected=sum(rejected.values()),
        )
        response = ExportTraceServiceResponse()
        if rejected:
            total = len(frame) + sum(rejected.values())
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
            response.partial_success.rejected_spans = sum(rejected.values())
            response.partial_success.error_message = f"rejected {sum(rejected.values())} of {total} spans: {reasons}"
        return _message_response(200, response, encoding)

    def _busy(self, encoding: str) -> _Reply:
        self._count(queue_full=1)
        message = f"the queue of {self.queue_batches} batches is full; retry after {self.retry_after_s} s"
        reply = _status_response(self.busy_status, message, encoding, code=code_pb2.UNAVAILABLE)
        return reply._replace(headers=((b"retry-after", str(self.retry_after_s).encode()),))


class _Reply(NamedTuple):
    """An HTTP answer: status, body, media type (None: no Content-Type) and more headers."""

    status: int
    body: bytes
    media: str | None
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send) -> None:
        headers = [(b"content-length", str(len(self.body)).encode()), *self.headers]
        if self.media is not None:
            headers.append((b"content-type", self.media.encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _headers(scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of repeated ones), values as latin-1."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _peer(scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "client"


def _location(scope, path: str) -> bytes:
    host = _headers(scope).get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}{'?' + query if query else ''}".encode("latin-1")


def _media_type(header: str | None) -> str:
    media = (header or "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, JSON):
        return media
    raise _Refused(
        415, f"Content-Type {header!r} is not supported; send {PROTOBUF} or {JSON}", "unsupported_media_type"
    )


def _gzipped(header: str | None) -> bool:
    encoding = (header or "").strip().lower()
    if encoding in ("", "identity"):
        return False
    if encoding == "gzip":
        return True
    raise _Refused(415, f"Content-Encoding {header!r} is not supported; send gzip or none", "unsupported_media_type")


async def _read_body(receive, limit: int, gzipped: bool) -> bytes:
    """The body, inflated when gzipped, refused (413) as soon as either size passes ``limit``."""
    wire = 0
    out = bytearray()
    inflater = zlib.decompressobj(wbits=31) if gzipped else None
    try:
        async for chunk in _chunks(receive):
            wire += len(chunk)
            if wire > limit:
                raise _Refused(413, f"body is over the limit of {limit} bytes", "too_large")
            if inflater is None:
                out += chunk
                continue
            data = chunk
            while data:
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise _Refused(413, f"gzip body inflates beyond the limit of {limit} bytes", "too_large")
                data = inflater.unconsumed_tail
                if inflater.eof and not data and inflater.unused_data:
                    data, inflater = inflater.unused_data, zlib.decompressobj(wbits=31)
    except zlib.error as exc:
        raise _Refused(400, f"body is not valid gzip: {exc}", "bad_request") from exc
    if inflater is not None and not inflater.eof:
        raise _Refused(400, "gzip body ends before its end of stream", "bad_request")
    return bytes(out)


async def _chunks(receive):
    """The body's chunks as the ASGI server hands them over; :class:`_Disconnected` when the client leaves."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected("the client closed the connection before the body ended")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def _decode(body: bytes, encoding: str, source: str) -> tuple[SpanColumns | pd.DataFrame, Counter]:
    """(the spans, rejected spans by reason); :class:`_Refused` (400) for a body that is not a request."""
    if encoding == PROTOBUF:
        try:
            columns = decode_columns(body, source=source)
        except CollectError as exc:
            raise _Refused(400, str(exc), "bad_request") from exc
        return columns, Counter(columns.rejected)
    try:
        document = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(400, f"{source}: body is not JSON: {exc}", "bad_request") from exc
    if not isinstance(document, dict):
        raise _Refused(
            400, f"{source}: expected an ExportTraceServiceRequest object, got {type(document).__name__}", "bad_request"
        )
    try:
        frame = read_otlp([document], source=source)
    except (CollectError, AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise _Refused(400, f"{source}: cannot read OTLP JSON: {type(exc).__name__}: {exc}", "bad_request") from exc
    skipped = Counter(frame.attrs.get("skipped", {}))
    broken = {k: skipped[k] for k in _STRUCTURE_REASONS if skipped.get(k)}
    if broken:
        raise _Refused(400, f"{source}: not an OTLP ExportTraceServiceRequest ({broken})", "bad_request")
    return frame, skipped


def _message_response(status: int, message, encoding: str) -> _Reply:
    if encoding == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return _Reply(status, body, encoding)


def _status_response(status: int, message: str, encoding: str, code: int | None = None) -> _Reply:
    reply = status_pb2.Status(
        code=code if code is not None else _GRPC_CODES.get(status, code_pb2.UNKNOWN), message=message
    )
    if status == 400:
        detail = error_details_pb2.BadRequest()
        detail.field_violations.add(field="body", description=message)
        reply.details.add().Pack(detail)
    return _message_response(status, reply, encoding)
