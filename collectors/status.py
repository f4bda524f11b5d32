"""Span status from the attributes sources record.

``error`` when any of: an ``error`` tag that is true; the OpenTelemetry status ERROR
(``otel.status_code = ERROR`` in Jaeger, ``status.code = 2 / STATUS_CODE_ERROR`` in OTLP);
an HTTP response status >= 500 (``http.status_code``, ``http.response.status_code``);
a non-zero gRPC status (``rpc.grpc.status_code``, ``grpc.status_code``). ``ok`` when the
OpenTelemetry status is OK and nothing says error. ``unset`` otherwise (sources without a
status, such as the Nezha CSVs, are ``unset`` throughout). An OpenTelemetry status that is none
of OK / ERROR / UNSET (or 1 / 2 / 0) is returned as it is, lower-cased, so that
:func:`collectors.make_spanframe` drops the span and counts it as ``unknown_status``.
"""

from __future__ import annotations

from collections.abc import Mapping

HTTP_STATUS_KEYS = ("http.status_code", "http.response.status_code")
GRPC_STATUS_KEYS = ("rpc.grpc.status_code", "grpc.status_code")
OTEL_STATUS_KEYS = ("otel.status_code", "status.code")


INT64_LIMIT = 2**63


def int_code(value) -> int | None:
    """A tag's value as an integer code (``503``, ``"503"``, ``503.0``); None for a boolean, a
    missing value or one that is not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def int64_code(code: int | None) -> int | None:
    """A status code for the Int64 columns; None beyond int64 (it still counts in the status)."""
    return code if code is not None and -INT64_LIMIT <= code < INT64_LIMIT else None


def _true(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def http_status(tags: Mapping[str, object]) -> int | None:
    for key in HTTP_STATUS_KEYS:
        if key in tags:
            return int_code(tags[key])
    return None


def grpc_status(tags: Mapping[str, object]) -> int | None:
    for key in GRPC_STATUS_KEYS:
        if key in tags:
            return int_code(tags[key])
    return None


def otel_status(value) -> str:
    """``STATUS_CODE_ERROR`` / ``ERROR`` / 2 -> error; OK / 1 -> ok; missing, empty, UNSET / 0 ->
    unset; any other value is returned lower-cased (an unknown status)."""
    if value is None or isinstance(value, bool):
        return "unset"
    text = str(value).strip().upper().removeprefix("STATUS_CODE_")
    if text in ("ERROR", "2"):
        return "error"
    if text in ("OK", "1"):
        return "ok"
    if text in ("", "UNSET", "0"):
        return "unset"
    return text.lower()


def status_from_tags(tags: Mapping[str, object], otel: object = None) -> str:
    """``error`` / ``ok`` / ``unset`` by the rules in the module docstring."""
    state = otel_status(otel)
    for key in OTEL_STATUS_KEYS:
        if key in tags and state == "unset":
            state = otel_status(tags[key])
    if state == "error" or ("error" in tags and _true(tags["error"])):
        return "error"
    code = http_status(tags)
    if code is not None and code >= 500:
        return "error"
    code = grpc_status(tags)
    if code is not None and code != 0:
        return "error"
    return state
