"""PodSeries and OperationSeries: a service's server-side spans split by pod, or by operation.

- :func:`pod_series`: per (bucket, service, pod) the pod's own server spans;
- :func:`operation_series`: per (bucket, service, operation) the server spans of each operation.

Columns: ``calls``, ``errors``, ``error_rate``, ``latency_mean_ms``, ``latency_p50_ms``,
``latency_p90_ms``. Unlike the EdgeSeries, rows exist only where the pod (operation) served a
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

PART_SERIES_COLUMNS = ("calls", "errors", "error_rate", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms")


def pod_series(spans: pd.DataFrame, bucket="30s", start=None, end=None, origin=None) -> pd.DataFrame:
    """PodSeries, indexed ``(time, service, pod)`` (module docstring)."""
    return _part_series(spans, "pod", bucket, start, end, origin)


def operation_series(spans: pd.DataFrame, bucket="30s", start=None, end=None, origin=None) -> pd.DataFrame:
    """OperationSeries, indexed ``(time, service, operation)`` (module docstring)."""
    return _part_series(spans, "operation", bucket, start, end, origin)


def _part_series(spans: pd.DataFrame, part: str, bucket, start, end, origin) -> pd.DataFrame:
    needed = ("service", part, "kind", "start_us", "duration_us", "status")
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
    frame = spans.loc[keep, ["service", part, "start_us", "duration_us", "status"]]
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
    grouped = table.groupby(["time", "service", part], sort=True)["ms"]
    out = pd.DataFrame(
        {
            "calls": grouped.size().astype("int64"),
            "errors": table.groupby(["time", "service", part], sort=True)["error"].sum().astype("int64"),
            "latency_mean_ms": grouped.mean(),
            "latency_p50_ms": grouped.quantile(0.5),
            "latency_p90_ms": grouped.quantile(0.9),
        }
    )
    out["error_rate"] = out["errors"] / out["calls"]
    out = out[list(PART_SERIES_COLUMNS)]
    times = pd.to_datetime(out.index.get_level_values("time"), unit="us", utc=True).astype("datetime64[ns, UTC]")
    out.index = pd.MultiIndex.from_arrays(
        [times, out.index.get_level_values("service"), out.index.get_level_values(part)],
        names=["time", "service", part],
    )
    out.attrs["bucket"] = pd.Timedelta(microseconds=width)
    out.attrs["unattributed"] = unattributed
    return out
