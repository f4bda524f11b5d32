"""Read distributed-tracing spans from anywhere into one validated SpanFrame."""
from collectors.errors import CollectError
from collectors.spanframe import SPAN_COLUMNS, make_spanframe, skipped_counts

__all__ = ["CollectError", "SPAN_COLUMNS", "make_spanframe", "skipped_counts"]
