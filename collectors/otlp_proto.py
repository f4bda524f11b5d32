"""OTLP protobuf (``ExportTraceServiceRequest``, or ``TracesData``: the same wire format) -> SpanFrame.

Decoded with the official generated classes of ``opentelemetry-proto``, with the semantics of the
OTLP JSON reader (:mod:`collectors.otlp`): ids as lower-case hex, OTel's span kinds, the status by
:mod:`collectors.status`, the service from the resource attribute ``service.name``, the pod from
``k8s.pod.name`` or ``host.name``, the optional attribute columns of
:data:`collectors.jaeger_format.ATTRIBUTE_TAGS`, and the deprecated
``instrumentation_library_spans`` (field 1000 of ``ResourceSpans``, the wire format of
``ScopeSpans``) read like ``scope_spans``.

Every span that cannot be kept is counted by reason in ``frame.attrs["skipped"]``:

- ``zero_trace_id`` / ``zero_span_id``: an all-zero id (invalid in OTLP); an all-zero parent
  means no parent; an empty id is ``missing_trace_id`` / ``missing_span_id``
  (:func:`collectors.make_spanframe`);
- ``invalid_start_time``: ``start_time_unix_nano`` unset (0), ``start_out_of_range``: after
  2262-04-11 (beyond int64 nanoseconds, the range of a pandas timestamp);
- ``invalid_duration``: ``end_time_unix_nano`` unset (0) or beyond int64 nanoseconds;
- ``negative_duration``: the end before the start;
- and what :func:`collectors.make_spanframe` counts (``missing_service``, ``duplicate_span``, ...).
"""

from __future__ import annotations

import base64
import gzip
import operator
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collectors.errors import CollectError
from collectors.jaeger_format import ATTRIBUTE_TAGS
from collectors.kinds import infer_kinds
from collectors.otlp import OTEL_KINDS
from collectors.spanframe import KIND_DTYPE, KINDS, STATUS_DTYPE, STATUSES, make_spanframe
from collectors.status import (
    GRPC_STATUS_KEYS,
    HTTP_STATUS_KEYS,
    INT64_LIMIT,
    OTEL_STATUS_KEYS,
    grpc_status,
    http_status,
    int64_code,
    otel_status,
)

_INSTRUMENTATION_LIBRARY_SPANS = 1000
_WIRE_LEN = 2
UNKNOWN_STATUS = -1
"""The position :func:`combine_status` gives a status that is none of ``STATUSES``: the span is
dropped as ``unknown_status``."""
_GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024

_KEYS = tuple(
    sorted(
        {*HTTP_STATUS_KEYS, *GRPC_STATUS_KEYS, *OTEL_STATUS_KEYS, "error"}
        | {k for ks in ATTRIBUTE_TAGS.values() for k in ks}
    )
)
_SPAN_FIELD_NAMES = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "status",
    "attributes",
)
_SPAN_FIELDS = operator.attrgetter(*_SPAN_FIELD_NAMES)
_KIND_CODES = np.array([KINDS.index(OTEL_KINDS[i]) for i in range(max(OTEL_KINDS) + 1)], dtype=np.int8)
_FieldProto = descriptor_pb2.FieldDescriptorProto
_SPAN_TYPE = trace_pb2.Span.DESCRIPTOR.full_name


def any_value(value):
    """The Python value of an ``AnyValue`` message, as :func:`collectors.otlp.any_value` gives for its
    JSON form (bytes as base64 text, the proto3 JSON encoding of bytes)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def _projection() -> tuple[Any, Any]:
    """``TracesData`` and ``ScopeSpans`` classes of the official schema with span fields seen
    raw: ``attributes`` as ``map<string, bytes>`` (on the wire the same as ``repeated KeyValue``,
    the value the bytes of its ``AnyValue``), ``status`` as ``bytes``, and the fields the
    SpanFrame does not read (a span's ``events`` and ``links``, a scope's ``scope``) as bytes
    never parsed into messages. Built at import from the official descriptors (field numbers and
    every other field as they are), so that a span's attributes are looked up by key in C instead
    of being walked in Python; the values that matter are parsed with the official ``AnyValue``
    and ``Status`` classes."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        if module is trace_pb2:
            span = next(m for m in proto.message_type if m.name == "Span")
            entry = span.nested_type.add(name="RawAttributesEntry")
            entry.options.map_entry = True
            for name, number in (("key", 1), ("value", 2)):
                kind = _FieldProto.TYPE_STRING if name == "key" else _FieldProto.TYPE_BYTES
                entry.field.add(name=name, number=number, type=kind, label=_FieldProto.LABEL_OPTIONAL)
            scope = next(m for m in proto.message_type if m.name == "ScopeSpans")
            for field in span.field:
                if field.name == "attributes":
                    field.type_name = f".{_SPAN_TYPE}.RawAttributesEntry"
                elif field.name in ("status", "events", "links"):
                    field.type = _FieldProto.TYPE_BYTES
                    field.ClearField("type_name")
            for field in scope.field:
                if field.name == "scope":
                    field.type = _FieldProto.TYPE_BYTES
                    field.ClearField("type_name")
        pool.Add(proto)
    package = trace_pb2.DESCRIPTOR.package
    traces, scope = (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in ("TracesData", "ScopeSpans")
    )
    return traces, scope


_TracesView, _ScopeSpansView = _projection()


def _bytes(data, source: str) -> bytes:
    if isinstance(data, Message):
        return data.SerializeToString()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CollectError(f"{source}: expected protobuf bytes or a message, got {type(data).__name__}")
    return bytes(data)


def parse_request(data, source: str = "OTLP protobuf") -> ExportTraceServiceRequest:
    """``data`` parsed as an official ``ExportTraceServiceRequest``; :class:`CollectError` when it is not one."""
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(_bytes(data, source))
    except DecodeError as exc:
        raise CollectError(f"{source}: not a protobuf ExportTraceServiceRequest ({exc})") from exc
    return message


def decode_traces(data, source: str = "OTLP protobuf", skipped: Mapping[str, int] | None = None) -> pd.DataFrame:
    """SpanFrame of one ``ExportTraceServiceRequest`` or ``TracesData`` (its bytes, or the message)."""
    return spanframe_of([decode_columns(data, source)], source, skipped)


class SpanColumns:
    """The spans of one request as plain columns (numpy and Arrow arrays, no pandas yet), those
    that cannot be kept already left out and counted in ``rejected``. Cheap to make per request;
    :func:`spanframe_of` turns many of them into one SpanFrame."""

    __slots__ = ("columns", "rejected")

    def __init__(self, columns: dict[str, Any], rejected: Counter):
        self.columns = columns
        self.rejected = rejected

    def __len__(self) -> int:
        return len(self.columns["start_us"])


def decode_columns(data, source: str = "OTLP protobuf") -> SpanColumns:
    """The spans of one request (bytes or message) as :class:`SpanColumns`.

    The bytes are checked by the official ``ExportTraceServiceRequest`` (what it refuses is a
    :class:`CollectError`); the spans are read through the projection of :func:`_projection`."""
    data = _bytes(data, source)
    parse_request(data, source)
    message = _TracesView()
    message.ParseFromString(data)
    return _columns(message)


def count_spans(data) -> int:
    """Number of spans in an ``ExportTraceServiceRequest`` (bytes or message), the deprecated
    ``instrumentation_library_spans`` included: what a receiver accepted or rejected adds up to it."""
    message = _TracesView()
    message.ParseFromString(_bytes(data, "OTLP protobuf"))
    return sum(len(scope.spans) for resource_spans in message.resource_spans for scope in _scopes(resource_spans))


def _scopes(resource_spans) -> list:
    scopes = list(resource_spans.scope_spans)
    for field in UnknownFieldSet(resource_spans):
        if field.field_number == _INSTRUMENTATION_LIBRARY_SPANS and field.wire_type == _WIRE_LEN:
            scopes.append(_ScopeSpansView.FromString(field.data))
    return scopes


def _resource(resource_spans) -> tuple[str | None, str | None]:
    attributes = {kv.key: kv.value for kv in resource_spans.resource.attributes}
    service = any_value(attributes["service.name"]) if "service.name" in attributes else None
    pod = None
    for key in ("k8s.pod.name", "host.name"):
        pod = any_value(attributes[key]) if key in attributes else None
        if pod:
            break
    return (None if service is None else str(service)), (str(pod) if pod else None)


def _columns(message) -> SpanColumns:
    rows: list[tuple] = []
    resources: list[tuple[str | None, str | None]] = []
    sizes: list[int] = []
    for resource_spans in message.resource_spans:
        resource = _resource(resource_spans)
        for scope in _scopes(resource_spans):
            spans = scope.spans
            rows += map(_SPAN_FIELDS, spans)
            resources.append(resource)
            sizes.append(len(spans))
    n = len(rows)
    if not n:
        return _empty_columns()
    trace_ids, span_ids, parent_ids, names, kinds, starts, ends, raw_status, attributes = zip(*rows)

    ids, zero, empty = hex_ids(trace_ids + span_ids + parent_ids)
    trace_hex, span_hex, parent_hex = (ids.slice(at, n) for at in (0, n, 2 * n))
    zero_trace, zero_span, no_trace, no_span = zero[:n], zero[n : 2 * n], empty[:n], empty[n : 2 * n]
    services = np.repeat(np.array([service for service, _ in resources], dtype=object), sizes)
    pods = np.repeat(np.array([pod for _, pod in resources], dtype=object), sizes)
    no_service = np.repeat([service is None or not service.strip() for service, _ in resources], sizes)
    drop = np.zeros(n, dtype=bool)
    rejected: Counter[str] = Counter()

    def reject(reason: str, mask: np.ndarray) -> None:
        mask = mask & ~drop
        if mask.any():
            rejected[reason] += int(mask.sum())
            drop[:] |= mask

    reject("zero_trace_id", zero_trace)
    reject("zero_span_id", zero_span)
    start_us, duration_us, bad = span_times(np.array(starts, dtype=np.uint64), np.array(ends, dtype=np.uint64), drop)
    for reason, mask in bad.items():
        reject(reason, mask)
    tag_index, derived = _derived_tags(attributes)
    status = combine_status(_status_codes(raw_status), derived["tag_state"][tag_index], derived["tag_error"][tag_index])
    reject("unknown_status", status == UNKNOWN_STATUS)
    reject("missing_trace_id", no_trace)
    reject("missing_span_id", no_span)
    reject("missing_service", no_service)

    kind_codes = np.array(kinds, dtype=np.int64)
    kind_codes[(kind_codes < 0) | (kind_codes >= len(_KIND_CODES))] = 0
    out: dict[str, Any] = {
        "trace_id": trace_hex,
        "span_id": span_hex,
        "parent_id": parent_hex,
        "service": services,
        "operation": np.array(names, dtype=object),
        "start_us": start_us,
        "duration_us": duration_us,
        "kind": _KIND_CODES[kind_codes],
        "status": status,
        "pod": pods,
    }
    for column in (*ATTRIBUTE_TAGS, "http_status", "grpc_status"):
        if pd.notna(derived[column]).any():  # a column any span of the request has, as the JSON reader keeps it
            out[column] = derived[column][tag_index]
    if drop.any():
        keep = ~drop
        index, mask = np.flatnonzero(keep), pa.array(keep)
        out = {k: v.filter(mask) if isinstance(v, pa.Array) else v[index] for k, v in out.items()}
    return SpanColumns(out, rejected)


def _empty_columns() -> SpanColumns:
    ids = pa.array([], type=pa.string())
    texts = np.zeros(0, dtype=object)
    numbers = np.zeros(0, dtype=np.int64)
    codes = np.zeros(0, dtype=np.int8)
    columns = {"trace_id": ids, "span_id": ids, "parent_id": ids, "service": texts, "operation": texts}
    columns |= {"start_us": numbers, "duration_us": numbers, "kind": codes, "status": codes, "pod": texts}
    return SpanColumns(columns, Counter())


def spanframe_of(
    parts: Sequence[SpanColumns], source: str = "OTLP protobuf", skipped: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """One SpanFrame of the spans of ``parts``, in order; ``attrs["skipped"]`` adds up what the parts
    rejected, ``skipped`` and the spans :func:`collectors.make_spanframe` drops (a span sent in two
    requests is ``duplicate_span``). Kinds left unknown are inferred over all the parts together."""
    counts: Counter[str] = Counter(dict(skipped or {}))
    for part in parts:
        counts.update(part.rejected)
    sizes = [len(part) for part in parts]

    def column(name: str) -> list:
        return [
            part.columns[name] if name in part.columns else np.full(size, None, dtype=object)
            for part, size in zip(parts, sizes)
        ]

    def text(name: str) -> pd.Series:
        arrays = [pa.array(a, type=pa.string()) if isinstance(a, np.ndarray) else a for a in column(name)]
        joined = pa.concat_arrays(arrays) if arrays else pa.array([], type=pa.string())
        return pd.Series(pd.arrays.ArrowStringArray(joined), copy=False)

    def joined(name: str, dtype=None) -> np.ndarray:
        arrays = column(name)
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype or object)

    frame = pd.DataFrame(
        {
            "trace_id": text("trace_id"),
            "span_id": text("span_id"),
            "parent_id": text("parent_id"),
            "service": pd.Categorical(joined("service")),
            "operation": pd.Categorical(joined("operation")),
            "start_us": joined("start_us", np.int64),
            "duration_us": joined("duration_us", np.int64),
            "kind": pd.Categorical.from_codes(joined("kind", np.int8), dtype=KIND_DTYPE),
            "status": pd.Categorical.from_codes(joined("status", np.int8), dtype=STATUS_DTYPE),
            "pod": pd.Categorical(joined("pod")),
        }
    )
    for name in ATTRIBUTE_TAGS:
        if any(name in part.columns for part in parts):
            frame[name] = text(name)
    for name in ("http_status", "grpc_status"):
        if any(name in part.columns for part in parts):
            frame[name] = pd.array(joined(name), dtype="Int64")
    frame = make_spanframe(frame, source=source, skipped=counts)
    if len(frame) and (frame["kind"] == "unknown").any():
        frame["kind"] = infer_kinds(frame, only_unknown=True)
    return frame


def hex_ids(values) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Ids (bytes, of any lengths) as lower-case hex text (an Arrow array, null when empty or all
    zero), the mask of the all-zero ones and the mask of the empty ones."""
    n = len(values)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
    present = lengths > 0
    joined = b"".join(values)
    if 2 * len(joined) >= 2**31:
        raise CollectError(f"{n} ids of {len(joined)} bytes in all: more than one Arrow text array holds")
    ends = np.cumsum(lengths)
    nonzero = np.concatenate(([0], np.cumsum(np.frombuffer(joined, dtype=np.uint8) != 0)))
    zero = present & (nonzero[ends] == nonzero[ends - lengths])
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = 2 * ends
    valid = present & ~zero
    buffers = [
        pa.py_buffer(np.packbits(valid, bitorder="little")),
        pa.py_buffer(offsets),
        pa.py_buffer(joined.hex().encode()),
    ]
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=int(n - valid.sum())), zero, ~present


def span_times(start: np.ndarray, end: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Start and duration in µs (``end//1000 - start//1000``, as the JSON reader) of uint64 nanosecond
    times, and the masks of the spans whose times cannot be kept, by reason (each span counted
    once, under its first reason; spans already in ``drop`` not at all)."""
    pending = ~drop
    bad = {}
    for reason, mask in (
        ("invalid_start_time", start == 0),
        ("start_out_of_range", start >= INT64_LIMIT),
        ("invalid_duration", (end == 0) | (end >= INT64_LIMIT)),
        ("negative_duration", end < start),
    ):
        bad[reason] = mask & pending
        pending &= ~mask
    start_ns = np.where(pending, start, 0).astype(np.int64)
    end_ns = np.where(pending, end, 0).astype(np.int64)
    start_us = start_ns // 1000
    return start_us, end_ns // 1000 - start_us, bad


def _status_codes(raw_status) -> np.ndarray:
    known: dict[bytes, int] = {}
    for raw in set(raw_status):
        known[raw] = Status.FromString(raw).code
    return np.fromiter(map(known.__getitem__, raw_status), dtype=np.int64, count=len(raw_status))


def _derived_tags(attributes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per span, the index of its distinct set of the attributes the SpanFrame reads; per such set,
    what it says (``tag_state``, ``tag_error`` for the status, and the optional columns)."""
    index: dict[tuple, int] = {}
    position = np.fromiter(
        (index.setdefault(tuple(map(a.get, _KEYS)), len(index)) for a in attributes),
        dtype=np.int64,
        count=len(attributes),
    )
    names = ("tag_state", "tag_error", *ATTRIBUTE_TAGS, "http_status", "grpc_status")
    said = [_DERIVED.get(raw) or _derive_raw(raw) for raw in index]
    out = {name: np.array(values, dtype=object) for name, values in zip(names, zip(*said))}
    out["tag_error"] = out["tag_error"].astype(bool)
    out["tag_state"] = out["tag_state"].astype(np.int8)
    return position, out


_DERIVED: dict[tuple, tuple] = {}
"""What :func:`derive` said of a set of raw attribute values (``tag_state`` as a position), kept
across requests: spans repeat a few such sets, and deriving one costs more than a span's decoding."""
_DERIVED_MAX_SETS = 4096
_DERIVED_MAX_BYTES = 512


def _derive_raw(raw: tuple) -> tuple:
    tags = {key: any_value(AnyValue.FromString(v)) for key, v in zip(_KEYS, raw) if v is not None}
    state, *rest = derive(tags)
    said = (STATUSES.index(state) if state in STATUSES else UNKNOWN_STATUS, *rest)
    if sum(len(v) for v in raw if v is not None) <= _DERIVED_MAX_BYTES:
        if len(_DERIVED) >= _DERIVED_MAX_SETS:
            _DERIVED.clear()
        _DERIVED[raw] = said
    return said


def derive(tags: Mapping[str, object]) -> tuple:
    """What a span's attributes say: the OpenTelemetry status they give (``otel.status_code`` or
    ``status.code``, read where ``Status.code`` is unset), whether they mark an error (``error``
    true, HTTP >= 500, gRPC != 0), and the optional columns, by the rules of :mod:`collectors.status`."""
    state = "unset"
    for key in OTEL_STATUS_KEYS:
        if key in tags and state == "unset":
            state = otel_status(tags[key])
    error = False
    if "error" in tags:
        value = tags["error"]
        error = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    http, grpc = http_status(tags), grpc_status(tags)
    error = error or (http is not None and http >= 500) or (grpc is not None and grpc != 0)
    texts = [_first_text(tags, keys) for keys in ATTRIBUTE_TAGS.values()]
    return (state, error, *texts, int64_code(http), int64_code(grpc))


def combine_status(codes: np.ndarray, tag_state: np.ndarray, tag_error: np.ndarray) -> np.ndarray:
    """:func:`collectors.status.status_from_tags`, vectorized, as positions in ``STATUSES``:
    ``Status.code`` (2 error, 1 ok, any other non-zero code :data:`UNKNOWN_STATUS`) where set, else
    the attributes' OpenTelemetry status (``tag_state``, positions too); error wherever the
    attributes mark one (``tag_error``)."""
    error, ok = STATUSES.index("error"), STATUSES.index("ok")
    state = np.where(codes == 2, error, np.where(codes == 1, ok, np.where(codes == 0, tag_state, UNKNOWN_STATUS)))
    return np.where(tag_error, error, state).astype(np.int8)


def _first_text(tags: Mapping[str, object], keys) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def read_otlp_protobuf(path) -> pd.DataFrame:
    """SpanFrame of a file holding one ``ExportTraceServiceRequest`` (or ``TracesData``), gzip or not."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if data[:2] == _GZIP_MAGIC:
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CollectError(f"{path}: cannot read: {exc}") from exc
    return decode_traces(data, source=str(path))


def _varint(data: bytes, at: int) -> tuple[int, int] | None:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    return None


def looks_like_otlp_protobuf(head: bytes, complete: bool | None = None) -> bool:
    """True when ``head``, the first bytes of a file, holds an ``ExportTraceServiceRequest``.

    ``complete`` (default: ``head`` is shorter than :data:`HEAD_BYTES`, the part a format sniffer
    reads) says ``head`` is the whole file: then the official class must parse it and find spans.
    A cut-short head must be a run of ``resource_spans`` fields (1, length-delimited) whose first
    one holds only fields of ``ResourceSpans`` (1, 2, 3 or 1000, length-delimited); text (JSON, CSV)
    would need a newline, a length and a newline at the offsets of that run all the way through."""
    if head[:2] == _GZIP_MAGIC:
        inflater = zlib.decompressobj(wbits=31)
        try:
            inflated = inflater.decompress(head, HEAD_BYTES)
        except zlib.error:
            return False
        complete = inflater.eof if complete is None else complete
        head = inflated
    if complete is None:
        complete = len(head) < HEAD_BYTES
    if complete:
        try:
            return count_spans(parse_request(head)) > 0
        except CollectError:
            return False
    at, first = 0, True
    while at < len(head):
        if head[at] != 0x0A:
            return False
        length = _varint(head, at + 1)
        if length is None:
            return False
        size, start = length
        if first and not _resource_spans_prefix(head[start : start + size]):
            return False
        first = False
        at = start + size
    return not first


def _resource_spans_prefix(body: bytes) -> bool:
    at = 0
    while at < len(body):
        tag = _varint(body, at)
        if tag is None:
            return False
        key, at = tag
        if key & 7 != _WIRE_LEN or key >> 3 not in (1, 2, 3, _INSTRUMENTATION_LIBRARY_SPANS):
            return False
        length = _varint(body, at)
        if length is None:
            return False
        size, at = length
        at += size
    return True
