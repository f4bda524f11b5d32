"""Jaeger's JSON trace model (query API v1 and UI exports) <-> SpanFrame.

A trace is ``{traceID, spans[], processes{pid: {serviceName, tags}}}``; a span has
``traceID, spanID, operationName, references[{refType CHILD_OF|FOLLOWS_FROM, traceID, spanID}],
startTime, duration`` (µs), ``tags[{key, type, value}]`` and ``processID``.
The parent is the first CHILD_OF reference, else the first FOLLOWS_FROM one. The kind is the
``span.kind`` tag; where a span has none it is inferred from the trace structure
(:func:`collectors.kinds.infer_kinds`), the status follows :mod:`collectors.status`,
the pod is the process tag ``k8s.pod.name``, ``host.name``, ``hostname`` or ``ip``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from collectors.kinds import infer_kinds
from collectors.spanframe import KINDS, make_spanframe
from collectors.status import grpc_status, http_status, int64_code, status_from_tags

POD_TAGS = ("k8s.pod.name", "host.name", "hostname", "ip")
ATTRIBUTE_TAGS = {
    "peer_service": ("peer.service",),
    "rpc_service": ("rpc.service",),
    "rpc_method": ("rpc.method",),
    "server_address": ("server.address", "net.peer.name", "peer.hostname"),
}
_FIELDS = (
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
    "peer_service",
    "rpc_service",
    "rpc_method",
    "server_address",
    "http_status",
    "grpc_status",
)


def tags_dict(tags) -> dict[str, object]:
    """``[{key, type, value}]`` (or a plain mapping) -> ``{key: value}``."""
    if isinstance(tags, dict):
        return dict(tags)
    out = {}
    for tag in tags if isinstance(tags, list) else ():
        if isinstance(tag, dict) and "key" in tag:
            out[str(tag["key"])] = tag.get("value")
    return out


def json_number(value) -> float | int:
    """A JSON number as it is (an int within int64, else a float); NaN for anything else
    (:func:`collectors.make_spanframe` counts those as invalid)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def _kind(value) -> str:
    text = str(value or "").strip().lower()
    return text if text in KINDS else "unknown"


def jaeger_rows(traces: Iterable, skipped: Counter) -> dict[str, list]:
    """Column lists for the spans of Jaeger trace objects; bad entries are counted in ``skipped``."""
    rows: dict[str, list] = {f: [] for f in _FIELDS}
    for trace in traces:
        if not isinstance(trace, dict) or not isinstance(trace.get("spans"), list):
            skipped["malformed_trace"] += 1
            continue
        processes: dict = trace["processes"] if isinstance(trace.get("processes"), dict) else {}
        for span in trace["spans"]:
            if not isinstance(span, dict):
                skipped["malformed_span"] += 1
                continue
            pid = span.get("processID")
            process = (
                span.get("process")
                if isinstance(span.get("process"), dict)
                else (processes.get(pid, {}) if isinstance(pid, str) else {})
            )
            process = process if isinstance(process, dict) else {}
            tags = tags_dict(span.get("tags"))
            process_tags = tags_dict(process.get("tags"))
            parent = None
            raw_references = span.get("references")
            references: list = raw_references if isinstance(raw_references, list) else []
            for wanted in ("CHILD_OF", "FOLLOWS_FROM"):
                for ref in references:
                    if isinstance(ref, dict) and str(ref.get("refType", "")).upper() == wanted and ref.get("spanID"):
                        parent = str(ref["spanID"])
                        break
                if parent is not None:
                    break
            if parent is None and isinstance(span.get("parentSpanID"), (str, int)) and span.get("parentSpanID"):
                parent = str(span["parentSpanID"])
            rows["trace_id"].append(str(span.get("traceID") or trace.get("traceID") or "") or None)
            rows["span_id"].append(str(span.get("spanID") or "") or None)
            rows["parent_id"].append(parent)
            rows["service"].append(process.get("serviceName"))
            rows["operation"].append(str(span.get("operationName", "")))
            rows["start_us"].append(json_number(span.get("startTime")))
            rows["duration_us"].append(json_number(span.get("duration")))
            rows["kind"].append(_kind(tags.get("span.kind")))
            rows["status"].append(status_from_tags(tags))
            rows["pod"].append(next((str(process_tags[k]) for k in POD_TAGS if process_tags.get(k)), None))
            for column, keys in ATTRIBUTE_TAGS.items():
                rows[column].append(next((str(tags[k]) for k in keys if tags.get(k) not in (None, "")), None))
            rows["http_status"].append(int64_code(http_status(tags)))
            rows["grpc_status"].append(int64_code(grpc_status(tags)))
    return rows


def rows_to_spanframe(
    rows: dict[str, list], source: str, skipped: Counter, converted: dict[str, int] | None = None
) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("peer_service", "rpc_service", "rpc_method", "server_address", "http_status", "grpc_status"):
        if column in frame and frame[column].isna().all():
            frame = frame.drop(columns=column)
    for column in ("start_us", "duration_us"):
        if not len(frame):
            frame[column] = np.zeros(0, dtype=np.int64)
    frame = make_spanframe(frame, source=source, skipped=skipped, converted=converted)
    if len(frame) and (frame["kind"] == "unknown").any():
        frame["kind"] = infer_kinds(frame, only_unknown=True)
    return frame


def read_jaeger_traces(traces: Iterable, source: str = "jaeger traces", skipped: Counter | None = None) -> pd.DataFrame:
    """SpanFrame of a list of Jaeger trace objects."""
    skipped = skipped if skipped is not None else Counter()
    return rows_to_spanframe(jaeger_rows(traces, skipped), source, skipped)


def _column(frame: pd.DataFrame, name: str) -> list:
    values = frame[name].astype(object).to_numpy()
    return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in values]


def to_jaeger_traces(spans: pd.DataFrame) -> list[dict]:
    """Jaeger JSON trace objects (as the query API v1 returns them) for a SpanFrame.

    One process per (service, pod) in each trace; tags carry ``span.kind``, ``error=true`` and
    ``otel.status_code`` for the status, and the optional attribute columns. Traces come in
    order of their first span.
    """
    if not len(spans):
        return []
    order = np.lexsort((spans["start_us"].to_numpy(), pd.factorize(spans["trace_id"], sort=False)[0]))
    frame = spans.iloc[order]
    extra = {
        "peer_service": "peer.service",
        "rpc_service": "rpc.service",
        "rpc_method": "rpc.method",
        "server_address": "server.address",
        "http_status": "http.response.status_code",
        "grpc_status": "rpc.grpc.status_code",
    }
    present = [c for c in extra if c in frame.columns]
    columns = {
        c: _column(frame, c)
        for c in ("trace_id", "span_id", "parent_id", "service", "operation", "kind", "status", "pod", *present)
    }
    starts = frame["start_us"].to_numpy().tolist()
    durations = frame["duration_us"].to_numpy().tolist()
    kind_tags: dict[str, list[dict[str, object]]] = {
        k: [{"key": "span.kind", "type": "string", "value": k}] for k in KINDS if k != "unknown"
    }
    status_tags: dict[str, list[dict[str, object]]] = {
        "error": [
            {"key": "error", "type": "bool", "value": True},
            {"key": "otel.status_code", "type": "string", "value": "ERROR"},
        ],
        "ok": [{"key": "otel.status_code", "type": "string", "value": "OK"}],
    }
    traces: list[dict] = []
    by_id: dict[str, dict] = {}
    processes: dict[str, dict] = {}
    for i in range(len(starts)):
        trace_id = str(columns["trace_id"][i])
        trace = by_id.get(trace_id)
        if trace is None:
            trace = {"traceID": trace_id, "spans": [], "processes": {}, "warnings": None}
            by_id[trace_id] = trace
            processes[trace_id] = {}
            traces.append(trace)
        service, pod = str(columns["service"][i]), columns["pod"][i]
        key = (service, pod)
        known = processes[trace_id]
        pid = known.get(key)
        if pid is None:
            pid = known[key] = f"p{len(known) + 1}"
            trace["processes"][pid] = {
                "serviceName": service,
                "tags": ([{"key": "hostname", "type": "string", "value": str(pod)}] if pod is not None else []),
            }
        tags = [dict(t) for t in kind_tags.get(columns["kind"][i], ())] + [
            dict(t) for t in status_tags.get(columns["status"][i], ())
        ]
        for column in present:
            value = columns[column][i]
            if value is None:
                continue
            if column in ("http_status", "grpc_status"):
                tags.append({"key": extra[column], "type": "int64", "value": int(value)})
            else:
                tags.append({"key": extra[column], "type": "string", "value": str(value)})
        parent = columns["parent_id"][i]
        trace["spans"].append(
            {
                "traceID": trace_id,
                "spanID": str(columns["span_id"][i]),
                "operationName": str(columns["operation"][i]),
                "references": []
                if parent is None
                else [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": str(parent)}],
                "startTime": int(starts[i]),
                "duration": int(durations[i]),
                "tags": tags,
                "logs": [],
                "processID": pid,
                "warnings": None,
                "flags": 1,
            }
        )
    return traces
