"""OTLP JSON (``resourceSpans[].scopeSpans[].spans[]``) -> SpanFrame.

Also accepts the older ``instrumentationLibrarySpans`` and Jaeger api_v3's wrapping
``{"result": {"resourceSpans": ...}}``. Ids may be hex (the OTLP JSON encoding) or base64
(protobuf JSON of bytes); both end as lower-case hex. Kinds are OTel's (``SPAN_KIND_SERVER``
or 2); the status follows :mod:`collectors.status`; the service is the resource attribute
``service.name``, the pod ``k8s.pod.name`` or ``host.name``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from collectors.jaeger_format import ATTRIBUTE_TAGS, json_number, rows_to_spanframe, tags_dict
from collectors.status import grpc_status, http_status, int64_code, status_from_tags
from core import units

OTEL_KINDS = {0: "unknown", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
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


def any_value(value):
    """The Python value of an OTLP ``AnyValue`` JSON object."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        array = value["arrayValue"]
        values = array.get("values") if isinstance(array, dict) else None
        return [any_value(v) for v in values] if isinstance(values, list) else []
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"]
        return attributes(kvlist.get("values") if isinstance(kvlist, dict) else None)
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items) -> dict[str, object]:
    out = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value"))
    return out


def otlp_id(value) -> str | None:
    """Hex id from OTLP JSON's hex or base64 encoding; None when empty or all zeros (an invalid
    id in OTLP: such spans are counted as ``zero_span_id`` / ``zero_trace_id``, a zero parent
    means no parent)."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if _HEX.match(text) and len(text) in (16, 32):
        return None if not text.strip("0") else text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text
    if len(raw) in (8, 16) and any(raw):
        return raw.hex()
    return None if not any(raw) else text


def _kind(value) -> str:
    if isinstance(value, int):
        return OTEL_KINDS.get(value, "unknown")
    text = str(value or "").strip().upper().removeprefix("SPAN_KIND_")
    if text.isdigit():
        return OTEL_KINDS.get(int(text), "unknown")
    text = text.lower()
    return text if text in OTEL_KINDS.values() and text != "unknown" else "unknown"


def _nanos(value) -> float | int:
    """An OTLP time (a JSON string of int64 nanoseconds, or a number) as it is; NaN when unreadable."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            number = int(text)
            return number if -(2**63) <= number < 2**63 else float(number)
        try:
            return float(text)
        except ValueError:
            return math.nan
    return json_number(value)


def unwrap(documents: Iterable) -> list[dict]:
    """OTLP ``TracesData`` objects from a document or a list of documents (api_v3 ``result`` wrappers)."""
    out = []
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("result"), dict):
            doc = doc["result"]
        out.append(doc)
    return out


def otlp_rows(documents: Iterable, skipped: Counter, converted: Counter | None = None) -> dict[str, list]:
    """Column lists for the spans of OTLP documents (times in µs by :func:`nanos_to_us`; its
    conversions are added to ``converted``); bad entries are counted in ``skipped``."""
    rows: dict[str, list] = {f: [] for f in _FIELDS}
    for doc in unwrap(documents):
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans", []), list):
            skipped["malformed_document"] += 1
            continue
        for resource_spans in doc.get("resourceSpans", []):
            if not isinstance(resource_spans, dict):
                skipped["malformed_resource"] += 1
                continue
            resource_value = resource_spans.get("resource")
            resource = attributes(resource_value.get("attributes") if isinstance(resource_value, dict) else None)
            service = resource.get("service.name")
            pod = resource.get("k8s.pod.name") or resource.get("host.name")
            scopes = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
            for scope in scopes if isinstance(scopes, list) else ():
                spans = scope.get("spans") if isinstance(scope, dict) else None
                for span in spans if isinstance(spans, list) else ():
                    if not isinstance(span, dict):
                        skipped["malformed_span"] += 1
                        continue
                    if span.get("spanId") not in (None, "") and otlp_id(span.get("spanId")) is None:
                        skipped["zero_span_id"] += 1
                        continue
                    if span.get("traceId") not in (None, "") and otlp_id(span.get("traceId")) is None:
                        skipped["zero_trace_id"] += 1
                        continue
                    tags = attributes(span.get("attributes"))
                    status: dict = span["status"] if isinstance(span.get("status"), dict) else {}
                    rows["trace_id"].append(otlp_id(span.get("traceId")))
                    rows["span_id"].append(otlp_id(span.get("spanId")))
                    rows["parent_id"].append(otlp_id(span.get("parentSpanId")))
                    rows["service"].append(service)
                    rows["operation"].append(str(span.get("name", "")))
                    rows["start_us"].append(_nanos(span.get("startTimeUnixNano")))
                    rows["duration_us"].append(_nanos(span.get("endTimeUnixNano")))
                    rows["kind"].append(_kind(span.get("kind")))
                    rows["status"].append(status_from_tags(tags, status.get("code")))
                    rows["pod"].append(str(pod) if pod else None)
                    for column, keys in ATTRIBUTE_TAGS.items():
                        rows[column].append(next((str(tags[k]) for k in keys if tags.get(k) not in (None, "")), None))
                    rows["http_status"].append(int64_code(http_status(tags)))
                    rows["grpc_status"].append(int64_code(grpc_status(tags)))
    start, duration, made = nanos_to_us(rows["start_us"], rows["duration_us"])
    rows["start_us"], rows["duration_us"] = start.tolist(), duration.tolist()
    if converted is not None:
        converted.update(made)
    return rows


def read_otlp(documents: Iterable, source: str = "OTLP JSON", skipped: Counter | None = None):
    """SpanFrame of OTLP JSON ``TracesData`` documents (times read by the rule of :mod:`core.units`,
    documented unit nanoseconds; start and end each by its own magnitude)."""
    skipped = skipped if skipped is not None else Counter()
    converted: Counter[str] = Counter()
    rows = otlp_rows(documents, skipped, converted)
    return rows_to_spanframe(rows, source, skipped, dict(converted))


def nanos_to_us(starts: list, ends: list) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Start (µs) and duration (µs, end - start) of epoch times documented in nanoseconds;
    NaN where a time is unreadable, so that the SpanFrame counts it."""
    start, end = (
        np.array(v, dtype=np.float64) if _has_float(v) else np.array(v, dtype=np.int64) for v in (starts, ends)
    )
    start_codes, end_codes = units.unit_codes(start, "ns"), units.unit_codes(end, "ns")
    converted = Counter(units.conversions(start_codes, "ns", "startTimeUnixNano"))
    converted.update(units.conversions(end_codes, "ns", "endTimeUnixNano"))
    start_us = units.convert(start, start_codes, "us").astype(np.float64)
    end_us = units.convert(end, end_codes, "us").astype(np.float64)
    start_us[start_codes < 0] = np.nan
    duration = end_us - start_us
    duration[end_codes < 0] = np.nan
    return start_us, duration, dict(converted)


def _has_float(values: list) -> bool:
    return any(isinstance(v, float) for v in values)


_KIND_NUMBERS = {v: k for k, v in OTEL_KINDS.items()}
_SKIP_TAGS = frozenset({"span.kind", "otel.status_code", "otel.status_description", "error"})


def _any_value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def jaeger_to_otlp(traces) -> dict:
    """OTLP JSON ``TracesData`` for Jaeger trace objects (one resource per process)."""
    resource_spans = []
    for trace in traces:
        processes = trace.get("processes") or {}
        by_process: dict[str, list] = {}
        for span in trace.get("spans") or []:
            by_process.setdefault(span.get("processID"), []).append(span)
        for pid, spans in by_process.items():
            process = processes.get(pid) or {}
            resource = [{"key": "service.name", "value": {"stringValue": str(process.get("serviceName", ""))}}]
            for key, value in tags_dict(process.get("tags")).items():
                resource.append({"key": "host.name" if key == "hostname" else key, "value": _any_value(value)})
            out = []
            for span in spans:
                tags = tags_dict(span.get("tags"))
                parent = next(
                    (r.get("spanID") for r in span.get("references") or [] if r.get("refType") == "CHILD_OF"), None
                )
                start_ns = int(span["startTime"]) * 1000
                state = status_from_tags(tags)
                out.append(
                    {
                        "traceId": span["traceID"],
                        "spanId": span["spanID"],
                        "parentSpanId": parent or "",
                        "name": span.get("operationName", ""),
                        "kind": _KIND_NUMBERS.get(str(tags.get("span.kind", "")).lower(), 0),
                        "startTimeUnixNano": str(start_ns),
                        "endTimeUnixNano": str(start_ns + int(span["duration"]) * 1000),
                        "attributes": [
                            {"key": k, "value": _any_value(v)} for k, v in tags.items() if k not in _SKIP_TAGS
                        ],
                        "status": {"code": {"error": 2, "ok": 1}.get(state, 0)},
                    }
                )
            resource_spans.append(
                {"resource": {"attributes": resource}, "scopeSpans": [{"scope": {"name": "jaeger"}, "spans": out}]}
            )
    return {"resourceSpans": resource_spans}
