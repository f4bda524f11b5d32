"""Event sinks of the monitor (see monitor.protocols.Sink).

- :class:`monitor.sinks.jsonl.JsonlSink`: incident events as JSON lines (a file or stdout);
- :class:`monitor.sinks.webhook.WebhookSink`: a JSON POST per incident event, from a worker thread;
- :class:`monitor.sinks.prometheus.PrometheusSink`: the ``"stats"`` counters as Prometheus metrics;
- :class:`monitor.sinks.live.LiveView`: a live terminal view (plain lines off a terminal).

Each module is imported on its own, so that a monitor pays only for the sinks it uses.
"""
