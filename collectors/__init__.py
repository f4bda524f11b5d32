"""Read distributed-tracing spans from anywhere into one validated SpanFrame."""

from collectors.changes import read_changes
from collectors.errors import CollectError
from collectors.files import detect_format, read_spans, write_spans
from collectors.jaeger_client import JaegerClient
from collectors.jaeger_format import read_jaeger_traces, to_jaeger_traces
from collectors.kinds import infer_kinds
from collectors.otlp import jaeger_to_otlp, read_otlp
from collectors.spanframe import SPAN_COLUMNS, empty_spanframe, make_spanframe, skipped_counts

__all__ = [
    "SPAN_COLUMNS",
    "CollectError",
    "JaegerClient",
    "detect_format",
    "empty_spanframe",
    "infer_kinds",
    "jaeger_to_otlp",
    "make_spanframe",
    "read_changes",
    "read_jaeger_traces",
    "read_otlp",
    "read_spans",
    "skipped_counts",
    "to_jaeger_traces",
    "write_spans",
]
