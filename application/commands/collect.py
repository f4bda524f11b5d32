"""``rca collect jaeger|files``: spans into a SpanFrame Parquet file."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from application.errors import UsageError
from collectors import JaegerClient, read_spans, write_spans
from collectors.files import combine
from core.times import optional_timestamp, to_timedelta, to_timestamp


def parse_last(text: str) -> float:
    """``15m`` -> 900.0 seconds (any duration :func:`core.to_timedelta` reads)."""
    return to_timedelta(text, "--last", error=UsageError, positive=True).total_seconds()


def time_arg(text, option: str):
    """A command-line time (Unix seconds or ISO-8601; a number in ms/µs/ns is read by the unit rule
    of :mod:`core.units`, with a warning) as a UTC Timestamp; None stays None."""
    return optional_timestamp(text, option, error=UsageError, units=True)


def window_args(start_text, end_text):
    """``--start``/``--end`` as Timestamps (None when absent); start must come before end."""
    start, end = time_arg(start_text, "--start"), time_arg(end_text, "--end")
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--start {start} must be before --end {end}")
    return start, end


def require_spans(frame, what: str, start=None, end=None) -> None:
    """UsageError when nothing was read: an empty result is never reported as a result."""
    if len(frame):
        return
    window = f" starting in [{start}, {end})" if start is not None or end is not None else ""
    skipped = frame.attrs.get("skipped", {})
    counted = f"; skipped: {', '.join(f'{k} {v}' for k, v in skipped.items())}" if skipped else ""
    raise UsageError(f"{what}: no span{window}{counted}")


def register(subparsers: argparse._SubParsersAction) -> None:
    collect = subparsers.add_parser("collect", help="collect spans into a SpanFrame Parquet file")
    sub = collect.add_subparsers(dest="collect_command", metavar="SOURCE", required=True)

    jaeger = sub.add_parser("jaeger", help="from a Jaeger Query service (classic API or api_v3)")
    jaeger.add_argument("--url", required=True, help="Jaeger query base URL, e.g. http://localhost:16686")
    jaeger.add_argument("--start", help="window start (Unix seconds or ISO time)")
    jaeger.add_argument("--end", help="window end (default: now)")
    jaeger.add_argument("--last", help="window = the last DURATION before --end/now, e.g. 15m")
    jaeger.add_argument("--service", action="append", help="only this service (repeatable; default: all)")
    jaeger.add_argument("--api", choices=("auto", "v1", "v3"), default="auto")
    jaeger.add_argument("--limit", type=int, default=1000, help="traces per query (windows split when full)")
    jaeger.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    jaeger.add_argument("-o", "--output", required=True, help="Parquet file to write")
    jaeger.set_defaults(func=_collect_jaeger)

    files = sub.add_parser("files", help="from span files or directories (format detected by content)")
    files.add_argument("paths", nargs="+")
    files.add_argument("--start", help="keep spans starting at or after this time")
    files.add_argument("--end", help="keep spans starting before this time")
    files.add_argument("-o", "--output", required=True, help="Parquet file to write")
    files.set_defaults(func=_collect_files)


def _report(frame, output) -> None:
    skipped = frame.attrs.get("skipped", {})
    services = frame["service"].nunique() if len(frame) else 0
    print(f"wrote {len(frame)} spans of {services} services to {output}")
    if skipped:
        print("skipped: " + ", ".join(f"{k} {v}" for k, v in skipped.items()))


def _collect_jaeger(args) -> int:
    end = time_arg(args.end, "--end") if args.end else to_timestamp(time.time())
    if args.last:
        if args.start:
            raise UsageError("give either --start or --last, not both")
        start = end - to_timedelta(args.last, "--last", error=UsageError, positive=True)
    elif args.start:
        start = time_arg(args.start, "--start")
    else:
        raise UsageError("give --start (and --end) or --last")
    client = JaegerClient(args.url, api=args.api, limit=args.limit, timeout=args.timeout)
    frame = client.collect(start, end, services=args.service)
    write_spans(frame, args.output)
    _report(frame, args.output)
    print(
        f"{frame.attrs.get('queries', 0)} queries; {frame.attrs.get('truncated_windows', 0)} windows still full "
        f"at the shortest width"
    )
    return 0


def _collect_files(args) -> int:
    start, end = window_args(args.start, args.end)
    frames = [read_spans(p, start, end, progress=True) for p in args.paths]
    frame = frames[0] if len(frames) == 1 else combine(frames, "; ".join(args.paths), Counter())
    require_spans(frame, "; ".join(args.paths), start, end)
    write_spans(frame, args.output)
    _report(frame, args.output)
    return 0
