"""Prometheus metrics of the monitor (``prometheus-client``), fed by its ``"stats"`` events.

The latest ``stats`` mapping is exposed as it is, under ``<namespace>_<key>``: the keys below with
their type and help; any other numeric key (nested mappings flattened with ``_``) as a gauge, so
that a counter the monitor adds is never lost. Incident events are counted as
``<namespace>_incident_events_total{event="open|update|close"}``.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.errors import MonitorError
from monitor.sinks.jsonl import INCIDENT_EVENTS

COUNTERS = {
    "spans_ingested": "Spans the monitor took in",
    "late_spans": "Spans that arrived after their bucket had closed",
    "duplicate_spans": "Spans dropped because they were seen before",
    "buckets_closed": "Buckets closed and scored",
    "collection_gaps": "Buckets in which no span arrived at all",
    "incidents_total": "Incidents opened",
}
GAUGES = {
    "series_monitored": "Series with a streaming detector",
    "incidents_open": "Incidents open now",
    "lag_seconds": "Seconds from a bucket's end to its scoring",
    "pooled_scores": "Scores kept by the pooled calibration",
    "pooled_threshold": "Pooled alarm threshold of the last bucket, in noise units",
}
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def flatten(stats: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric entries of ``stats`` (nested mappings joined with ``_``); booleans and text left out."""
    out: dict[str, float] = {}
    for key, value in stats.items():
        name = prefix + _NAME.sub("_", str(key))
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class _Collector:
    def __init__(self, sink: PrometheusSink):
        self.sink = sink

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        ns = self.sink.namespace
        with self.sink._lock:
            stats = dict(self.sink._stats)
            events = Counter(self.sink._events)
        for key, value in sorted(stats.items()):
            if key in COUNTERS:
                yield CounterMetricFamily(f"{ns}_{key.removesuffix('_total')}", COUNTERS[key], value=value)
            else:
                yield GaugeMetricFamily(f"{ns}_{key}", GAUGES.get(key, f"monitor stat {key}"), value=value)
        family = CounterMetricFamily(f"{ns}_incident_events", "Incident events emitted", labels=["event"])
        for name in INCIDENT_EVENTS:
            family.add_metric([name], events[name])
        yield family


class PrometheusSink:
    """Expose the monitor's counters to Prometheus.

    ``registry``: where the metrics live (default: a registry of this sink's own, not the
    process-wide one); ``port``: serve ``/metrics`` on ``host:port`` from :meth:`start` (None: do not
    serve; read :attr:`registry`, e.g. with ``prometheus_client.generate_latest``)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        namespace: str = "rca_monitor",
    ):
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", namespace):
            raise MonitorError(f"PrometheusSink: namespace must be a metric name prefix, got {namespace!r}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
            raise MonitorError(f"PrometheusSink: port must be 0..65535 or None, got {port!r}")
        self.registry = registry if registry is not None else CollectorRegistry()
        self.port = port
        self.host = host
        self.namespace = namespace
        self._lock = threading.Lock()
        self._stats: dict[str, float] = {}
        self._events: Counter[str] = Counter()
        self._collector: _Collector | None = None
        self._server: Any = None

    def start(self) -> PrometheusSink:
        """Register the metrics (and serve them when a port was given); done by the first emit too."""
        with self._lock:
            if self._collector is not None:
                return self
            self._collector = _Collector(self)
        self.registry.register(self._collector)
        if self.port is not None:
            try:
                self._server, _ = start_http_server(self.port, addr=self.host, registry=self.registry)
            except OSError as exc:
                raise MonitorError(f"PrometheusSink: cannot serve on {self.host}:{self.port}: {exc}") from exc
            self.port = self._server.server_address[1]
        return self

    def emit(self, event: Mapping[str, Any]) -> None:
        self.start()
        kind = event.get("event")
        if kind == "stats":
            stats = event.get("stats")
            if not isinstance(stats, Mapping):
                raise MonitorError(
                    f"PrometheusSink: a 'stats' event needs a 'stats' mapping, got {type(stats).__name__}"
                )
            flat = flatten(stats)
            with self._lock:
                self._stats = flat
        elif kind in INCIDENT_EVENTS:
            with self._lock:
                self._events[kind] += 1

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        collector, self._collector = self._collector, None
        if collector is not None:
            self.registry.unregister(collector)
