"""EdgeSeries and ServiceSeries: per edge / per service, regular time buckets, empty buckets explicit.

Buckets are aligned to multiples of the bucket width since ``origin`` (default the Unix
epoch; pass e.g. a fault's injection time to start a bucket there); a call belongs
to the bucket holding its caller-side start time. Percentiles use linear interpolation
between order statistics (``numpy.quantile``'s default).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.times import to_timedelta, to_us
from graph.calls import calls as build_calls
from graph.calls import is_calls_table
from graph.errors import GraphError

QUANTILES = (0.5, 0.9, 0.99)
SERVER_KINDS = ("server", "consumer")
SERVICE_SERIES_COLUMNS = (
    "calls",
    "errors",
    "error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
)
EDGE_SERIES_COLUMNS = (*SERVICE_SERIES_COLUMNS, "server_mean_ms", "server_p50_ms", "server_p90_ms", "server_p99_ms")


def _bucket_us(bucket) -> int:
    width = to_timedelta(bucket, "bucket", error=GraphError, positive=True)
    us = int(width.value // 1000)
    if us <= 0:
        raise GraphError(f"bucket: must be at least 1 microsecond, got {bucket!r}")
    return us


def _grid(times_us: np.ndarray, width: int, start, end, origin_us: int = 0) -> tuple[int, int]:
    """First bucket index (counted from ``origin_us``) and number of buckets."""
    start_us = _time_us(start, "start")
    end_us = _time_us(end, "end")
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise GraphError(f"end ({end}) must be after start ({start})")
    if start_us is None:
        if not len(times_us):
            return 0, 0
        start_us = int(times_us.min())
    if end_us is None:
        if not len(times_us):
            return 0, 0
        end_us = int(times_us.max()) + 1
    first = (start_us - origin_us) // width
    last = -(-(end_us - origin_us) // width)
    return int(first), max(int(last - first), 0)


def _time_us(value, name):
    return to_us(value, name, error=GraphError)


def group_quantiles(groups: np.ndarray, values: np.ndarray, n_groups: int, qs=QUANTILES) -> np.ndarray:
    """Per-group quantiles (linear interpolation); NaN for empty groups. Shape (n_groups, len(qs))."""
    out = np.full((n_groups, len(qs)), np.nan)
    if not len(values):
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order].astype(np.float64)
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = np.flatnonzero(counts)
    for j, q in enumerate(qs):
        pos = q * (counts[present] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        frac = pos - lo
        a, b = v[starts[present] + lo], v[starts[present] + hi]
        out[present, j] = a + (b - a) * frac
    return out


def _stats(groups, n_groups, values_us, errors):
    calls = np.bincount(groups, minlength=n_groups).astype(np.int64)
    errs = np.bincount(groups, weights=errors, minlength=n_groups).astype(np.int64)
    ok = ~np.isnan(values_us)
    g, v = groups[ok], values_us[ok]
    count = np.bincount(g, minlength=n_groups)
    total = np.bincount(g, weights=v, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan) / 1000.0
        rate = np.where(calls > 0, errs / np.maximum(calls, 1), np.nan)
    quant = group_quantiles(g, v, n_groups) / 1000.0
    return calls, errs, rate, mean, quant


def _index(
    first: int, n_buckets: int, width: int, keys: list[tuple], names: tuple[str, ...], origin_us: int = 0
) -> pd.MultiIndex:
    times = pd.to_datetime(((first + np.arange(n_buckets, dtype=np.int64)) * width + origin_us) * 1000, utc=True)
    times = times.as_unit("ns")
    n_keys = len(keys)
    time_level = np.repeat(np.arange(n_buckets), n_keys)
    arrays = [times[time_level]]
    for i, _ in enumerate(names):
        level = np.asarray([k[i] for k in keys], dtype=object)
        arrays.append(np.tile(level, n_buckets))
    return pd.MultiIndex.from_arrays(arrays, names=["time", *names])


def _edges(table: pd.DataFrame) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Sorted distinct (caller, callee) pairs and each call's position among them."""
    if not len(table):
        return [], np.zeros(0, dtype=np.int64)
    caller = pd.Categorical(table["caller"])
    callee = pd.Categorical(table["callee"])
    width = np.int64(len(callee.categories) + 1)
    caller_names = caller.categories.astype(object)
    callee_names = callee.categories.astype(object)
    pair = caller.codes.astype(np.int64) * width + callee.codes.astype(np.int64)
    unique, codes = np.unique(pair, return_inverse=True)
    named = [(str(caller_names[u // width]), str(callee_names[u % width])) for u in unique]
    order = sorted(range(len(named)), key=lambda i: named[i])
    rank = np.empty(len(named), dtype=np.int64)
    rank[order] = np.arange(len(named))
    return [named[i] for i in order], rank[codes.ravel()]


def edge_series(
    spans: pd.DataFrame, bucket="30s", start=None, end=None, callee_map: Mapping[str, str] | None = None, origin=None
) -> pd.DataFrame:
    """EdgeSeries (see docs/interfaces.md): per (bucket, caller, callee) calls, errors, error
    rate, caller-waited latency mean/p50/p90/p99 and callee-spent ``server_*`` in ms.

    ``spans`` is a SpanFrame or a table from :func:`graph.calls`. Buckets are aligned to
    ``origin`` (a time; default the Unix epoch), e.g. a fault's injection time.
    """
    table = spans if is_calls_table(spans) else build_calls(spans, callee_map)
    width = _bucket_us(bucket)
    origin_us = _time_us(origin, "origin") or 0
    t = table["start_us"].to_numpy(np.int64)
    first, n_buckets = _grid(t, width, start, end, origin_us)
    edges, edge_codes = _edges(table)
    n_edges = len(edges)
    n_groups = n_buckets * n_edges
    columns = EDGE_SERIES_COLUMNS
    if n_groups == 0:
        frame = pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c in ("calls", "errors") else "float64") for c in columns}
        )
        frame.index = _index(first, 0, width, [], ("caller", "callee"), origin_us)
        frame.attrs["bucket"] = pd.Timedelta(microseconds=width)
        return frame
    b = (t - origin_us) // width - first
    inside = (b >= 0) & (b < n_buckets)
    e = edge_codes[inside]
    g = (b[inside] * n_edges + e).astype(np.int64)
    error = table["error"].to_numpy(bool)[inside]
    calls_, errs, rate, mean, quant = _stats(g, n_groups, table["latency_us"].to_numpy(np.float64)[inside], error)
    _, _, _, s_mean, s_quant = _stats(g, n_groups, table["server_us"].to_numpy(np.float64)[inside], error)
    frame = pd.DataFrame(
        {
            "calls": calls_,
            "errors": errs,
            "error_rate": rate,
            "latency_mean_ms": mean,
            "latency_p50_ms": quant[:, 0],
            "latency_p90_ms": quant[:, 1],
            "latency_p99_ms": quant[:, 2],
            "server_mean_ms": s_mean,
            "server_p50_ms": s_quant[:, 0],
            "server_p90_ms": s_quant[:, 1],
            "server_p99_ms": s_quant[:, 2],
        },
        index=_index(first, n_buckets, width, edges, ("caller", "callee"), origin_us),
    )
    frame.attrs["bucket"] = pd.Timedelta(microseconds=width)
    return frame


def service_series(spans: pd.DataFrame, bucket="30s", start=None, end=None, origin=None) -> pd.DataFrame:
    """ServiceSeries: per (bucket, service) the service's own server-side spans: calls, errors,
    error rate, latency mean/p50/p90/p99 in ms. Services that emit no server span are absent.
    Buckets are aligned to ``origin`` as in :func:`edge_series`."""
    if is_calls_table(spans) or "kind" not in spans.columns:
        raise GraphError("service_series needs a SpanFrame (with span kinds), not a calls table")
    width = _bucket_us(bucket)
    origin_us = _time_us(origin, "origin") or 0
    server = spans["kind"].isin(SERVER_KINDS).to_numpy()
    t = spans["start_us"].to_numpy(np.int64)[server]
    first, n_buckets = _grid(t, width, start, end, origin_us)
    service = spans["service"].cat.codes.to_numpy()[server].astype(np.int64)
    present, codes = np.unique(service, return_inverse=True)
    categories = spans["service"].cat.categories.astype(object)
    names = [str(categories[c]) for c in present]
    order = sorted(range(len(names)), key=lambda i: names[i])
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    codes = rank[codes.ravel()] if len(names) else codes.ravel()
    names = [names[i] for i in order]
    n_services = len(names)
    columns = SERVICE_SERIES_COLUMNS
    n_groups = n_buckets * n_services
    keys = [(str(s),) for s in names]
    if n_groups == 0:
        frame = pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c in ("calls", "errors") else "float64") for c in columns}
        )
        frame.index = _index(first, 0, width, [], ("service",), origin_us)
        frame.attrs["bucket"] = pd.Timedelta(microseconds=width)
        return frame
    b = (t - origin_us) // width - first
    inside = (b >= 0) & (b < n_buckets)
    g = (b[inside] * n_services + codes[inside]).astype(np.int64)
    error = (spans["status"] == "error").to_numpy()[server][inside]
    duration = spans["duration_us"].to_numpy(np.float64)[server][inside]
    calls_, errs, rate, mean, quant = _stats(g, n_groups, duration, error)
    frame = pd.DataFrame(
        {
            "calls": calls_,
            "errors": errs,
            "error_rate": rate,
            "latency_mean_ms": mean,
            "latency_p50_ms": quant[:, 0],
            "latency_p90_ms": quant[:, 1],
            "latency_p99_ms": quant[:, 2],
        },
        index=_index(first, n_buckets, width, keys, ("service",), origin_us),
    )
    frame.attrs["bucket"] = pd.Timedelta(microseconds=width)
    return frame
