"""PodSeries and OperationSeries: a service's server-side spans split by pod, or by operation.

- :func:`pod_series`: per (bucket, service, pod) the pod's own server spans;
- :func:`operation_series`: per (bucket, service, operation) the server spans of each operation.

Columns: ``calls``, ``errors``, ``error_rate``, ``latency_mean_ms``, ``latency_p50_ms``,
``latency_p90_ms``, and what belongs to the span itself rather than to what it called:
``self_mean_ms`` (its duration minus the summed durations of its direct children, at least 0;
parallel children make this an underestimate) and ``own_error_rate`` (the share of its spans in
error while none of their children is: an error raised here, not passed on from a callee);
``gap_mean_ms``: for server spans called by a client span, the client's duration minus the
server's (network and queueing on the way in; NaN where no span has a client parent).
Unlike the EdgeSeries, rows exist only where the pod (operation) served a
call in the bucket: a pod that did not exist yet has no rows, which is what the comparison of a
new pod with its siblings needs. Buckets are aligned to ``origin`` as in
:func:`graph.edge_series`; spans without a pod (or operation) are left out and counted in
``frame.attrs["unattributed"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.errors import GraphError
from graph.series import SERVER_KINDS, _bucket_us, _time_us

PART_SERIES_COLUMNS = (
    "calls",
    "errors",
    "error_rate",
    "own_error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "self_mean_ms",
    "gap_mean_ms",
)


def pod_series(spans: pd.DataFrame, bucket="30s", start=None, end=None, origin=None) -> pd.DataFrame:
    """PodSeries, indexed ``(time, service, pod)`` (module docstring)."""
    return _part_series(spans, "pod", bucket, start, end, origin)


def operation_series(spans: pd.DataFrame, bucket="30s", start=None, end=None, origin=None) -> pd.DataFrame:
    """OperationSeries, indexed ``(time, service, operation)`` (module docstring)."""
    return _part_series(spans, "operation", bucket, start, end, origin)


def _children(spans: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per span: the summed duration (µs) of its direct children, and whether any child is in error."""
    parents = spans[spans["parent_id"].notna()]
    if parents.empty:
        return np.zeros(len(spans)), np.zeros(len(spans), dtype=bool)
    key = ["trace_id", "parent_id"]
    child = pd.DataFrame(
        {
            "trace_id": parents["trace_id"].astype(str).to_numpy(),
            "parent_id": parents["parent_id"].astype(str).to_numpy(),
            "us": parents["duration_us"].to_numpy(np.float64),
            "error": (parents["status"] == "error").to_numpy(),
        }
    )
    summed = child.groupby(key, sort=False).agg(us=("us", "sum"), error=("error", "any"))
    own = pd.MultiIndex.from_arrays(
        [spans["trace_id"].astype(str).to_numpy(), spans["span_id"].astype(str).to_numpy()], names=key
    )
    aligned = summed.reindex(own)
    return aligned["us"].fillna(0.0).to_numpy(), aligned["error"].fillna(False).to_numpy(bool)


def _client_parent_duration(spans: pd.DataFrame) -> np.ndarray:
    """Per span: the duration (µs) of its parent when the parent is a client span, else NaN."""
    key = ["trace_id", "span_id"]
    clients = spans[spans["kind"] == "client"]
    durations = pd.Series(
        clients["duration_us"].to_numpy(np.float64),
        index=pd.MultiIndex.from_arrays(
            [clients["trace_id"].astype(str).to_numpy(), clients["span_id"].astype(str).to_numpy()], names=key
        ),
    )
    durations = durations[~durations.index.duplicated()]
    parent = pd.MultiIndex.from_arrays(
        [spans["trace_id"].astype(str).to_numpy(), spans["parent_id"].astype(str).to_numpy()], names=key
    )
    return durations.reindex(parent).to_numpy()


def _part_series(spans: pd.DataFrame, part: str, bucket, start, end, origin) -> pd.DataFrame:
    needed = ("trace_id", "span_id", "parent_id", "service", part, "kind", "start_us", "duration_us", "status")
    if not isinstance(spans, pd.DataFrame) or any(c not in spans.columns for c in needed):
        raise GraphError(f"{part}_series needs a SpanFrame with columns {list(needed)}")
    width = _bucket_us(bucket)
    origin_us = _time_us(origin, "origin") or 0
    lo, hi = _time_us(start, "start"), _time_us(end, "end")
    server = spans["kind"].isin(SERVER_KINDS).to_numpy()
    t = spans["start_us"].to_numpy(np.int64)
    keep = server.copy()
    if lo is not None:
        keep &= t >= lo
    if hi is not None:
        keep &= t < hi
    child_ms, child_error = _children(spans)
    parent_us = _client_parent_duration(spans)
    frame = spans.loc[keep, ["service", part, "start_us", "duration_us", "status"]]
    frame = frame.assign(child_us=child_ms[keep], child_error=child_error[keep], parent_us=parent_us[keep])
    unattributed = int(frame[part].isna().sum())
    frame = frame[frame[part].notna()]
    table = pd.DataFrame(
        {
            "time": origin_us + (frame["start_us"].to_numpy(np.int64) - origin_us) // width * width,
            "service": frame["service"].astype(str).to_numpy(),
            part: frame[part].astype(str).to_numpy(),
            "ms": frame["duration_us"].to_numpy(np.float64) / 1000.0,
            "error": (frame["status"] == "error").to_numpy(),
        }
    )
    table["self_ms"] = np.maximum(frame["duration_us"].to_numpy(np.float64) - frame["child_us"].to_numpy(), 0.0) / 1000
    table["own_error"] = table["error"] & ~frame["child_error"].to_numpy(bool)
    table["gap_ms"] = (frame["parent_us"].to_numpy() - frame["duration_us"].to_numpy(np.float64)) / 1000
    keys = ["time", "service", part]
    grouped = table.groupby(keys, sort=True)["ms"]
    out = pd.DataFrame(
        {
            "calls": grouped.size().astype("int64"),
            "errors": table.groupby(keys, sort=True)["error"].sum().astype("int64"),
            "latency_mean_ms": grouped.mean(),
            "latency_p50_ms": grouped.quantile(0.5),
            "latency_p90_ms": grouped.quantile(0.9),
            "self_mean_ms": table.groupby(keys, sort=True)["self_ms"].mean(),
            "own_errors": table.groupby(keys, sort=True)["own_error"].sum(),
            "gap_mean_ms": table.groupby(keys, sort=True)["gap_ms"].mean(),
        }
    )
    out["error_rate"] = out["errors"] / out["calls"]
    out["own_error_rate"] = out["own_errors"] / out["calls"]
    out = out[list(PART_SERIES_COLUMNS)]
    times = pd.to_datetime(out.index.get_level_values("time"), unit="us", utc=True).astype("datetime64[ns, UTC]")
    out.index = pd.MultiIndex.from_arrays(
        [times, out.index.get_level_values("service"), out.index.get_level_values(part)],
        names=["time", "service", part],
    )
    out.attrs["bucket"] = pd.Timedelta(microseconds=width)
    out.attrs["unattributed"] = unattributed
    return out
