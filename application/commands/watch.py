"""``rca watch``: the monitor on a live or replayed span stream; incidents out as they happen."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from application.errors import UsageError
from evaluation.runner import available_methods
from monitor import Monitor, MonitorConfig, MonitorError

CHECKPOINT_EVERY = 20
"""Buckets between two checkpoints (10 minutes of 30 s buckets)."""


def add_monitor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--monitor-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a monitor setting (repeatable), e.g. warmup=20min, min_services=2, reopen=same-services; "
        "the fields of monitor.MonitorConfig",
    )


def monitor_config(settings: list[str], methods: list[str] | None) -> MonitorConfig:
    """A :class:`monitor.MonitorConfig` from ``KEY=VALUE`` texts (numbers where the field is one;
    ``detector_params`` as a JSON object)."""
    fields = {f.name: f for f in dataclasses.fields(MonitorConfig)}
    allowed = sorted(set(fields) - {"methods"})
    values: dict[str, Any] = {"methods": tuple(methods) if methods else None}
    for text in settings:
        key, sep, value = text.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"--monitor-set {text!r}: expected KEY=VALUE with KEY one of {allowed}")
        default = fields[key].default
        if key == "detector_params":
            try:
                values[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--monitor-set {text!r}: detector_params must be a JSON object ({exc})") from exc
            if not isinstance(values[key], dict):
                raise UsageError(f"--monitor-set {text!r}: detector_params must be a JSON object")
            continue
        try:
            values[key] = type(default)(value) if isinstance(default, (int, float)) else value
        except ValueError as exc:
            raise UsageError(f"--monitor-set {text!r}: {key} must be a {type(default).__name__}") from exc
    try:
        return MonitorConfig(**values)
    except MonitorError as exc:
        raise UsageError(f"--monitor-set: {exc}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "watch",
        help="monitor a span stream (Jaeger, OTLP/HTTP or a recorded data set); incidents as JSON lines",
        description="Bucket the spans of a stream, score every series with a streaming detector, open and "
        "close incidents by themselves and rank their root cause at open and at close. No labelled time "
        "is used. Incidents go to --output (JSON lines; stdout by default), a webhook, Prometheus and a "
        "live view.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--jaeger", metavar="URL", help="poll a Jaeger Query service incrementally")
    source.add_argument("--otlp", metavar="HOST:PORT", help="receive OTLP/HTTP on HOST:PORT (POST /v1/traces)")
    source.add_argument(
        "--replay",
        metavar="DATASET",
        help="replay a recorded data set (nezha:PATH, a timeline folder, a run folder of case folders)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="--replay pace: data seconds per wall second (default 0: as fast as possible)",
    )
    p.add_argument("--interval", type=float, default=10.0, help="--jaeger: seconds between polls (default 10)")
    p.add_argument("--start", help="--jaeger: the first window's start (Unix seconds or ISO; default: now - 60 s)")
    p.add_argument("--end", help="--jaeger: stop once the spans up to END are in (default: never)")
    p.add_argument(
        "--output", "-o", default="-", metavar="FILE", help="incident events as JSON lines (default: stdout)"
    )
    p.add_argument("--stats", action="store_true", help="also write the per-bucket counters to --output")
    p.add_argument("--webhook", metavar="URL", help="POST every incident event to URL (JSON; retried with back-off)")
    p.add_argument("--prometheus", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT")
    p.add_argument("--live", action="store_true", help="a live terminal view on stderr")
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="DIR",
        help="save the monitor state to DIR every few buckets and at exit; resume from it when it exists",
    )
    p.add_argument(
        "--method",
        "-m",
        action="append",
        dest="methods",
        metavar="M",
        choices=available_methods(),
        help="ranking method(s) run at incident open and close (repeatable; default: all, the default first)",
    )
    add_monitor_options(p)
    p.set_defaults(func=run)


def _source(args: argparse.Namespace):
    if (args.start is not None or args.end is not None) and args.jaeger is None:
        raise UsageError("--start/--end apply to --jaeger only (a replay has its own time range)")
    if args.replay is not None:
        from evaluation.streams import open_stream

        if args.speed < 0:
            raise UsageError(f"--speed: must be >= 0, got {args.speed}")
        return open_stream(args.replay).batches(), None, False
    if args.jaeger is not None:
        from monitor.sources.jaeger import JaegerPoller

        poller = JaegerPoller(args.jaeger, interval_s=args.interval, start=args.start, end=args.end)
        return poller.batches(), poller, True
    from monitor.sources.otlp import OTLPReceiver

    host, sep, port = args.otlp.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--otlp: expected HOST:PORT, got {args.otlp!r}")
    receiver = OTLPReceiver(host or "127.0.0.1", int(port)).start()
    print(f"receiving OTLP/HTTP on {receiver.url}", file=sys.stderr)
    return receiver.batches(), receiver, True


def _covered_until(batch) -> float:
    """Until when (Unix seconds) a live source has delivered everything: the end of the Jaeger
    poll window (data time, which may be in the past with --start), else the wall clock (OTLP)."""
    end_us = batch.attrs.get("window_end_us")
    return end_us / 1e6 if end_us is not None else time.time()


def _sinks(args: argparse.Namespace) -> list:
    from monitor.sinks.jsonl import INCIDENT_EVENTS, JsonlSink

    events = (*INCIDENT_EVENTS, "stats") if args.stats else INCIDENT_EVENTS
    sinks: list = [JsonlSink(args.output, events=events)]
    if args.webhook:
        from monitor.sinks.webhook import WebhookSink

        sinks.append(WebhookSink(args.webhook))
    if args.prometheus is not None:
        from monitor.sinks.prometheus import PrometheusSink

        sinks.append(PrometheusSink(port=args.prometheus).start())
        print(f"Prometheus metrics on http://127.0.0.1:{args.prometheus}/metrics", file=sys.stderr)
    if args.live:
        from rich.console import Console

        from monitor.sinks.live import LiveView

        sinks.append(LiveView(Console(stderr=True)))
    return sinks


def run(args: argparse.Namespace) -> int:
    config = monitor_config(args.monitor_set, args.methods)
    resumed = args.checkpoint is not None and (args.checkpoint / "CURRENT").is_file()
    if resumed:
        monitor = Monitor.load(args.checkpoint)
        if args.monitor_set or args.methods:
            print(
                "note: resuming from the checkpoint keeps its own settings; --monitor-set/--method ignored",
                file=sys.stderr,
            )
        print(f"resumed from {args.checkpoint} ({monitor.stats.buckets} buckets so far)", file=sys.stderr)
    else:
        monitor = Monitor(config)
    batches, closable, live = _source(args)
    sinks = _sinks(args)
    started = time.monotonic()
    first_data_s: float | None = None
    last_saved = monitor.stats.buckets

    def emit(events):
        for event in events:
            for sink in sinks:
                sink.emit(event)

    try:
        for batch in batches:
            if len(batch) and args.replay is not None and args.speed > 0:
                newest_s = float(batch["start_us"].max()) / 1e6
                first_data_s = newest_s if first_data_s is None else first_data_s
                wait = (newest_s - first_data_s) / args.speed - (time.monotonic() - started)
                if wait > 0:
                    time.sleep(wait)
            emit(monitor.ingest(batch) if len(batch) else [])
            if live:
                emit(monitor.tick(_covered_until(batch)))
            if args.checkpoint is not None and monitor.stats.buckets - last_saved >= CHECKPOINT_EVERY:
                monitor.save(args.checkpoint)
                last_saved = monitor.stats.buckets
        emit(monitor.flush())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if args.checkpoint is not None:
            monitor.save(args.checkpoint)
            print(f"state saved to {args.checkpoint}; run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if closable is not None:
            closable.close()
        for sink in sinks:
            sink.close()
    if args.checkpoint is not None:
        monitor.save(args.checkpoint)
    s = monitor.stats
    print(
        f"{s.spans} spans, {s.buckets} buckets ({s.gaps} collection gaps), {len(monitor.series)} series, "
        f"{s.incidents} incident(s), {s.late_spans} late and {s.duplicate_spans} duplicate span(s); "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0
