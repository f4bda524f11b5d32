"""Read distributed-tracing spans from anywhere into one validated SpanFrame."""
from collectors.errors import CollectError
from collectors.files import detect_format, read_spans, write_spans
from collectors.kinds import infer_kinds
from collectors.spanframe import SPAN_COLUMNS, empty_spanframe, make_spanframe, skipped_counts

__all__ = [
    "CollectError", "SPAN_COLUMNS", "detect_format", "empty_spanframe", "infer_kinds", "make_spanframe",
    "read_spans", "skipped_counts", "write_spans",
]
