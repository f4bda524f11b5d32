"""A test double of the Jaeger Query HTTP API — NOT a Jaeger server.

:class:`JaegerDouble` serves a fixed list of Jaeger-format trace objects on 127.0.0.1 in the
wire formats of Jaeger's classic JSON API (``/api/services``, ``/api/traces``) and of api_v3
(``/api/v3/services``, ``/api/v3/traces`` answering OTLP JSON wrapped in ``{"result": ...}``,
404 when nothing matches). It exists because no Jaeger can run where this project is tested;
the tests of :mod:`collectors.jaeger_client` and the simulator's end-to-end runs use it.

Query semantics follow Jaeger's: a trace matches a service and window when one of that
service's spans starts inside the window; at most ``limit`` traces come back, the most
recent first. Faults for tests are queued with :meth:`JaegerDouble.inject`
(``("status", 503)``, ``("delay", seconds)``, ``("malformed", None)``), each consumed by one
trace or service request. ``api`` selects which API the double speaks (``"both"``, ``"v1"``,
``"v3"``); the other answers 404 as an unknown path.

    with JaegerDouble(traces) as jaeger:
        spans = JaegerClient(jaeger.url).collect(start, end)
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from collectors.otlp import jaeger_to_otlp

DEFAULT_LIMIT = 20


def _parse_rfc3339(text: str) -> int:
    """RFC 3339 -> microseconds since the epoch (nanosecond digits allowed)."""
    text = text.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, _, rest = text.partition(".")
    fraction, zone = "", ""
    if rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        fraction, zone = rest[:i], rest[i:]
    else:
        for sign in ("+", "-"):
            if sign in main[10:]:
                at = main.rindex(sign)
                main, zone = main[:at], main[at:]
                break
    stamp = datetime.fromisoformat(main + (zone or "+00:00"))
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return int(stamp.timestamp()) * 1_000_000 + micros


class JaegerDouble:
    """Serve ``traces`` (Jaeger JSON trace objects) over Jaeger's query APIs on 127.0.0.1."""

    def __init__(self, traces: list[dict], *, api: str = "both", port: int = 0):
        if api not in ("both", "v1", "v3"):
            raise ValueError(f"api must be 'both', 'v1' or 'v3', got {api!r}")
        self.traces = list(traces)  # changed while serving only by add_traces: answers are indexed and cached
        self.api = api
        self._index: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self._v1_json: dict[int, bytes] = {}
        self._v3_json: dict[int, bytes] = {}
        self.port = port
        self.requests: list[tuple[str, dict]] = []
        self._faults: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("JaegerDouble is not running; use start() or a with-block")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_traces(self, traces: list[dict]) -> None:
        """Store more traces while serving, as spans that reach Jaeger late do (indexes rebuilt)."""
        with self._lock:
            self.traces.extend(traces)
            self._index = None

    def inject(self, *faults: tuple[str, object]) -> None:
        """Queue faults; each one is applied to the next request."""
        with self._lock:
            self._faults.extend(faults)

    def start(self) -> JaegerDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                double._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> JaegerDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _build_index(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per service: span start times (sorted) and the trace each belongs to."""
        starts: dict[str, list[int]] = {}
        owners: dict[str, list[int]] = {}
        for number, trace in enumerate(self.traces):
            processes = trace.get("processes") or {}
            for span in trace.get("spans") or []:
                service = (processes.get(span.get("processID")) or {}).get("serviceName")
                if service:
                    starts.setdefault(service, []).append(int(span["startTime"]))
                    owners.setdefault(service, []).append(number)
        index = {}
        for service, values in starts.items():
            times = np.asarray(values, dtype=np.int64)
            order = np.argsort(times, kind="stable")
            index[service] = (times[order], np.asarray(owners[service], dtype=np.int64)[order])
        return index

    def services(self) -> list[str]:
        if self._index is None:
            self._index = self._build_index()
        return sorted(self._index)

    def matching(self, service: str, start_us: int, end_us: int, limit: int) -> list[int]:
        """Positions of the traces with a span of ``service`` starting in [start, end], most recent
        first, at most ``limit``."""
        if self._index is None:
            self._index = self._build_index()
        if service not in self._index:
            return []
        times, owners = self._index[service]
        lo = np.searchsorted(times, start_us, side="left")
        hi = np.searchsorted(times, end_us, side="right")
        chosen_times, chosen = times[lo:hi], owners[lo:hi]
        if not len(chosen):
            return []
        latest = {}
        for t, owner in zip(chosen_times.tolist(), chosen.tolist()):
            latest[owner] = t
        ranked = sorted(latest, key=lambda owner: (-latest[owner], owner))
        return ranked[:limit]

    def _v1_body(self, numbers: list[int]) -> bytes:
        parts = []
        for number in numbers:
            if number not in self._v1_json:
                self._v1_json[number] = json.dumps(self.traces[number]).encode()
            parts.append(self._v1_json[number])
        return (
            b'{"data": ['
            + b", ".join(parts)
            + b'], "total": '
            + str(len(parts)).encode()
            + b', "limit": 0, "offset": 0, "errors": null}'
        )

    def _v3_body(self, numbers: list[int]) -> bytes:
        parts = []
        for number in numbers:
            if number not in self._v3_json:
                resource_spans = jaeger_to_otlp([self.traces[number]])["resourceSpans"]
                self._v3_json[number] = b", ".join(json.dumps(r).encode() for r in resource_spans)
            if self._v3_json[number]:
                parts.append(self._v3_json[number])
        return b'{"result": {"resourceSpans": [' + b", ".join(parts) + b"]}}"

    def _send(self, handler, status: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler) -> None:
        parsed = urllib.parse.urlparse(handler.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        path = parsed.path
        with self._lock:
            self.requests.append((path, params))
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            kind, value = fault
            if kind == "status":
                self._send(handler, int(value), {"data": None, "errors": [{"code": int(value), "msg": "injected"}]})
                return
            if kind == "delay":
                time.sleep(float(value))
            elif kind == "malformed":
                self._send(handler, 200, b'{"data": [{"traceID": ')
                return
        v1 = self.api in ("both", "v1")
        v3 = self.api in ("both", "v3")
        if path == "/api/services" and v1:
            names = self.services()
            self._send(handler, 200, {"data": names, "total": len(names), "limit": 0, "offset": 0, "errors": None})
        elif path == "/api/traces" and v1:
            if not params.get("service"):
                self._send(
                    handler,
                    400,
                    {
                        "data": None,
                        "total": 0,
                        "limit": 0,
                        "offset": 0,
                        "errors": [{"code": 400, "msg": "parameter 'service' is required"}],
                    },
                )
                return
            try:
                start, end = int(params.get("start", 0)), int(params.get("end", 2**62))
                limit = int(params.get("limit", DEFAULT_LIMIT))
            except ValueError as exc:
                self._send(handler, 400, {"data": None, "errors": [{"code": 400, "msg": str(exc)}]})
                return
            with self._lock:
                body = self._v1_body(self.matching(params["service"], start, end, limit))
            self._send(handler, 200, body)
        elif path == "/api/v3/services" and v3:
            self._send(handler, 200, {"services": self.services()})
        elif path == "/api/v3/traces" and v3:
            service = params.get("query.service_name") or params.get("query.serviceName")
            if not service:
                self._send(handler, 400, {"error": {"httpCode": 400, "message": "query.service_name is required"}})
                return
            try:
                start = _parse_rfc3339(params.get("query.start_time_min", "1970-01-01T00:00:00Z"))
                end = _parse_rfc3339(params.get("query.start_time_max", "2200-01-01T00:00:00Z"))
                limit = int(params.get("query.search_depth") or params.get("query.num_traces") or DEFAULT_LIMIT)
            except ValueError as exc:
                self._send(handler, 400, {"error": {"httpCode": 400, "message": f"cannot parse query: {exc}"}})
                return
            with self._lock:
                numbers = self.matching(service, start, end, limit)
                body = self._v3_body(numbers) if numbers else None
            if body is None:
                self._send(handler, 404, {"error": {"httpCode": 404, "message": "No traces found"}})
                return
            self._send(handler, 200, body)
        else:
            self._send(handler, 404, b"404 page not found\n", "text/plain; charset=utf-8")
