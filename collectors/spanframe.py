"""The SpanFrame: one pandas DataFrame schema that every span source ends in.

Columns (see ``../shared/DESIGN.md``):

========== ===================== ==============================================
column     dtype                 meaning
========== ===================== ==============================================
trace_id   string (pyarrow)      trace identifier
span_id    string (pyarrow)      span identifier, unique within a trace
parent_id  string (pyarrow)      parent span id; <NA> for a root span
service    category              service that emitted the span
operation  category              operation / RPC method name
start_us   int64                 start time, microseconds since the Unix epoch
duration_us int64                duration in microseconds (>= 0)
kind       category (fixed)      server/client/internal/producer/consumer/unknown
status     category (fixed)      ok/error/unset
pod        category              pod / host instance; <NA> when unknown
========== ===================== ==============================================

Optional columns (kept when present, never required): ``peer_service``,
``rpc_service``, ``rpc_method``, ``server_address``, ``http_status`` (Int64),
``grpc_status`` (Int64). Other extra columns pass through unchanged.

:func:`make_spanframe` is the one validating constructor. Rows it cannot keep are
dropped *and counted* by reason in ``frame.attrs["skipped"]``; read them with
:func:`skipped_counts`.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from collectors.errors import CollectError
from collectors.keys import cycle_members, duplicate_spans, id_codes, parent_positions
from core import units

KINDS = ("server", "client", "internal", "producer", "consumer", "unknown")
STATUSES = ("ok", "error", "unset")

ID_DTYPE = pd.StringDtype("pyarrow")
KIND_DTYPE = pd.CategoricalDtype(list(KINDS))
STATUS_DTYPE = pd.CategoricalDtype(list(STATUSES))

SPAN_COLUMNS = (
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
)
OPTIONAL_STRING_COLUMNS = ("peer_service", "rpc_service", "rpc_method", "server_address")
OPTIONAL_INT_COLUMNS = ("http_status", "grpc_status")

MAX_DURATION_US = 86_400 * 10**6
"""Longest span kept: one day. Longer ones are almost always a unit slip or a broken clock."""
LAST_START_US = pd.Timestamp.max.value // 1000
"""Latest start time a SpanFrame holds (2262-04-11: the end of int64 nanosecond timestamps)."""
SKIP_REASONS = {
    "invalid_start_time": "start time missing, not a number, not finite, or beyond every unit of core.units",
    "start_out_of_range": "start time before 1970 or after 2262",
    "invalid_duration": "duration missing, not a number or not finite",
    "negative_duration": "duration below 0",
    "duration_out_of_range": "duration over one day (MAX_DURATION_US)",
    "unknown_kind": "a span kind that is none of KINDS",
    "unknown_status": "a status that is none of STATUSES (nor a code the reader knows)",
    "missing_trace_id": "empty trace id",
    "missing_span_id": "empty span id",
    "zero_trace_id": "an all-zero OTLP trace id (invalid in OTLP)",
    "zero_span_id": "an all-zero OTLP span id (invalid in OTLP)",
    "malformed_trace": "a Jaeger trace that is not an object with a list of spans",
    "malformed_span": "a span that is not a JSON object",
    "malformed_document": "an OTLP document that is not an object with a list of resourceSpans",
    "malformed_resource": "an OTLP resourceSpans entry that is not an object",
    "malformed_line": "a JSON-lines line that is not valid JSON",
    "malformed_row": "a CSV row with the wrong number of fields",
    "verbatim_duplicate": "a Nezha row repeated verbatim in an adjacent minute file",
    "not_span_file": "a file of a directory that is not a span file",
    "missing_service": "empty service name",
    "duplicate_span": "a (trace_id, span_id) seen before; the first is kept",
    "parent_cycle": "the span's parent links form a cycle (each such span is dropped)",
}
_US = 2  # the code of microseconds in core.units.unit_codes
_NUMERIC_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def make_spanframe(
    data: pd.DataFrame,
    *,
    source: str = "spans",
    skipped: Mapping[str, int] | None = None,
    drop_duplicates: bool = True,
    drop: np.ndarray | None = None,
    converted: Mapping[str, int] | None = None,
    check_cycles: bool = True,
    warn: bool = True,
) -> pd.DataFrame:
    """Validate and normalise ``data`` into a SpanFrame.

    ``source`` names the input in error messages. ``skipped`` carries counts of
    records a loader already dropped (reason -> count); they are merged with the
    rows dropped here (:data:`SKIP_REASONS` says what each reason means).

    ``start_us`` is read by the unit rule of :mod:`core.units` (documented unit: microseconds;
    a start in seconds, milliseconds or nanoseconds is converted and its duration with it);
    ``converted`` carries the conversions a loader already made. Every conversion is counted in
    ``frame.attrs["converted"]`` and, with ``warn``, told by one :class:`core.units.UnitWarning`.

    ``drop`` (boolean, one per row) removes rows a loader already decided to drop and
    counted in ``skipped`` — in the same copy as the rows dropped here. ``check_cycles``:
    spans whose parent links form a cycle are dropped (a loader that checks them itself passes
    False).

    A ``data`` that is not a DataFrame, lacks a required column, or has an id column of floats
    raises :class:`CollectError` naming the column; a bad value in one row drops that row, counted.
    """
    if not isinstance(data, pd.DataFrame):
        raise CollectError(f"{source}: expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in SPAN_COLUMNS if c not in data.columns]
    if missing:
        raise CollectError(f"{source}: missing span column(s) {missing}; a SpanFrame needs {list(SPAN_COLUMNS)}")
    counts: Counter[str] = Counter({k: int(v) for k, v in (skipped or {}).items() if v})
    frame = data.reset_index(drop=True)
    n = len(frame)
    keep = np.ones(n, dtype=bool)
    if drop is not None:
        drop = np.asarray(drop, dtype=bool)
        if drop.shape != keep.shape:
            raise CollectError(f"{source}: drop mask has {drop.size} entries for {n} rows")
        keep &= ~drop

    for column in ("trace_id", "span_id", "parent_id"):
        frame[column] = _as_ids(frame[column], column, source)
    start, start_bad = _numbers(frame["start_us"])
    duration, duration_bad = _numbers(frame["duration_us"])
    codes = _start_codes(start)
    conversions = Counter(dict(converted or {}))
    if codes is not None:
        conversions.update(units.conversions(codes[keep & ~start_bad], "us", "start_us"))
        start_bad |= codes < 0
        start = units.convert(start, codes, "us")
        if (codes != _US).any():
            duration = units.follow(duration, codes, "us", "us")
    elif start.dtype != np.int64:
        start = _rounded(start, start_bad)
    if duration.dtype != np.int64:
        duration_bad |= ~np.isfinite(duration)
        too_big = ~duration_bad & (np.abs(duration) > MAX_DURATION_US)
        duration = np.where(duration_bad | too_big, 0, np.round(np.where(duration_bad, 0, duration))).astype(np.int64)
        duration[too_big] = MAX_DURATION_US + 1
    for bad, reason in (
        (start_bad, "invalid_start_time"),
        ((start < 0) | (start > LAST_START_US), "start_out_of_range"),
        (duration_bad, "invalid_duration"),
        (duration < 0, "negative_duration"),
        (duration > MAX_DURATION_US, "duration_out_of_range"),
    ):
        _count(bad, reason, keep, counts)
    frame["start_us"] = start
    frame["duration_us"] = duration

    kind, kind_bad = _as_fixed_category(frame["kind"], KIND_DTYPE, fill="unknown")
    status, status_bad = _as_fixed_category(frame["status"], STATUS_DTYPE, fill="unset")
    frame["kind"], frame["status"] = kind, status
    _count(kind_bad, "unknown_kind", keep, counts)
    _count(status_bad, "unknown_status", keep, counts)
    for column in ("service", "operation", "pod"):
        frame[column] = _as_category(frame[column])
    for column in OPTIONAL_STRING_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_ids(frame[column], column, source)
    for column in OPTIONAL_INT_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_nullable_int(frame[column], column, source)

    for column, reason in (
        ("trace_id", "missing_trace_id"),
        ("span_id", "missing_span_id"),
        ("service", "missing_service"),
    ):
        _count(_blank(frame[column]), reason, keep, counts)
    if not keep.all():
        frame = frame.loc[keep].reset_index(drop=True)
    codes_ids = id_codes(frame) if len(frame) and (drop_duplicates or check_cycles) else None
    if drop_duplicates and codes_ids is not None:
        duplicated = duplicate_spans(frame, codes_ids)
        counts["duplicate_span"] += int(duplicated.sum())
        if duplicated.any():
            frame = frame.loc[~duplicated].reset_index(drop=True)
            codes_ids = (codes_ids[0][~duplicated], codes_ids[1][~duplicated])
    if check_cycles and codes_ids is not None:
        frame = drop_parent_cycles(frame, counts, parent_positions(frame, codes_ids))

    for column in ("service", "operation", "pod"):
        frame[column] = frame[column].cat.remove_unused_categories()
    ordered = list(SPAN_COLUMNS) + [c for c in frame.columns if c not in SPAN_COLUMNS]
    frame = frame[ordered]
    frame.attrs["skipped"] = {k: v for k, v in sorted(counts.items()) if v}
    frame.attrs["source"] = source
    frame.attrs["converted"] = {k: v for k, v in sorted(conversions.items()) if v}
    if warn:
        units.warn_converted(frame.attrs["converted"], source, "us")
    return frame


def drop_parent_cycles(frame: pd.DataFrame, counts: Counter, parent: np.ndarray) -> pd.DataFrame:
    """``frame`` without the spans whose parent links form a cycle (counted as ``parent_cycle``)."""
    members = cycle_members(parent)
    if not members.any():
        return frame
    counts["parent_cycle"] += int(members.sum())
    return frame.loc[~members].reset_index(drop=True)


def _count(bad: np.ndarray, reason: str, keep: np.ndarray, counts: Counter) -> None:
    hit = bad & keep
    if hit.any():
        counts[reason] += int(hit.sum())
        keep &= ~hit


def _numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 or float64 values, unreadable mask) of a time column of any dtype."""
    kind = series.dtype.kind
    if kind == "i":
        return series.to_numpy(dtype=np.int64), np.zeros(len(series), dtype=bool)
    if kind == "u":
        values = series.to_numpy()
        if len(values) and values.max() > np.iinfo(np.int64).max:
            return values.astype(np.float64), np.zeros(len(series), dtype=bool)
        return values.astype(np.int64), np.zeros(len(series), dtype=bool)
    if kind == "f":
        values = series.to_numpy(dtype=np.float64)
        return values, ~np.isfinite(values)
    if kind == "b" or isinstance(series.dtype, pd.CategoricalDtype):
        return np.zeros(len(series), dtype=np.float64), np.ones(len(series), dtype=bool)
    objects = series.astype(object).to_numpy()
    values = np.array([_number(v) for v in objects], dtype=np.float64)
    return values, ~np.isfinite(values)


def _number(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC_TEXT.match(text):
            return math.nan
        value = text
    try:
        return float(value)
    except (ValueError, OverflowError):
        return math.nan


def _start_codes(start: np.ndarray) -> np.ndarray | None:
    """Unit codes of the start times, or None when every one is already a microsecond time (or small)."""
    if not len(start):
        return None
    finite = start if start.dtype == np.int64 else start[np.isfinite(start)]
    if not len(finite):
        return None
    magnitude = np.abs(finite)
    low, high = float(magnitude.min()), float(magnitude.max())
    if high < units.LOW or (low >= 1e14 and high < 1e17):
        return None
    return units.unit_codes(start, "us")


def _rounded(values: np.ndarray, bad: np.ndarray) -> np.ndarray:
    clean = np.where(bad, 0.0, values)
    out = np.zeros(len(values), dtype=np.int64)
    fits = np.abs(clean) < 9e18
    out[fits] = np.round(clean[fits]).astype(np.int64)
    bad |= ~fits
    return out


def empty_spanframe(source: str = "spans") -> pd.DataFrame:
    """A SpanFrame with no rows (every column typed)."""
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in SPAN_COLUMNS})
    empty["start_us"] = empty["start_us"].astype("int64")
    empty["duration_us"] = empty["duration_us"].astype("int64")
    return make_spanframe(empty, source=source)


def skipped_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Reason -> number of records dropped while this SpanFrame was built."""
    return dict(frame.attrs.get("skipped", {}))


def _blank(series: pd.Series) -> np.ndarray:
    values = series.isna().to_numpy()
    if series.dtype == ID_DTYPE:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = pa.array(series.array)
        empty = pc.fill_null(pc.or_(pc.equal(pc.utf8_length(array), 0), pc.utf8_is_space(array)), False)
        return values | np.asarray(empty, dtype=bool)
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = series.cat.categories.astype(str)
        blank_codes = np.flatnonzero(cats.str.strip() == "")
        return values | np.isin(series.cat.codes.to_numpy(), blank_codes)
    return values | (series.fillna("x").astype(str).str.strip() == "").to_numpy()


def _as_ids(series: pd.Series, column: str, source: str) -> pd.Series:
    if series.dtype == ID_DTYPE:
        return series
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if pd.api.types.is_float_dtype(series.dtype) and series.notna().any():
        raise CollectError(f"{source}: column {column!r} holds floats; ids must be strings")
    try:
        out = series.astype(ID_DTYPE)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise CollectError(f"{source}: column {column!r} cannot be read as text ids: {exc}") from exc
    return out.mask(out.str.len() == 0)


def _as_nullable_int(series: pd.Series, column: str, source: str) -> pd.Series:
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & ~series.isna()
    if bad.any():
        raise CollectError(f"{source}: column {column!r} must be an integer code; found {series[bad].iloc[0]!r}")
    return numeric.round().astype("Int64")


def _as_category(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        if series.cat.categories.dtype == object or pd.api.types.is_string_dtype(series.cat.categories):
            return series
    return series.astype("category")


def _as_fixed_category(series: pd.Series, dtype: pd.CategoricalDtype, *, fill: str) -> tuple[pd.Series, np.ndarray]:
    """The column in ``dtype`` (missing -> ``fill``) and the mask of values not among its categories."""
    if series.dtype == dtype:
        return series.fillna(fill), np.zeros(len(series), dtype=bool)
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = pd.Index(series.cat.categories.astype(str).str.strip().str.lower())
        mapped = np.asarray([dtype.categories.get_loc(c) if c in dtype.categories else -1 for c in categories])
        codes = series.cat.codes.to_numpy()
        new = np.where(codes >= 0, np.append(mapped, -1)[codes], dtype.categories.get_loc(fill))
        bad = new < 0
        return pd.Series(pd.Categorical.from_codes(np.where(bad, dtype.categories.get_loc(fill), new), dtype=dtype),
                         index=series.index), bad  # fmt: skip
    text = series.astype(object).where(series.notna(), fill)
    lowered = pd.Series(text, index=series.index).astype(str).str.strip().str.lower()
    bad = ~lowered.isin(dtype.categories).to_numpy()
    return lowered.where(~bad, fill).astype(dtype), bad
