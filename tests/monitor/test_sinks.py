"""The monitor's sinks: JSON lines, the webhook (against a local server that fails first), Prometheus
metrics, the live terminal view and its plain-line fallback."""

import io
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from monitor import MonitorError
from monitor.sinks.jsonl import JsonlSink
from monitor.sinks.live import LiveView, top_candidates
from monitor.sinks.prometheus import PrometheusSink
from monitor.sinks.webhook import WebhookSink


def incident(number, severity=0.8, services=("cart", "redis")):
    ranking = {"at": "open", "method": "default", "candidates": []}
    for rank, service in enumerate(services):
        ranking["candidates"].append({"service": service, "score": 1.0 / (rank + 1), "why": ["cart->redis latency"]})
    return {
        "id": f"inc-{number}",
        "severity": severity,
        "onset": "2022-08-22T03:52:00+00:00",
        "series": ["a", "b"],
        "rankings": [ranking],
    }


OPEN = {"event": "open", "time": "2022-08-22T03:52:30+00:00", "incident": incident(1)}
STATS = {
    "event": "stats",
    "time": "2022-08-22T03:53:00+00:00",
    "stats": {
        "spans_ingested": 1200,
        "late_spans": 3,
        "incidents_open": 1,
        "lag_seconds": 0.25,
        "source": {"requests": 9},
    },
}


# --- JSON lines


def test_jsonl_writes_incident_events_one_line_each_flushed(tmp_path):
    path = tmp_path / "incidents.jsonl"
    sink = JsonlSink(path)
    sink.emit(OPEN)
    sink.emit(STATS)
    sink.emit({**OPEN, "event": "close", "incident": {**incident(1), "severity": np.float64(0.5), "n": np.int64(3)}})
    lines = path.read_text().splitlines()
    assert len(lines) == 2, "flushed before close; stats not asked for"
    assert json.loads(lines[0]) == OPEN and json.loads(lines[1])["incident"]["n"] == 3
    sink.close()
    sink.close()
    with pytest.raises(MonitorError, match="closed"):
        sink.emit(OPEN)
    again = JsonlSink(path, events=("stats",))
    again.emit(STATS)
    again.close()
    assert len(path.read_text().splitlines()) == 3, "appended"


def test_jsonl_to_stdout_and_clear_errors(capsys, tmp_path):
    sink = JsonlSink("-", events=("open", "stats"))
    sink.emit(OPEN)
    sink.emit({**STATS, "time": pd.Timestamp("2022-08-22T03:53:00Z")})
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[1])["time"] == "2022-08-22T03:53:00+00:00"
    with pytest.raises(MonitorError, match="event 'open' cannot be written as JSON"):
        sink.emit({**OPEN, "incident": {"bad": object()}})
    with pytest.raises(MonitorError, match="cannot open"):
        JsonlSink(tmp_path / "missing" / "x.jsonl")
    with pytest.raises(MonitorError, match="event 'open' cannot be written as JSON"):
        sink.emit({**OPEN, "incident": {"severity": float("nan")}})


# --- webhook


class Hook:
    """A local HTTP server that answers the first ``failures`` POSTs with ``status``, then 200;
    ``gate`` (when given) holds every answer until it is set."""

    def __init__(self, failures=0, status=503, gate=None, retry_after=None):
        self.bodies, self.attempts = [], 0
        self.arrived = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.arrived.set()
                if gate is not None:
                    gate.wait(10)
                hook.attempts += 1
                if hook.attempts <= failures:
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                else:
                    hook.bodies.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_retries_with_backoff_until_the_server_takes_the_event():
    with Hook(failures=2) as hook:
        sink = WebhookSink(hook.url, backoff_s=0.01)
        sink.emit(OPEN)
        sink.emit(STATS)
        assert sink.wait_idle(10)
        sink.close()
    assert hook.bodies == [OPEN] and hook.attempts == 3
    assert sink.stats == {"queued": 1, "sent": 1, "retries": 2, "failed": 0, "dropped": 0, "dropped_at_close": 0}


def test_webhook_honours_retry_after_and_gives_up_on_a_final_answer():
    with Hook(failures=1, status=429, retry_after="0") as hook:
        sink = WebhookSink(hook.url, backoff_s=30)
        sink.emit(OPEN)
        assert sink.wait_idle(10), "Retry-After 0 overrides the 30 s back-off"
        sink.close()
    assert sink.stats["sent"] == 1 and sink.stats["retries"] == 1
    with Hook(failures=5, status=400) as hook:
        sink = WebhookSink(hook.url, backoff_s=0.01)
        sink.emit(OPEN)
        assert sink.wait_idle(10)
        sink.close()
    assert hook.attempts == 1 and sink.stats["failed"] == 1 and sink.stats["retries"] == 0


def test_webhook_never_blocks_and_drops_with_a_count_when_the_queue_is_full(caplog):
    gate = threading.Event()
    with Hook(gate=gate) as hook:
        sink = WebhookSink(hook.url, queue_size=2, close_timeout_s=5)
        sink.emit({**OPEN, "incident": incident(0)})
        assert hook.arrived.wait(10)
        for number in range(1, 6):
            sink.emit({**OPEN, "incident": incident(number)})
        assert hook.attempts == 0, "every emit returned while the server was still holding the first POST"
        assert sink.stats["dropped"] == 3, "one in flight, two queued, three dropped"
        assert "queue of 2 events full; 1 event(s) dropped" in caplog.text
        gate.set()
        assert sink.wait_idle(10)
        sink.close()
    assert [b["incident"]["id"] for b in hook.bodies] == ["inc-0", "inc-1", "inc-2"]


def test_webhook_gives_up_on_an_unreachable_url_and_counts_what_close_left(unused_port):
    sink = WebhookSink(f"http://127.0.0.1:{unused_port}/", retries=2, backoff_s=0.01, timeout_s=1)
    sink.emit(OPEN)
    assert sink.wait_idle(10)
    assert sink.stats["failed"] == 1 and sink.stats["retries"] == 2
    slow = WebhookSink(f"http://127.0.0.1:{unused_port}/", retries=3, backoff_s=60, close_timeout_s=0.1)
    for _ in range(3):
        slow.emit(OPEN)
    for _ in range(1000):
        if slow._queue.qsize() == 2:
            break
        threading.Event().wait(0.01)
    slow.close()
    assert slow.stats["dropped_at_close"] == 2 and slow.stats["failed"] == 1
    with pytest.raises(MonitorError, match="closed"):
        slow.emit(OPEN)


@pytest.fixture
def unused_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


def test_webhook_parameters_are_checked():
    with pytest.raises(MonitorError, match="url must be an http"):
        WebhookSink("ftp://x")
    with pytest.raises(MonitorError, match="queue_size must be an integer >= 1"):
        WebhookSink("http://127.0.0.1:1/", queue_size=0)


# --- Prometheus


def samples(registry):
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_prometheus_exposes_the_latest_stats_with_their_types():
    sink = PrometheusSink()
    sink.emit(STATS)
    sink.emit(OPEN)
    sink.emit({**OPEN, "event": "close"})
    sink.emit({**STATS, "stats": {**STATS["stats"], "spans_ingested": 2500, "incidents_total": 4}})
    got = samples(sink.registry)
    assert got[("rca_monitor_spans_ingested_total", ())] == 2500
    assert got[("rca_monitor_incidents_total", ())] == 4
    assert got[("rca_monitor_incidents_open", ())] == 1 and got[("rca_monitor_lag_seconds", ())] == 0.25
    assert got[("rca_monitor_source_requests", ())] == 9, "an unknown nested stat is kept, as a gauge"
    assert got[("rca_monitor_incident_events_total", (("event", "open"),))] == 1
    assert got[("rca_monitor_incident_events_total", (("event", "close"),))] == 1
    families = {f.name: f.type for f in text_string_to_metric_families(generate_latest(sink.registry).decode())}
    assert families["rca_monitor_spans_ingested"] == "counter" and families["rca_monitor_incidents_open"] == "gauge"
    with pytest.raises(MonitorError, match="needs a 'stats' mapping"):
        sink.emit({"event": "stats", "stats": 3})
    sink.close()
    assert samples(sink.registry) == {}


def test_prometheus_serves_metrics_on_a_port():
    sink = PrometheusSink(port=0).start()
    try:
        sink.emit(STATS)
        with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        sink.close()
    assert "rca_monitor_spans_ingested_total 1200.0" in text


# --- live view


def test_live_view_prints_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    view = LiveView(Console(file=out, width=200), stats_every_s=3600)
    assert view.plain
    view.emit(OPEN)
    view.emit(STATS)
    view.emit({**STATS, "stats": {"spans_ingested": 5}})
    view.emit({**OPEN, "event": "close"})
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "2022-08-22T03:52:30+00:00 OPEN inc-1 severity 0.80 2 series top: cart 1.00, redis 0.50"
    assert lines[1].startswith("2022-08-22T03:53:00+00:00 stats spans_ingested=1200 late_spans=3 incidents_open=1")
    assert len(lines) == 3 and lines[2].split()[1:3] == ["CLOSE", "inc-1"], "the second stats line came too soon"


def test_live_view_renders_a_table_of_open_incidents_on_a_terminal():
    out = io.StringIO()
    view = LiveView(Console(file=out, width=120, force_terminal=True), refresh_per_second=50)
    assert not view.plain
    view.emit(OPEN)
    view.emit({**OPEN, "incident": incident(2, severity=0.95, services=("payment",))})
    view.emit(STATS)
    rendered = Console(file=io.StringIO(), width=120, record=True)
    rendered.print(view.render())
    text = rendered.export_text()
    assert text.index("inc-2") < text.index("inc-1"), "most severe first"
    assert "payment 1.00" in text and "cart 1.00, redis 0.50" in text and "spans_ingested 1200" in text
    view.emit({**OPEN, "event": "close"})
    view.close()
    assert "inc-2" in out.getvalue()


def test_top_candidates_reads_the_latest_ranking():
    case = incident(1)
    case["rankings"].append({"at": "close", "candidates": [{"service": "redis", "score": 2}]})
    assert top_candidates(case) == [("redis", 2.0)]
    assert top_candidates({"id": "x"}) == []
