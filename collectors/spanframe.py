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

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from collectors.errors import CollectError
from collectors.keys import duplicate_spans

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


def make_spanframe(
    data: pd.DataFrame,
    *,
    source: str = "spans",
    skipped: Mapping[str, int] | None = None,
    drop_duplicates: bool = True,
    drop: np.ndarray | None = None,
) -> pd.DataFrame:
    """Validate and normalise ``data`` into a SpanFrame.

    ``source`` names the input in error messages. ``skipped`` carries counts of
    records a loader already dropped (reason -> count); they are merged with the
    rows dropped here:

    - ``missing_trace_id`` / ``missing_span_id`` / ``missing_service``: empty identifiers;
    - ``negative_duration``: duration_us < 0;
    - ``duplicate_span``: a (trace_id, span_id) pair seen before (first one kept).

    ``drop`` (boolean, one per row) removes rows a loader already decided to drop and
    counted in ``skipped`` — in the same copy as the rows dropped here.

    Missing required columns, or values that are not of the column's type, raise
    :class:`CollectError` naming the column and an offending value.
    """
    if not isinstance(data, pd.DataFrame):
        raise CollectError(f"{source}: expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in SPAN_COLUMNS if c not in data.columns]
    if missing:
        raise CollectError(f"{source}: missing span column(s) {missing}; a SpanFrame needs {list(SPAN_COLUMNS)}")
    counts: Counter[str] = Counter({k: int(v) for k, v in (skipped or {}).items() if v})
    frame = data.reset_index(drop=True)

    for column in ("trace_id", "span_id", "parent_id"):
        frame[column] = _as_ids(frame[column], column, source)
    for column in ("start_us", "duration_us"):
        frame[column] = _as_int64(frame[column], column, source)
    frame["kind"] = _as_fixed_category(frame["kind"], KIND_DTYPE, "kind", source, fill="unknown")
    frame["status"] = _as_fixed_category(frame["status"], STATUS_DTYPE, "status", source, fill="unset")
    for column in ("service", "operation", "pod"):
        frame[column] = _as_category(frame[column])
    for column in OPTIONAL_STRING_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_ids(frame[column], column, source)
    for column in OPTIONAL_INT_COLUMNS:
        if column in frame.columns:
            frame[column] = _as_nullable_int(frame[column], column, source)

    keep = np.ones(len(frame), dtype=bool)
    if drop is not None:
        drop = np.asarray(drop, dtype=bool)
        if drop.shape != keep.shape:
            raise CollectError(f"{source}: drop mask has {drop.size} entries for {len(frame)} rows")
        keep &= ~drop
    for column, reason in (
        ("trace_id", "missing_trace_id"),
        ("span_id", "missing_span_id"),
        ("service", "missing_service"),
    ):
        bad = _blank(frame[column]) & keep
        counts[reason] += int(bad.sum())
        keep &= ~bad
    negative = (frame["duration_us"].to_numpy() < 0) & keep
    counts["negative_duration"] += int(negative.sum())
    keep &= ~negative
    if not keep.all():
        frame = frame.loc[keep].reset_index(drop=True)
    if drop_duplicates and len(frame):
        duplicated = _duplicated_ids(frame)
        counts["duplicate_span"] += int(duplicated.sum())
        if duplicated.any():
            frame = frame.loc[~duplicated].reset_index(drop=True)

    for column in ("service", "operation", "pod"):
        frame[column] = frame[column].cat.remove_unused_categories()
    ordered = list(SPAN_COLUMNS) + [c for c in frame.columns if c not in SPAN_COLUMNS]
    frame = frame[ordered]
    frame.attrs["skipped"] = {k: v for k, v in sorted(counts.items()) if v}
    frame.attrs["source"] = source
    return frame


def empty_spanframe(source: str = "spans") -> pd.DataFrame:
    """A SpanFrame with no rows (every column typed)."""
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in SPAN_COLUMNS})
    empty["start_us"] = empty["start_us"].astype("int64")
    empty["duration_us"] = empty["duration_us"].astype("int64")
    return make_spanframe(empty, source=source)


def skipped_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Reason -> number of records dropped while this SpanFrame was built."""
    return dict(frame.attrs.get("skipped", {}))


def _duplicated_ids(frame: pd.DataFrame) -> np.ndarray:
    return duplicate_spans(frame)


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
    except (TypeError, ValueError) as exc:
        raise CollectError(f"{source}: column {column!r} cannot be read as text ids: {exc}") from exc
    return out.mask(out.str.len() == 0)


def _as_int64(series: pd.Series, column: str, source: str) -> pd.Series:
    if series.dtype == np.int64:
        return series
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & ~series.isna() | series.isna()
    if bad.any():
        example = series[bad].iloc[0]
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CollectError(f"{source}: column {column!r} must be integer microseconds; row {row} has {example!r}")
    if pd.api.types.is_float_dtype(numeric.dtype):
        if not np.isfinite(numeric.to_numpy()).all():
            raise CollectError(f"{source}: column {column!r} holds inf values")
        numeric = numeric.round()
    return numeric.astype(np.int64)


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


def _as_fixed_category(
    series: pd.Series, dtype: pd.CategoricalDtype, column: str, source: str, *, fill: str
) -> pd.Series:
    if series.dtype == dtype:
        return series.fillna(fill)
    text = series.astype(object).where(series.notna(), fill)
    lowered = pd.Series(text, index=series.index).astype(str).str.lower()
    invalid = ~lowered.isin(dtype.categories)
    if invalid.any():
        raise CollectError(
            f"{source}: column {column!r} has {lowered[invalid].iloc[0]!r}; allowed values are {list(dtype.categories)}"
        )
    return lowered.astype(dtype)
