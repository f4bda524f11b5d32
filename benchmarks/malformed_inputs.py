"""Malformed inputs through every reader, command and public API, each outcome classified.

Usage::

    python benchmarks/malformed_inputs.py                 # the tally and every non-correct case
    python benchmarks/malformed_inputs.py --only jaeger   # cases whose name contains "jaeger"
    python benchmarks/malformed_inputs.py --json out.json --show all

Every case builds its input in a fresh temporary folder, runs one reader, command or call, and
is put in one of the outcomes of issue 15:

- ``error``: a ``core.FrameworkError`` (for a command: exit status 1 and one ``error:`` line)
  whose message names what the case says it must name (the field, the value or the file);
- ``vague``: such an error that does not name them;
- ``traceback``: any other exception, or no answer within ``--timeout`` seconds (a hang);
- ``silent_wrong``: a result that the case's oracle finds wrong (spans dated outside the input's
  years, records neither kept nor counted as skipped, a run that read nothing and did not say so,
  a false edge from a parent cycle, ...);
- ``correct``: a result the oracle accepts (for a record that cannot be kept: dropped *and*
  counted by reason; for a time in another unit: converted *and* noted).

The inputs are data (the tables below); the classification is generic, so new inputs can be
added without touching it. Runs offline; needs no ``../shared``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import math
import signal
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np
import pandas as pd

from core.errors import FrameworkError

T0 = 1661142963  # 2022-08-22 04:36:03 UTC, the inputs' time
YEARS = (2000, 2100)  # every span of every input starts in these years unless corrupted


@dataclass
class Case:
    name: str
    run: Callable[[Path], Any]
    check: Callable[[Any], str | None] = lambda result: None
    names: tuple[str, ...] = ()  # words a clear error message must hold (case-insensitive)


CASES: list[Case] = []


def case(name: str, run, check=None, names: tuple[str, ...] = ()) -> None:
    CASES.append(Case(name, run, check or (lambda r: None), names))


# ---------------------------------------------------------------- span files of every format
#
# Three spans of one trace: a (frontend server, root) -> b (frontend client) -> c (cart server).
# A corruption changes fields of span b; the oracle knows what must become of it.

BASE = [
    {"trace": "4bf92f3577b34da6a3ce929d0e0e4736", "span": "00f067aa0ba902b1", "parent": None, "service": "frontend",
     "op": "GET /cart", "start": T0, "dur": 0.020, "kind": "server", "status": "ok", "pod": "frontend-5c-x1"},
    {"trace": "4bf92f3577b34da6a3ce929d0e0e4736", "span": "00f067aa0ba902b2", "parent": "00f067aa0ba902b1",
     "service": "frontend", "op": "hipstershop.CartService/GetCart", "start": T0 + 0.001, "dur": 0.010,
     "kind": "client", "status": "ok", "pod": "frontend-5c-x1"},
    {"trace": "4bf92f3577b34da6a3ce929d0e0e4736", "span": "00f067aa0ba902b3", "parent": "00f067aa0ba902b2",
     "service": "cartservice", "op": "hipstershop.CartService/GetCart", "start": T0 + 0.002, "dur": 0.008,
     "kind": "server", "status": "ok", "pod": "cartservice-6d-y2"},
]  # fmt: skip

# native time units of each format: (start factor per second, duration factor per second)
UNITS = {
    "jaeger": (1e6, 1e6),
    "jsonl": (1e6, 1e6),
    "otlp": (1e9, 1e9),
    "rcaeval": (1e6, 1e6),
    "nezha": (1e9, 1e6),
    "parquet": (1e6, 1e6),
}


class Raw:
    """A value written as it is into the file (not scaled to the format's unit)."""

    def __init__(self, value):
        self.value = value


def _native(value, factor):
    if isinstance(value, Raw):
        return value.value
    return round(value * factor)


def _json_number(value):
    return value


def write_jaeger(records, path: Path, lines: bool = False) -> None:
    fs, fd = UNITS["jaeger"]
    spans, processes = [], {}
    for r in records:
        pid = "p-" + str(r["service"])
        processes[pid] = {"serviceName": r["service"], "tags": [{"key": "hostname", "value": r["pod"]}]}
        tags = [{"key": "span.kind", "type": "string", "value": r["kind"]}]
        tags.append({"key": "otel.status_code", "type": "string", "value": str(r["status"]).upper()})
        spans.append(
            {
                "traceID": r["trace"],
                "spanID": r["span"],
                "operationName": r["op"],
                "references": [] if r["parent"] is None else [{"refType": "CHILD_OF", "spanID": r["parent"]}],
                "startTime": _native(r["start"], fs),
                "duration": _native(r["dur"], fd),
                "tags": tags,
                "processID": pid,
            }
        )
    trace = {"traceID": records[0]["trace"], "spans": spans, "processes": processes}
    if lines:
        path.write_text(json.dumps(trace) + "\n" + json.dumps({"traceID": "x", "spans": [], "processes": {}}) + "\n")
    else:
        path.write_text(json.dumps({"data": [trace]}))


def write_otlp(records, path: Path) -> None:
    fs, _ = UNITS["otlp"]
    resources: dict[str, list] = {}
    for r in records:
        start = _native(r["start"], fs)
        if isinstance(r["dur"], Raw):
            end = r["dur"].value
        elif isinstance(start, (int, float)) and not isinstance(start, bool) and math.isfinite(start):
            end = int(start + round(r["dur"] * 1e9))
        else:
            end = start
        kinds = {"server": 2, "client": 3, "internal": 1}
        resources.setdefault(r["service"], []).append(
            {
                "traceId": r["trace"],
                "spanId": r["span"],
                "parentSpanId": r["parent"] or "",
                "name": r["op"],
                "kind": kinds.get(r["kind"], 0),
                "startTimeUnixNano": str(start) if isinstance(start, int) else start,
                "endTimeUnixNano": str(end) if isinstance(end, int) else end,
                "status": {"code": {"ok": 1, "error": 2}.get(r["status"], r["status"])},
            }
        )
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": spans}],
            }
            for service, spans in resources.items()
        ]
    }
    path.write_text(json.dumps(doc))


def _csv_value(value) -> str:
    if value is None:
        return ""
    return str(value)


def write_rcaeval(records, path: Path) -> None:
    fs, fd = UNITS["rcaeval"]
    lines = ["traceID,spanID,parentSpanID,serviceName,operationName,methodName,startTime,duration,statusCode"]
    codes = {"ok": 200, "error": 500}
    for r in records:
        fields = [
            r["trace"],
            r["span"],
            r["parent"] or "",
            r["service"],
            r["op"],
            "GET",
            _native(r["start"], fs),
            _native(r["dur"], fd),
            codes.get(r["status"], r["status"]),
        ]
        lines.append(",".join(_csv_value(f) for f in fields))
    path.write_text("\n".join(lines) + "\n")


def write_nezha(records, path: Path) -> None:
    fs, fd = UNITS["nezha"]
    lines = ["TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"]
    for r in records:
        start = _native(r["start"], fs)
        dur = _native(r["dur"], fd)
        end = start + dur * 1000 if all(isinstance(v, int) for v in (start, dur)) else start
        fields = [r["trace"], r["span"], r["parent"] or "root", r["pod"], r["op"], start, end, dur]
        lines.append(",".join(_csv_value(f) for f in fields))
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def write_parquet(records, path: Path) -> None:
    fs, fd = UNITS["parquet"]
    frame = pd.DataFrame(
        {
            "trace_id": [r["trace"] for r in records],
            "span_id": [r["span"] for r in records],
            "parent_id": [r["parent"] for r in records],
            "service": [r["service"] for r in records],
            "operation": [r["op"] for r in records],
            "start_us": [_native(r["start"], fs) for r in records],
            "duration_us": [_native(r["dur"], fd) for r in records],
            "kind": [r["kind"] for r in records],
            "status": [r["status"] for r in records],
            "pod": [r["pod"] for r in records],
        }
    )
    for column in ("start_us", "duration_us"):
        if frame[column].dtype == object:
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                frame[column] = frame[column].astype(float)
    if frame["start_us"].dtype == object or frame["duration_us"].dtype == object:
        frame["start_us"] = frame["start_us"].astype(str)
        frame["duration_us"] = frame["duration_us"].astype(str)
    frame.to_parquet(path, index=False)


WRITERS = {
    "jaeger": ("spans.json", write_jaeger),
    "jsonl": ("spans.jsonl", lambda rec, p: write_jaeger(rec, p, lines=True)),
    "otlp": ("otlp.json", write_otlp),
    "rcaeval": ("traces.csv", write_rcaeval),
    "nezha": ("04_37_trace.csv.gz", write_nezha),
    "parquet": ("spans.parquet", write_parquet),
}


def _spans_years(frame) -> str | None:
    starts = pd.to_datetime(frame["start_us"].to_numpy(), unit="us", utc=True)
    bad = (starts.year < YEARS[0]) | (starts.year > YEARS[1])
    if bad.any():
        return f"span dated {starts[bad][0]} (the input's spans are from 2022)"
    durations = frame["duration_us"].to_numpy()
    if len(durations) and (durations.max() > 86400e6 or durations.min() < 0):
        return f"duration of {durations.max() / 86400e6:.1f} days kept"
    return None


def _accounted(frame, n_records: int) -> str | None:
    skipped = dict(frame.attrs.get("skipped", {}))
    lost = n_records - len(frame)
    counted = sum(v for k, v in skipped.items() if k not in ("not_span_file",))
    if lost > counted:
        return f"{lost} record(s) dropped but only {counted} counted as skipped ({skipped})"
    return None


def _b_present(frame) -> bool:
    return bool((frame["span_id"].astype(str) == BASE[1]["span"]).any())


def _noted(frame) -> bool:
    return bool(frame.attrs.get("converted"))


def oracle(kind: str) -> Callable[[Any], str | None]:
    """What a reader must do with span b: ``keep`` it, ``drop`` it (counted), ``convert`` its unit
    (noted) or drop it counted, ``acyclic`` (no parent cycle survives), ``status`` (an unknown status
    is not taken for ok/unset silently)."""

    def check(frame) -> str | None:
        if not isinstance(frame, pd.DataFrame):
            return f"returned {type(frame).__name__}, not a SpanFrame"
        problem = _spans_years(frame) or _accounted(frame, len(BASE))
        if problem:
            return problem
        present = _b_present(frame)
        if kind == "keep":
            return None if len(frame) == len(BASE) else f"{len(BASE) - len(frame)} valid span(s) lost"
        if kind == "drop":
            return "the malformed span was kept" if present else None
        if kind == "convert":
            if present and not _noted(frame):
                return "a time in another unit was kept without a note of the conversion"
            return None
        if kind == "status":
            if present:
                row = frame[frame["span_id"].astype(str) == BASE[1]["span"]].iloc[0]
                return f"an unknown status word was read as {row['status']!r} without a count"
            return None
        if kind == "acyclic":
            from collectors.keys import parent_positions

            parent = parent_positions(frame)
            for i in range(len(frame)):
                seen, j = set(), i
                while j >= 0:
                    if j in seen:
                        return "a parent cycle was kept (it makes a false edge)"
                    seen.add(j)
                    j = int(parent[j])
            return None
        raise ValueError(kind)

    return check


def corrupted(**changes) -> list[dict]:
    records = [dict(r) for r in BASE]
    records[1].update(changes)
    return records


NAN, INF = float("nan"), float("inf")
SPAN_CORRUPTIONS: dict[str, tuple[dict, str, tuple[str, ...]]] = {
    "control": ({}, "keep", ()),
    "start_nan": ({"start": Raw(NAN)}, "drop", ("start",)),
    "start_inf": ({"start": Raw(INF)}, "drop", ("start",)),
    "start_text": ({"start": Raw("yesterday")}, "drop", ("start",)),
    "start_negative": ({"start": -T0}, "drop", ("start",)),
    "start_1e30": ({"start": Raw(1e30)}, "drop", ("start",)),
    "start_int64_overflow": ({"start": Raw(2**70)}, "drop", ("start",)),
    "start_in_seconds": ({"start": Raw(T0)}, "convert", ("start",)),
    "start_in_ms": ({"start": Raw(T0 * 1000)}, "convert", ("start",)),
    "start_in_us": ({"start": Raw(T0 * 10**6)}, "convert", ("start",)),
    "start_in_ns": ({"start": Raw(T0 * 10**9)}, "convert", ("start",)),
    "dur_nan": ({"dur": Raw(NAN)}, "drop", ("duration",)),
    "dur_inf": ({"dur": Raw(INF)}, "drop", ("duration",)),
    "dur_text": ({"dur": Raw("ten")}, "drop", ("duration",)),
    "dur_negative": ({"dur": -0.01}, "drop", ("duration",)),
    "dur_400_days": ({"dur": 400 * 86400.0}, "drop", ("duration",)),
    "dur_1e30": ({"dur": Raw(1e30)}, "drop", ("duration",)),
    "dur_int64_overflow": ({"dur": Raw(2**70)}, "drop", ("duration",)),
    "span_id_empty": ({"span": ""}, "drop", ("span",)),
    "span_id_zero": ({"span": "0000000000000000"}, "drop", ("span",)),
    "trace_id_zero": ({"trace": "00000000000000000000000000000000"}, "drop", ("trace",)),
    "service_empty": ({"service": "", "pod": ""}, "drop", ("service",)),
    "status_unknown": ({"status": "weird"}, "status", ("status",)),
    "self_parent": ({"parent": BASE[1]["span"]}, "acyclic", ("parent",)),
}


def _span_case(fmt: str, label: str, records, kind: str, names: tuple[str, ...]) -> None:
    filename, writer = WRITERS[fmt]

    def run(tmp: Path):
        from collectors import read_spans

        path = tmp / filename
        writer(records, path)
        return read_spans(path)

    case(f"read {fmt} {label}", run, oracle(kind), names)


for _fmt in WRITERS:
    for _label, (_changes, _kind, _names) in SPAN_CORRUPTIONS.items():
        if _label == "trace_id_zero" and _fmt not in ("otlp",):
            continue
        if _label == "span_id_zero" and _fmt not in ("otlp",):
            continue
        if _label == "status_unknown" and _fmt in ("nezha",):
            continue  # the Nezha CSVs have no status column
        if _label == "service_empty" and _fmt == "nezha":
            continue
        _native_unit = {1e6: "us", 1e9: "ns"}[UNITS[_fmt][0]]
        if _label == f"start_in_{_native_unit}":
            _kind = "keep"  # the documented unit: kept as it is, with no note
        _span_case(_fmt, _label, corrupted(**_changes), _kind, _names)
    _cycle = [dict(r) for r in BASE]
    _cycle[0]["parent"] = BASE[2]["span"]
    _span_case(_fmt, "parent_cycle", _cycle, "acyclic", ("parent",))


def _file_case(name: str, filename: str, content: bytes, names: tuple[str, ...] = ()) -> None:
    """A file no reader can take a span from: a clear error is the only right answer."""

    def run(tmp: Path):
        from collectors import read_spans

        path = tmp / filename
        path.write_bytes(content)
        return read_spans(path)

    def check(frame) -> str | None:
        if isinstance(frame, pd.DataFrame) and len(frame) == 0:
            skipped = frame.attrs.get("skipped", {})
            return f"read nothing and said so only in attrs ({skipped or 'no count'}), not as an error"
        return "returned spans from a file that holds none"

    case(name, run, check, names)


_DEEP = b"[" * 100_000 + b"]" * 100_000
for _name, _file, _content, _names in [
    ("read empty file", "a.json", b"", ("empty",)),
    ("read whitespace file", "a.json", b"   \n\n  ", ("empty",)),
    ("read jaeger no traces", "a.json", b'{"data": []}', ("no span",)),
    ("read jaeger data null", "a.json", b'{"data": null}', ("no span",)),
    ("read jaeger deep nesting", "a.json", _DEEP, ("nest",)),
    ("read jaeger deep nesting in data", "a.json", b'{"data": ' + _DEEP + b"}", ("nest",)),
    ("read json truncated", "a.json", b'{"data": [{"traceID": "a", "spans": [', ("json",)),
    ("read json not utf8", "a.json", b'{"data": [\xff\xfe]}', ()),
    ("read json a number", "a.json", b"12345", ()),
    ("read json a string", "a.json", b'"hello"', ()),
    ("read jsonl all broken", "a.jsonl", b"{bad\n{worse\n", ("json",)),
    ("read otlp no spans", "a.json", b'{"resourceSpans": []}', ("no span",)),
    ("read otlp resourceSpans not a list", "a.json", b'{"resourceSpans": 5}', ()),
    ("read csv header only rcaeval", "traces.csv",
     b"traceID,spanID,parentSpanID,serviceName,operationName,methodName,startTime,duration\n", ("no span",)),
    ("read csv header only nezha", "00_01_trace.csv",
     b"TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n", ("no span",)),
    ("read csv missing one column", "traces.csv",
     b"traceID,spanID,parentSpanID,serviceName,operationName,startTime\nt,a,,s,op,1\n", ("duration",)),
    ("read csv nezha missing one column", "00_01_trace.csv",
     b"TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano\nt,a,root,p-a-b,op,1,2\n",
     ("duration",)),
    ("read gzip truncated", "00_01_trace.csv.gz", gzip.compress(b"TraceID,SpanID\n" * 1000)[:40], ()),
    ("read gzip not gzip", "x.json.gz", b"not gzip at all", ()),
    ("read parquet truncated", "x.parquet", b"PAR1\x00\x00garbage", ("parquet",)),
    ("read binary noise", "x.bin", bytes(range(256)) * 10, ()),
    ("read nul bytes", "x.json", b"\x00" * 1000, ()),
]:  # fmt: skip
    _file_case(_name, _file, _content, _names)


def _parquet_missing_column(tmp: Path):
    from collectors import read_spans

    path = tmp / "x.parquet"
    pd.DataFrame({"trace_id": ["a"], "span_id": ["b"], "start_us": [1]}).to_parquet(path)
    return read_spans(path)


case(
    "read parquet missing columns", _parquet_missing_column, lambda r: "read a frame without span columns", ("service",)
)


def _api(fn: Callable[[], Any]) -> Callable[[Path], Any]:
    return lambda tmp: fn()


def _must_fail(result) -> str:
    return f"accepted; returned {type(result).__name__}"


def _read_spans_arg(path_fn, **kwargs):
    def run(tmp: Path):
        from collectors import read_spans

        p = tmp / "s.json"
        write_jaeger(BASE, p)
        return read_spans(path_fn(tmp, p), **kwargs)

    return run


case("read_spans(123)", _api(lambda: __import__("collectors").read_spans(123)), _must_fail, ("123",))
case("read_spans(None)", _api(lambda: __import__("collectors").read_spans(None)), _must_fail, ("none",))
case("read_spans(missing path)", _read_spans_arg(lambda t, p: t / "nope.json"), _must_fail, ("nope.json",))
case("read_spans(empty dir)", _read_spans_arg(lambda t, p: (t / "d").mkdir() or t / "d"), _must_fail, ())
for _label, _kw, _names in [
    ("start nan", {"start": "nan"}, ("start",)),
    ("start inf", {"start": float("inf")}, ("start",)),
    ("start word", {"start": "soon"}, ("start",)),
    ("start after end", {"start": T0 + 100, "end": T0}, ("start", "end")),
    ("start equal end", {"start": T0, "end": T0}, ("start", "end")),
    ("end bool", {"end": True}, ("end",)),
]:
    case(f"read_spans {_label}", _read_spans_arg(lambda t, p: p, **_kw), _must_fail, _names)


def _ms_window(tmp: Path):
    from collectors import read_spans

    p = tmp / "s.json"
    write_jaeger(BASE, p)
    return read_spans(p, start=T0 * 1000 - 5000, end=T0 * 1000 + 5000)


def _window_ok(frame) -> str | None:
    if not isinstance(frame, pd.DataFrame) or len(frame) != len(BASE):
        return "the window in milliseconds did not select the spans"
    return None


case("read_spans window in ms", _ms_window, _window_ok, ("start",))


def _dir_of_junk(tmp: Path):
    from collectors import read_spans

    d = tmp / "d"
    d.mkdir()
    (d / "a.txt").write_text("hello")
    (d / "b.csv").write_text("x,y\n1,2\n")
    return read_spans(d)


case("read_spans dir of non-span files", _dir_of_junk, _must_fail, ("span file",))


def _make_spanframe(data):
    from collectors import make_spanframe

    return make_spanframe(data)


case("make_spanframe(list)", _api(lambda: _make_spanframe([1, 2])), _must_fail, ("dataframe",))
case(
    "make_spanframe missing column",
    _api(lambda: _make_spanframe(pd.DataFrame({"trace_id": ["a"], "span_id": ["b"]}))),
    _must_fail,
    ("service",),
)


# ---------------------------------------------------------------- a synthetic case for rca and the CLI


def synthetic_spans(t0: float = T0, minutes: int = 13, slow_after: float | None = None, seed: int = 0):
    """A SpanFrame of frontend -> cart -> redis, one request a second, cart slow after ``slow_after``."""
    from collectors import make_spanframe

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(minutes * 60):
        start = t0 + i
        slow = slow_after is not None and start >= slow_after
        db = 2e-3 * (1 + 0.1 * rng.standard_normal())
        cart = db + (0.05 if slow else 3e-3) * (1 + 0.1 * rng.standard_normal())
        front = cart + 4e-3 * (1 + 0.1 * rng.standard_normal())
        trace = f"{i:032x}"
        for span, parent, service, op, kind, offset, dur in [
            ("1", None, "frontend", "GET /", "server", 0.0, front + 1e-3),
            ("2", "1", "frontend", "CartService/Get", "client", 5e-4, cart + 2e-4),
            ("3", "2", "cartservice", "CartService/Get", "server", 6e-4, cart),
            ("4", "3", "cartservice", "redis GET", "client", 7e-4, db + 1e-4),
            ("5", "4", "redis", "GET", "server", 8e-4, db),
        ]:
            rows.append(
                (
                    trace,
                    f"{i:012x}{int(span):04x}",
                    None if parent is None else f"{i:012x}{int(parent):04x}",
                    service,
                    op,
                    int((start + offset) * 1e6),
                    int(dur * 1e6),
                    kind,
                    "ok",
                    service + "-a-b",
                )
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "trace_id",
            "span_id",
            "parent_id",
            "service",
            "operation",
            "start_us",
            "duration_us",
            "kind",
            "status",
            "pod",
        ],
    )
    return make_spanframe(frame, source="synthetic")


INJECT = T0 + 10 * 60


def _localize(**kwargs):
    def run(tmp: Path):
        import rca

        spans = kwargs.pop("spans", None)
        if spans is None:
            spans = synthetic_spans(slow_after=INJECT)
        return rca.localize(spans, kwargs.pop("inject_time", INJECT), **kwargs)

    return run


def _ranked_cart(result) -> str | None:
    top = result.ranking.candidates[0].service if result.ranking.candidates else None
    return None if top == "cartservice" else f"top candidate {top!r}, not the slowed cartservice"


def _localize_check(result) -> str | None:
    cands = result.ranking.candidates
    if cands and all(c.score == 0 for c in cands):
        return "every candidate scored 0 (alphabetical order) without an error"
    return None


case("localize control", _localize(), _ranked_cart)
for _label, _kw, _names in [
    ("bucket garbage", {"detection": "make:bucket=garbage"}, ("bucket", "garbage")),
    ("train_window negative", {"detection": "make:train_window=-10min"}, ("train_window",)),
    ("train_window zero", {"detection": "make:train_window=0"}, ("train_window",)),
    ("q=-5", {"detection": "make:params=q:-5"}, ("q", "-5")),
    ("misspelt detector param", {"detection": "make:params=smoothin:1"}, ("smoothin",)),
    ("unknown detector", {"detector": "no-such-detector"}, ("no-such-detector",)),
    ("misspelt method param", {"method": "config:pagerank:alhpa"}, ("alhpa",)),
    ("unknown method", {"method": "pagerankk"}, ("pagerankk",)),
    ("inject 1h late (time zone)", {"inject_time": INJECT + 3600}, ("inject",)),
    ("inject 2h early", {"inject_time": INJECT - 7200}, ("inject",)),
    ("inject a year late", {"inject_time": INJECT + 365 * 86400}, ("inject",)),
    ("inject at the first span", {"inject_time": T0}, ("train",)),
    ("inject in ms", {"inject_time": INJECT * 1000}, ("inject",)),
    ("inject nan", {"inject_time": float("nan")}, ("inject",)),
    ("inject word", {"inject_time": "noon"}, ("inject",)),
    ("inject None", {"inject_time": None}, ("inject",)),
    ("end before inject", {"end_time": INJECT - 60}, ("end",)),
    ("end equal inject", {"end_time": INJECT}, ("end",)),
    ("spans not a frame", {"spans": [1, 2, 3]}, ("spans",)),
    ("spans empty", {"spans": "empty"}, ("spans",)),
    ("spans service NaN", {"spans": "nan-service"}, ("service",)),
    ("spans missing column", {"spans": "no-duration"}, ("duration_us",)),
    ("spans start_us float text", {"spans": "text-start"}, ("start_us",)),
]:

    def _run(tmp: Path, kw=_kw):
        import rca

        kw = dict(kw)
        spans = kw.pop("spans", None)
        base = synthetic_spans(slow_after=INJECT)
        if spans == "empty":
            spans = base.iloc[:0]
        elif spans == "nan-service":
            spans = base.copy()
            spans["service"] = spans["service"].astype(object)
            spans.loc[5:10, "service"] = np.nan
        elif spans == "no-duration":
            spans = base.drop(columns="duration_us")
        elif spans == "text-start":
            spans = base.copy()
            spans["start_us"] = spans["start_us"].astype(str)
        elif spans is None:
            spans = base
        detection = kw.pop("detection", None)
        if isinstance(detection, str):
            key, _, value = detection.removeprefix("make:").partition("=")
            if key == "params":
                name, _, v = value.partition(":")
                kw["detection"] = rca.DetectionConfig(params={**rca.SHORT_WINDOW_FLUXEV, name: float(v)})
            else:
                kw["detection"] = rca.DetectionConfig(**{key: value})
        method = kw.pop("method", None)
        if isinstance(method, str) and method.startswith("config:"):
            _, name, param = method.split(":")
            kw["method"] = rca.RankingConfig(name, {param: 0.5})
        elif method is not None:
            kw["method"] = method
        inject = kw.pop("inject_time", INJECT)
        return rca.localize(spans, inject, **kw)

    case(f"localize {_label}", _run, _localize_check if "inject" in _label else _must_fail, _names)


def _localize_config(**fields):
    def run(tmp: Path):
        import rca

        return rca.localize(synthetic_spans(slow_after=INJECT), INJECT, detection=rca.DetectionConfig(**fields))

    return run


case("localize unknown edge metric", _localize_config(edge_metrics=["nope"]), _must_fail, ("nope",))
case("localize min_train 10**9", _localize_config(min_train=10**9), _localize_check, ("min_train",))
case("localize bucket 1 day", _localize_config(bucket="1d"), _localize_check, ("bucket",))
case("localize bucket 1ns", _localize_config(bucket="1ns"), _must_fail, ("bucket",))
case("localize end 30 years late", _localize(end_time=INJECT + 10**9), _ranked_cart)


def _rank_kwarg(tmp: Path):
    import rca

    result = rca.localize(synthetic_spans(slow_after=INJECT), INJECT)
    return rca.rank(result.graph, result.evidence, "pagerank", alhpa=0.5)


case("rank misspelt kwarg", _rank_kwarg, _must_fail, ("alhpa",))


# ---------------------------------------------------------------- FluxEV


def _fluxev(fn):
    def run(tmp: Path):
        from fluxev import FluxEV

        return fn(FluxEV)

    return run


def _finite_result(outcome) -> str | None:
    result, warned = outcome
    score = np.asarray(result.score, dtype=float)
    threshold = np.asarray(result.threshold, dtype=float)
    if not np.isfinite(score).all():
        return "NaN/inf scores returned"
    if np.isinf(threshold).any() and not warned:
        return "an infinite threshold returned without a word"
    return None


def _fit_detect(train, test, **params):
    def fn(cls):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = cls(**params).fit(train).detect(test)
        warned = any("threshold" in str(w.message).lower() or "constant" in str(w.message).lower() for w in caught)
        return result, warned

    return fn


_RNG = np.random.default_rng(1)
_NORMAL = _RNG.normal(10, 1, 200)
case("fluxev control", _fluxev(_fit_detect(_NORMAL[:150], _NORMAL[150:], s=5, smoothing=1)), _finite_result)
case("FluxEV(smoothin=1)", _fluxev(lambda cls: cls(smoothin=1)), _must_fail, ("smoothin", "smoothing"))
case("FluxEV(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)", _fluxev(lambda cls: cls(*range(11))), _must_fail, ())
for _label, _params, _names in [
    ("s=0", {"s": 0}, ("s",)),
    ("s=2.5", {"s": 2.5}, ("s",)),
    ("q=-5", {"q": -5}, ("q",)),
    ("q=nan", {"q": float("nan")}, ("q",)),
    ("level=1.5", {"level": 1.5}, ("level",)),
    ("alpha=0", {"alpha": 0}, ("alpha",)),
    ("smoothing=3", {"smoothing": 3}, ("smoothing",)),
    ("estimator=foo", {"estimator": "foo"}, ("estimator",)),
    ("period=-1", {"period": -1}, ("period",)),
    ("period=1 h=2", {"period": 1, "h": 2}, ("period",)),
]:
    case(f"FluxEV({_label}).fit", _fluxev(lambda cls, p=_params: cls(**p).fit(_NORMAL)), _must_fail, _names)
case(
    "fluxev constant training",
    _fluxev(_fit_detect(np.full(100, 3.0), _NORMAL[:20], s=5, smoothing=1)),
    _finite_result,
    ("constant",),
)
case(
    "fluxev values 1e308",
    _fluxev(_fit_detect(_NORMAL[:150] * 1e307, _NORMAL[150:] * 1e307, s=5, smoothing=1)),
    _finite_result,
    ("1e",),
)
case(
    "fluxev values -1e308",
    _fluxev(_fit_detect(-_NORMAL[:150] * 1e307, _NORMAL[150:] * 1e307, s=5, smoothing=1)),
    _finite_result,
    ("1e",),
)
case(
    "fluxev train NaN",
    _fluxev(_fit_detect(np.r_[_NORMAL[:50], np.nan, _NORMAL[:50]], _NORMAL[:5], s=5)),
    _must_fail,
    ("nan",),
)
case("fluxev train text", _fluxev(lambda cls: cls().fit(["a"] * 100)), _must_fail, ("numeric",))
case("fluxev train 2-D", _fluxev(lambda cls: cls().fit(np.ones((50, 2)))), _must_fail, ("1-d",))
case("fluxev detect before fit", _fluxev(lambda cls: cls().detect(_NORMAL)), _must_fail, ("fit",))
case(
    "fluxev update nan",
    _fluxev(lambda cls: cls(s=5, smoothing=1).fit(_NORMAL).update(float("nan"))),
    _must_fail,
    ("finite",),
)
case("fluxev update text", _fluxev(lambda cls: cls(s=5, smoothing=1).fit(_NORMAL).update("x")), _must_fail, ("x",))
case(
    "fluxev update 1e308",
    _fluxev(lambda cls: cls(s=5, smoothing=1).fit(_NORMAL).update(1e308)),
    lambda r: None if np.isfinite(r.score) else "NaN/inf score returned",
    ("1e",),
)
case("fluxev train too short", _fluxev(lambda cls: cls().fit(_NORMAL[:5])), _must_fail, ("train",))
case("fluxev from_state garbage", _fluxev(lambda cls: cls.from_state({"params": 5})), _must_fail, ("state",))


# ---------------------------------------------------------------- the command line


@dataclass
class CLIResult:
    code: int
    out: str
    err: str
    files: dict[str, Path] = field(default_factory=dict)


class CLIFailure(FrameworkError):
    """A command that exited 1 with one error line: the CLI's form of a clear error."""


def cli(argv_fn: Callable[[Path], list[str]]):
    def run(tmp: Path):
        from application.cli import main

        argv = argv_fn(tmp)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse refusing an argument: a clear error of its own
                code = exc.code if isinstance(exc.code, int) else 2
        result = CLIResult(code, out.getvalue(), err.getvalue())
        if code != 0:
            lines = [line for line in result.err.splitlines() if "error" in line]
            raise CLIFailure(lines[-1] if lines else f"exit {code}: {result.err.strip()[-300:]}")
        return result

    return run


def _cli_ok(result) -> str | None:
    return None


def _cli_must_fail(result) -> str:
    return f"exit 0: {(result.out + result.err).strip()[-200:]!r}"


def _spans_file(tmp: Path, records=None) -> str:
    path = tmp / "spans.json"
    write_jaeger(records or BASE, path)
    return str(path)


def _says_nothing_read(result) -> str | None:
    text = (result.out + result.err).lower()
    if "no span" in text or "nothing" in text:
        return None
    return "read no span and did not say so"


case("rca graph control", cli(lambda t: ["graph", _spans_file(t)]), _cli_ok)
for _label, _extra, _check, _names in [
    ("--start nan", ["--start", "nan"], _cli_must_fail, ("--start",)),
    ("--start inf", ["--start", "inf"], _cli_must_fail, ("--start",)),
    ("--start -inf", ["--start=-inf"], _cli_must_fail, ("--start",)),
    ("--start word", ["--start", "tomorrow-ish"], _cli_must_fail, ("--start",)),
    ("--start in ms", ["--start", str(T0 * 1000 - 10_000)], None, ("--start",)),
    ("--end in ns", ["--end", str((T0 + 10) * 10**9)], None, ("--end",)),
    ("--start after --end", ["--start", str(T0 + 100), "--end", str(T0)], _cli_must_fail, ("--start", "--end")),
    ("window with no span", ["--start", str(T0 + 1000), "--end", str(T0 + 2000)], _says_nothing_read, ()),
    ("--dot into missing folder", ["--dot", "{tmp}/no/dir/g.dot"], _cli_must_fail, ("g.dot",)),
    ("--png into missing folder", ["--png", "{tmp}/no/dir/g.png"], _cli_must_fail, ("g.png",)),
    ("--callee-map without =", ["--callee-map", "redis"], _cli_must_fail, ("--callee-map",)),
]:

    def _graph_check(r, c=_check, label=_label):
        if c is not None:
            return c(r)
        return None if f"{len(BASE)} spans" in r.out else "the window in another unit did not select the spans"

    case(
        f"rca graph {_label}",
        cli(lambda t, e=_extra: ["graph", _spans_file(t), *(x.format(tmp=t) for x in e)]),
        _graph_check,
        _names,
    )


def _empty_spans_file(tmp: Path) -> str:
    path = tmp / "empty.json"
    path.write_text('{"data": []}')
    return str(path)


case("rca graph empty trace list", cli(lambda t: ["graph", _empty_spans_file(t)]), _says_nothing_read)
case("rca graph missing file", cli(lambda t: ["graph", str(t / "nope.json")]), _cli_must_fail, ("nope.json",))
case(
    "rca collect files out into missing folder",
    cli(lambda t: ["collect", "files", _spans_file(t), "-o", str(t / "no" / "dir" / "x.parquet")]),
    _cli_must_fail,
    ("x.parquet",),
)
case(
    "rca collect files empty",
    cli(lambda t: ["collect", "files", _empty_spans_file(t), "-o", str(t / "x.parquet")]),
    _says_nothing_read,
)


for _label, _extra, _names in [
    ("--timeout -1", ["--timeout", "-1"], ("timeout",)),
    ("--url garbage", ["--url", "garbage"], ("url",)),
    ("--limit 0", ["--limit", "0"], ("limit",)),
    ("--last forever", ["--last", "forever"], ("--last",)),
]:
    case(
        f"rca collect jaeger {_label}",
        cli(lambda t, e=_extra: ["collect", "jaeger", "--url", "http://127.0.0.1:9", "--last", "5m", "-o",
                                 str(t / "x.parquet"), *e]),
        _cli_must_fail,
        _names,
    )  # fmt: skip
case("rca graph --callee-map =x", cli(lambda t: ["graph", _spans_file(t), "--callee-map", "=x"]), _cli_must_fail,
     ("--callee-map",))  # fmt: skip


def _kpi_csv(tmp: Path, times=None, values=None, name="kpi.csv") -> str:
    n = 400
    times = np.arange(T0, T0 + 60 * n, 60) if times is None else times
    values = np.random.default_rng(0).normal(10, 1, n) if values is None else values
    path = tmp / name
    pd.DataFrame({"timestamp": times, "value": values}).to_csv(path, index=False)
    return str(path)


def _detect(extra, **csv):
    return cli(lambda t: ["detect", _kpi_csv(t, **csv), *extra])


case("rca detect control", _detect(["--time-column", "timestamp", "--train-len", "300"]), _cli_ok)
for _label, _extra, _csv, _names in [
    ("--train-until word", ["--train-until", "not-a-time"], {}, ("--train-until",)),
    ("--train-until word with time column", ["--time-column", "timestamp", "--train-until", "not-a-time"], {},
     ("--train-until",)),
    ("--train-until nan", ["--time-column", "timestamp", "--train-until", "nan"], {}, ("--train-until",)),
    ("--train-len -5", ["--train-len", "-5"], {}, ("train",)),
    ("--train-len 0", ["--train-len", "0"], {}, ("train",)),
    ("--train-len 10**9", ["--train-len", str(10**9)], {}, ("train",)),
    ("--set q=-5", ["--train-len", "300", "--set", "q=-5"], {}, ("q",)),
    ("--set smoothin=1", ["--train-len", "300", "--set", "smoothin=1"], {}, ("smoothin",)),
    ("--set no equals", ["--train-len", "300", "--set", "q"], {}, ("--set",)),
    ("--period 0", ["--train-len", "300", "--period", "0"], {}, ("period",)),
    ("--period -1", ["--train-len", "300", "--period", "-1"], {}, ("period",)),
    ("--column missing", ["--train-len", "300", "--column", "nope"], {}, ("nope",)),
    ("--time-column missing", ["--train-len", "300", "--time-column", "nope"], {}, ("nope",)),
    ("values NaN", ["--train-len", "300"], {"values": np.r_[np.ones(10), np.nan, np.ones(389)]}, ("nan",)),
    ("values text", ["--train-len", "300"], {"values": ["x"] * 400}, ("numeric",)),
    ("times unsorted", ["--time-column", "timestamp", "--train-len", "300"],
     {"times": np.r_[T0 + 60 * np.arange(200)[::-1], T0 + 60 * np.arange(200, 400)]}, ("sorted",)),
    ("times duplicated", ["--time-column", "timestamp", "--train-len", "300"],
     {"times": np.r_[np.full(2, T0), T0 + 60 * np.arange(2, 400)]}, ("duplicate",)),
    ("times words", ["--time-column", "timestamp", "--train-len", "300"], {"times": ["noon"] * 400}, ("timestamp",)),
]:  # fmt: skip
    case(f"rca detect {_label}", _detect(_extra, **_csv), _cli_must_fail, _names)


def _ms_times_ok(result) -> str | None:
    return None if "2022-08-22" in result.out + result.err or "(no alarms)" in result.out else "times misdated"


case(
    "rca detect times in ms",
    _detect(
        ["--time-column", "timestamp", "--train-len", "300", "--all"], times=np.arange(T0, T0 + 60 * 400, 60) * 1000
    ),
    _ms_times_ok,
    ("timestamp",),
)
case(
    "rca detect --train-until in ms",
    _detect(["--time-column", "timestamp", "--train-until", str((T0 + 300 * 60) * 1000)]),
    _cli_ok,
    ("--train-until",),
)


def _empty_csv(tmp: Path) -> str:
    (tmp / "e.csv").write_text("")
    return str(tmp / "e.csv")


case("rca detect empty csv", cli(lambda t: ["detect", _empty_csv(t), "--train-len", "3"]), _cli_must_fail, ("e.csv",))
case(
    "rca detect missing csv",
    cli(lambda t: ["detect", str(t / "nope.csv"), "--train-len", "3"]),
    _cli_must_fail,
    ("nope.csv",),
)


# ---- rca evaluate on case folders and data-set layouts


def _case_folder(tmp: Path, name="case-1", label_changes=None, raw_label: str | None = None) -> Path:
    from chaos_scenarios.case_folder import CaseLabel, write_case

    spans = synthetic_spans(slow_after=INJECT)
    label = CaseLabel(
        case_id=name,
        root_cause=["cartservice"],
        fault_type="network-delay",
        chaos_kind="NetworkChaos",
        action="delay",
        injected_at=float(INJECT),
        recovered_at=float(INJECT + 180),
        window_start=float(T0),
        window_end=float(T0 + 13 * 60),
        backend="sim",
    )
    folder = write_case(tmp / "run" / name, label, [], spans)
    if label_changes or raw_label is not None:
        data = json.loads((folder / "label.json").read_text())
        data.update(label_changes or {})
        (folder / "label.json").write_text(raw_label if raw_label is not None else json.dumps(data))
    return tmp / "run"


def _evaluate(make):
    return cli(
        lambda t: ["evaluate", str(make(t)), "--out", str(t / "report"), "-q", "--no-case-figures", "-m", "max-score"]
    )


def _evaluate_ok(result) -> str | None:
    return None if "1 usable case" in result.err else "the case was not evaluated"


def _two_cases_one_broken(tmp: Path) -> Path:
    _case_folder(tmp, "case-1")
    _case_folder(tmp, "case-2", raw_label='{"format": "rca-case/1", "case_id": ')
    return tmp / "run"


def _mentions_broken(result) -> str | None:
    return None if "case-2" in result.err else "a case with a broken label.json was dropped without a word"


case("rca evaluate control", _evaluate(lambda t: _case_folder(t)), _evaluate_ok)
case("rca evaluate broken label.json, no run.json", _evaluate(_two_cases_one_broken), _mentions_broken, ("case-2",))
for _label, _changes, _names in [
    ("injected_at word", {"injected_at": "yesterday"}, ("injected_at",)),
    ("injected_at ms", {"injected_at": INJECT * 1000.0}, ("injected_at",)),
    ("injected_at NaN", {"injected_at": float("nan")}, ("injected_at",)),
    ("injected_at null", {"injected_at": None}, ("injected_at",)),
    ("injected_at list", {"injected_at": [1, 2]}, ("injected_at",)),
    ("recovered_at before injected_at", {"recovered_at": float(INJECT - 60)}, ("recovered_at",)),
    ("recovered_at word", {"recovered_at": "later"}, ("recovered_at",)),
    ("root_cause empty", {"root_cause": []}, ("root_cause",)),
    ("root_cause a number", {"root_cause": [5]}, ("root_cause",)),
    ("case_id a number", {"case_id": 5}, ("case_id",)),
]:

    def _one(tmp: Path, c=_changes):
        return _case_folder(tmp, label_changes=c)

    def _ms_ok(result, label=_label):
        return _evaluate_ok(result) if label == "injected_at ms" else _cli_must_fail(result)

    case(f"rca evaluate {_label}", _evaluate(_one), _ms_ok, _names)


def _nezha_layout(tmp: Path, stamp) -> Path:
    root = tmp / "nezha"
    (root / "trace").mkdir(parents=True)
    spans = synthetic_spans(slow_after=INJECT)
    lines = ["TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"]
    for row in spans.itertuples():
        start = int(row.start_us) * 1000
        lines.append(
            f"{row.trace_id},{row.span_id},{row.parent_id if isinstance(row.parent_id, str) else 'root'},"
            f"{row.service}-5c-x1,{row.operation},{start},{start + int(row.duration_us) * 1000},"
            f"{int(row.duration_us)}"
        )
    (root / "trace" / "04_50_trace.csv").write_text("\n".join(lines) + "\n")
    label = {
        "04": [
            {
                "inject_time": "x",
                "inject_timestamp": stamp,
                "inject_pod": "cartservice-6d-y2",
                "inject_type": "network_delay",
            }
        ]
    }
    (root / "label.json").write_text(json.dumps(label))
    return root


case("rca evaluate nezha control", _evaluate(lambda t: _nezha_layout(t, INJECT)), _evaluate_ok)
for _label, _stamp in [("word", "noon"), ("NaN", float("nan")), ("ms", INJECT * 1000), ("bool", True)]:
    case(
        f"rca evaluate nezha inject_timestamp {_label}",
        _evaluate(lambda t, s=_stamp: _nezha_layout(t, s)),
        _evaluate_ok if _label == "ms" else _cli_must_fail,
        ("inject_timestamp",),
    )


def _rcaeval_layout(tmp: Path, inject_text: str) -> Path:
    folder = tmp / "rcaeval" / "cartservice_delay" / "1"
    folder.mkdir(parents=True)
    spans = synthetic_spans(slow_after=INJECT)
    frame = pd.DataFrame(
        {
            "traceID": spans["trace_id"],
            "spanID": spans["span_id"],
            "parentSpanID": spans["parent_id"],
            "serviceName": spans["service"],
            "operationName": spans["operation"],
            "methodName": "GET",
            "startTime": spans["start_us"],
            "duration": spans["duration_us"],
        }
    )
    frame.to_csv(folder / "traces.csv", index=False)
    (folder / "inject_time.txt").write_text(inject_text)
    return tmp / "rcaeval"


def _changerca_layout(tmp: Path, stamps: list) -> Path:
    folder = tmp / "changerca" / "c1"
    folder.mkdir(parents=True)
    label = {"fault_release_service": "cartservice", "detect_timestamp": INJECT}
    (folder / "c1.json").write_text(json.dumps(label))
    rows = "".join(f"{s},{100 if i < 10 else 50},{5 if i < 10 else 50}\n" for i, s in enumerate(stamps))
    (folder / "frontend-1-2_frontend_cartservice.csv").write_text("Timestamp,SuccessRate,Latency\n" + rows)
    (folder / "cartservice-1-2_frontend_cartservice.csv").write_text("Timestamp,SuccessRate,Latency\n" + rows)
    return tmp / "changerca"


_MINUTES = [INJECT - 600 + 60 * i for i in range(14)]
case("rca evaluate changerca control", _evaluate(lambda t: _changerca_layout(t, _MINUTES)), _evaluate_ok)
case("rca evaluate changerca Timestamp inf", _evaluate(lambda t: _changerca_layout(t, ["inf", *_MINUTES[1:]])),
     _cli_must_fail, ("timestamp",))  # fmt: skip
case("rca evaluate changerca Timestamp in ms", _evaluate(lambda t: _changerca_layout(t, [m * 1000 for m in _MINUTES])),
     _evaluate_ok, ("timestamp",))  # fmt: skip
case("rca evaluate changerca Timestamp word", _evaluate(lambda t: _changerca_layout(t, ["noon", *_MINUTES[1:]])),
     _cli_must_fail, ("timestamp",))  # fmt: skip


case("rca evaluate rcaeval control", _evaluate(lambda t: _rcaeval_layout(t, str(INJECT))), _evaluate_ok)
for _label, _text in [("word", "noon"), ("ms", str(INJECT * 1000)), ("empty", ""), ("nan", "nan")]:
    case(
        f"rca evaluate rcaeval inject_time {_label}",
        _evaluate(lambda t, x=_text: _rcaeval_layout(t, x)),
        _evaluate_ok if _label == "ms" else _cli_must_fail,
        ("inject_time",),
    )

for _label, _extra, _names in [
    ("--before -5min", ["--before", "-5min"], ("--before",)),
    ("--before garbage", ["--before", "garbage"], ("--before",)),
    ("--after 0", ["--after", "0"], ("--after",)),
    ("--min-spans 0", ["--min-spans", "0"], ("min",)),
    ("--bucket garbage", ["--bucket", "garbage"], ("bucket",)),
    ("--train-window -1min", ["--train-window", "-1min"], ("train",)),
    ("--set q=-5", ["--set", "q=-5"], ("q",)),
]:
    case(
        f"rca evaluate {_label}",
        cli(
            lambda t, e=_extra: [
                "evaluate",
                str(_case_folder(t)),
                "--out",
                str(t / "report"),
                "-q",
                "--no-case-figures",
                "-m",
                "max-score",
                *e,
            ]
        ),
        _cli_must_fail,
        _names,
    )


def _json_written(tmp: Path):
    result = cli(
        lambda t: ["evaluate", str(_case_folder(t)), "--out", str(t / "report"), "-q", "--no-case-figures",
                   "-m", "max-score", "--json", str(t / "new" / "r.json")]
    )(tmp)  # fmt: skip
    return result, (tmp / "new" / "r.json").is_file()


case("rca evaluate --json into a new folder", _json_written, lambda r: None if r[1] else "no results file written")
case("rca evaluate missing path", cli(lambda t: ["evaluate", str(t / "nope")]), _cli_must_fail, ("nope",))
case(
    "rca evaluate empty folder",
    cli(lambda t: ["evaluate", str((t / "e").mkdir() or t / "e")]),
    _cli_must_fail,
    ("layout",),
)


# ---- rca rank


def _rank(extra, make=_case_folder):
    return cli(lambda t: ["rank", str(make(t) / "case-1"), *extra])


case("rca rank control", _rank([]), lambda r: None if "cartservice" in r.out else "no ranking printed")
for _label, _extra, _names in [
    ("--inject-time word", ["--inject-time", "noon"], ("--inject-time",)),
    ("--inject-time nan", ["--inject-time", "nan"], ("--inject-time",)),
    ("--inject-time a year late", ["--inject-time", str(INJECT + 365 * 86400)], ("inject",)),
    ("--end-time before inject", ["--end-time", str(INJECT - 60)], ("end",)),
    ("--top -1", ["--top", "-1"], ("--top",)),
    ("--top 0", ["--top", "0"], ("--top",)),
    ("--bucket 0s", ["--bucket", "0s"], ("bucket",)),
    ("--train-window -10min", ["--train-window", "-10min"], ("train",)),
    ("--set q=-5", ["--set", "q=-5"], ("q",)),
    ("--set alhpa=1", ["--set", "alhpa=1"], ("alhpa",)),
]:
    case(f"rca rank {_label}", _rank(_extra), _cli_must_fail, _names)


# ---- rca suite check


def _suite_file(tmp: Path, fault_changes=None, defaults=None, raw: str | None = None) -> str:
    import yaml

    fault = {
        "name": "cart-delay",
        "target": "cartservice",
        "kind": "NetworkChaos",
        "action": "delay",
        "parameters": {"latency": "200ms"},
    }
    fault.update(fault_changes or {})
    data = {"name": "s", "defaults": {"namespace": "default", **(defaults or {})}, "faults": [fault]}
    path = tmp / "suite.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(data))
    return str(path)


case("rca suite check control", cli(lambda t: ["suite", "check", _suite_file(t)]), _cli_ok)
for _label, _fault, _defaults, _names in [
    ("repetitions 10**9", {"repetitions": 10**9}, None, ("repetitions",)),
    ("repetitions 10**6 in defaults", None, {"repetitions": 10**6}, ("repetitions",)),
    ("repetitions 0", {"repetitions": 0}, None, ("repetitions",)),
    ("repetitions 2.5", {"repetitions": 2.5}, None, ("repetitions",)),
    ("repetitions text", {"repetitions": "many"}, None, ("repetitions",)),
    ("warmup 1000h", {"warmup": "1000h"}, None, ("warmup",)),
    ("warmup 10**9 s", {"warmup": 10**9}, None, ("warmup",)),
    ("duration 1000h", {"duration": "1000h"}, None, ("duration",)),
    ("cooldown 1000h in defaults", None, {"cooldown": "1000h"}, ("cooldown",)),
    ("duration 0", {"duration": 0}, None, ("duration",)),
    ("duration nan", {"duration": float("nan")}, None, ("duration",)),
    ("duration inf", {"duration": float("inf")}, None, ("duration",)),
    ("warmup negative", {"warmup": -5}, None, ("warmup",)),
    ("duration word", {"duration": "long"}, None, ("duration",)),
    ("concurrency 0", None, {"concurrency": 0}, ("concurrency",)),
    ("unknown field", {"durration": "3m"}, None, ("durration",)),
    ("target with spaces", {"target": "cart service"}, None, ("target",)),
    ("parameters a list", {"parameters": [1, 2]}, None, ("parameters",)),
    ("latency word", {"parameters": {"latency": "slow"}}, None, ("latency",)),
]:
    case(
        f"rca suite check {_label}",
        cli(lambda t, f=_fault, d=_defaults: ["suite", "check", _suite_file(t, f, d)]),
        _cli_must_fail,
        _names,
    )
for _label, _raw, _names in [
    ("not yaml", "faults: [\n  - {name: x", ("yaml",)),
    ("a list", "- 1\n- 2\n", ("mapping",)),
    ("empty", "", ("mapping",)),
    ("deep nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", ()),
    ("faults empty", "faults: []\n", ("faults",)),
]:
    case(
        f"rca suite check {_label}",
        cli(lambda t, r=_raw: ["suite", "check", _suite_file(t, raw=r)]),
        _cli_must_fail,
        _names,
    )
case(
    "rca suite run sim warmup 1000h",
    cli(lambda t: ["suite", "run", _suite_file(t, {"warmup": "1000h"}), "--out", str(t / "o"), "--no-progress"]),
    _cli_must_fail,
    ("warmup",),
)
case(
    "rca suite check missing file",
    cli(lambda t: ["suite", "check", str(t / "nope.yaml")]),
    _cli_must_fail,
    ("nope.yaml",),
)


# ---- library: evaluation.load_cases and graph


def _load_cases(spec_fn, **kw):
    def run(tmp: Path):
        from evaluation.datasets import load_cases

        return load_cases(spec_fn(tmp), **kw)

    return run


case("load_cases before=-1", _load_cases(lambda t: _case_folder(t), before=-1), _must_fail, ("before",))
case("load_cases min_spans=0", _load_cases(lambda t: _case_folder(t), min_spans=0), _must_fail, ("min_spans",))
case("load_cases min_spans=2.5", _load_cases(lambda t: _case_folder(t), min_spans=2.5), _must_fail, ("min_spans",))
case("load_cases min_spans text", _load_cases(lambda t: _case_folder(t), min_spans="1"), _must_fail, ("min_spans",))
case("load_cases nezha:missing", _load_cases(lambda t: f"nezha:{t / 'x'}"), _must_fail, ("x",))
case("load_cases 123", _api(lambda: __import__("evaluation.datasets").datasets.load_cases(123)), _must_fail, ())


def _graph_call(fn):
    def run(tmp: Path):
        import graph

        return fn(graph, synthetic_spans(minutes=2))

    return run


case(
    "edge_series bucket garbage", _graph_call(lambda g, s: g.edge_series(s, bucket="garbage")), _must_fail, ("bucket",)
)
case(
    "edge_series start after end",
    _graph_call(lambda g, s: g.edge_series(s, start=T0 + 100, end=T0)),
    _must_fail,
    ("start",),
)
case("edge_series start nan", _graph_call(lambda g, s: g.edge_series(s, start=float("nan"))), _must_fail, ("start",))
case("build_service_graph(list)", _graph_call(lambda g, s: g.build_service_graph([1, 2])), _must_fail, ())
case(
    "service_series bucket 1ns over a day",
    _graph_call(lambda g, s: g.service_series(s, bucket="1ns")),
    _must_fail,
    ("bucket",),
)


# ---------------------------------------------------------------- running


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def classify(c: Case, timeout: float) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = c.run(Path(tmp))
            signal.setitimer(signal.ITIMER_REAL, 0)
        except Hang:
            return "traceback", f"no answer within {timeout:g} s"
        except FrameworkError as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            message = str(exc)
            missing = [w for w in c.names if w.lower() not in message.lower()]
            if missing:
                return "vague", f"{type(exc).__name__}: {message[:300]} (does not name {missing})"
            return "error", f"{type(exc).__name__}: {message[:300]}"
        except Exception as exc:  # noqa: BLE001 - the point of this script: any other exception is the finding
            signal.setitimer(signal.ITIMER_REAL, 0)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return "traceback", f"{type(exc).__name__}: {str(exc)[:200]} ({Path(where.filename).name}:{where.lineno})"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        try:
            problem = c.check(result)
        except Exception as exc:  # noqa: BLE001 - an oracle that cannot read the result counts it as wrong
            problem = f"result the oracle cannot read ({type(exc).__name__}: {exc})"
        if problem:
            return "silent_wrong", problem
        return "correct", ""


OUTCOMES = ("error", "vague", "traceback", "silent_wrong", "correct")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--show", default="vague,traceback,silent_wrong", help="outcomes to list (or 'all')")
    parser.add_argument("--json", type=Path, help="write every case's outcome here")
    args = parser.parse_args(argv)
    show = set(OUTCOMES) if args.show == "all" else set(args.show.split(","))
    selected = [c for c in CASES if not args.only or args.only in c.name]
    tally: Counter[str] = Counter()
    rows = []
    for c in selected:
        outcome, detail = classify(c, args.timeout)
        tally[outcome] += 1
        rows.append({"case": c.name, "outcome": outcome, "detail": detail})
        if outcome in show:
            print(f"{outcome:12s} {c.name}: {detail}", flush=True)
    print(f"\n{len(selected)} inputs: " + ", ".join(f"{o} {tally[o]}" for o in OUTCOMES))
    if args.json:
        args.json.write_text(json.dumps({"tally": {o: tally[o] for o in OUTCOMES}, "cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
