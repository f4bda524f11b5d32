"""Incremental bucketing: span batches in, closed buckets of edge and service series out.

The same series as ``graph.edge_series`` / ``graph.service_series`` build in batch, one bucket at
a time. Spans are kept in a buffer until every bucket they can contribute to is final:

- the **watermark** is the latest span start seen minus ``lateness``; a bucket
  ``[b, b + width)`` is closed once the watermark reaches ``b + width`` (or when the stream is
  flushed), and never changes afterwards;
- a call belongs to the bucket of its caller-side start (``graph.calls``). To find both ends of a
  call, a bucket is computed from every buffered span that starts at most ``lookback`` before it,
  so a parent span and a child span up to ``lookback`` earlier are paired as in batch. Spans older
  than that leave the buffer;
- a span that arrives after its bucket closed is **late**: it is counted (``late_spans``, and by
  bucket) but cannot change a closed bucket;
- a bucket in which no span at all starts is a **collection gap** (``ClosedBucket.gap``).

With the same spans, ``lateness`` at least the spread of their arrival order, and no parent more
than ``lookback`` before its child, the closed buckets equal the batch series bucket for bucket
(``tests/monitor/test_buckets.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

import graph as graph_pkg
from collectors.spanframe import SPAN_COLUMNS, make_spanframe
from core.times import bucket_floor, to_timedelta, to_timestamp
from monitor.errors import MonitorError


@dataclass(frozen=True)
class ClosedBucket:
    """One final bucket: its start, the edge rows and service rows (EdgeSeries / ServiceSeries
    layout, this bucket only), the spans that started in it, and whether it is a collection gap."""

    start: pd.Timestamp
    edges: pd.DataFrame
    services: pd.DataFrame
    spans: int

    @property
    def gap(self) -> bool:
        return self.spans == 0


class StreamingBuckets:
    """Spans in by :meth:`add`, closed buckets out (module docstring)."""

    def __init__(self, bucket="30s", lateness="60s", lookback="30s", origin=None):
        self.width = to_timedelta(bucket, "bucket", error=MonitorError, positive=True)
        self.lateness = to_timedelta(lateness, "lateness", error=MonitorError)
        self.lookback = to_timedelta(lookback, "lookback", error=MonitorError)
        self.origin = (
            pd.Timestamp(0, tz="UTC") if origin is None else to_timestamp(origin, "origin", error=MonitorError)
        )
        self._width_us = int(self.width.value // 1000)
        self._buffer: list[pd.DataFrame] = []
        self.next_start: pd.Timestamp | None = None
        self.max_start_us: int | None = None
        self.late_spans = 0
        self.spans_added = 0

    # ------------------------------------------------------------------ input
    def add(self, spans: pd.DataFrame) -> list[ClosedBucket]:
        """Buffer a SpanFrame batch; return the buckets the new watermark closes."""
        if not len(spans):
            return []
        starts = spans["start_us"].to_numpy(np.int64)
        if self.next_start is None:
            self.next_start = bucket_floor(
                pd.Timestamp(int(starts.min()), unit="us", tz="UTC"), self.width, origin=self.origin
            )
        cutoff = _us(self.next_start)
        late = starts < cutoff
        if late.any():
            self.late_spans += int(late.sum())
            spans = spans.loc[~late]
            starts = starts[~late]
        if len(spans):
            self._buffer.append(spans[list(SPAN_COLUMNS) + [c for c in spans.columns if c not in SPAN_COLUMNS]])
            self.spans_added += len(spans)
            newest = int(starts.max())
            self.max_start_us = newest if self.max_start_us is None else max(self.max_start_us, newest)
        return self.advance()

    @property
    def watermark(self) -> pd.Timestamp | None:
        if self.max_start_us is None:
            return None
        return pd.Timestamp(self.max_start_us, unit="us", tz="UTC") - self.lateness

    def advance(self, until=None) -> list[ClosedBucket]:
        """Close every bucket that ends at or before the watermark (or ``until``, e.g. the wall
        clock of a live source when no span arrives at all)."""
        limit = self.watermark if until is None else to_timestamp(until, "until", error=MonitorError)
        if self.next_start is None or limit is None:
            return []
        n = int((limit - self.next_start) // self.width)
        return self._close(n) if n > 0 else []

    def flush(self) -> list[ClosedBucket]:
        """Close every bucket up to the newest span (end of a stream)."""
        if self.next_start is None or self.max_start_us is None:
            return []
        newest = pd.Timestamp(self.max_start_us, unit="us", tz="UTC")
        return self._close(int((newest - self.next_start) // self.width) + 1)

    # ------------------------------------------------------------------ closing
    def _close(self, n: int) -> list[ClosedBucket]:
        assert self.next_start is not None
        first = self.next_start
        end = first + n * self.width
        frame = self._frame()
        keep_from = _us(end) - int(self.lookback.value // 1000)
        if len(frame):
            starts = frame["start_us"].to_numpy(np.int64)
            window = frame.loc[(starts >= _us(first) - int(self.lookback.value // 1000))]
            calls = graph_pkg.calls(window) if len(window) else None
        else:
            starts = np.zeros(0, dtype=np.int64)
            window, calls = frame, None
        edge_rows = self._edge_rows(calls, first, end)
        service_rows = self._service_rows(window, first, end)
        counts = (
            np.bincount(
                ((starts[(starts >= _us(first)) & (starts < _us(end))] - _us(first)) // self._width_us).astype(
                    np.int64
                ),
                minlength=n,
            )
            if len(starts)
            else np.zeros(n, int)
        )
        out = []
        for i in range(n):
            t = first + i * self.width
            out.append(
                ClosedBucket(
                    start=t,
                    edges=_at(edge_rows, t),
                    services=_at(service_rows, t),
                    spans=int(counts[i]),
                )
            )
        self.next_start = end
        if len(frame):
            remaining = frame.loc[starts >= keep_from]
            self._buffer = [remaining] if len(remaining) else []
        return out

    def _frame(self) -> pd.DataFrame:
        if not self._buffer:
            return pd.DataFrame(columns=list(SPAN_COLUMNS))
        if len(self._buffer) > 1:
            self._buffer = [concat_spanframes(self._buffer)]
        return self._buffer[0]

    def _edge_rows(self, calls: pd.DataFrame | None, first: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        if calls is None or not len(calls):
            return _empty_edges()
        table = calls.loc[(calls["start_us"].to_numpy() >= _us(first)) & (calls["start_us"].to_numpy() < _us(end))]
        if not len(table):
            return _empty_edges()
        return graph_pkg.edge_series(table, bucket=self.width, start=first, end=end, origin=self.origin)

    def _service_rows(self, window: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        if not len(window) or "kind" not in window:
            return _empty_services()
        starts = window["start_us"].to_numpy(np.int64)
        inside = window.loc[(starts >= _us(first)) & (starts < _us(end))]
        if not len(inside):
            return _empty_services()
        return graph_pkg.service_series(inside, bucket=self.width, start=first, end=end, origin=self.origin)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict, pd.DataFrame]:
        """Scalars (JSON-able) and the buffered spans (a SpanFrame, for Parquet)."""
        scalars = {
            "bucket": self.width.isoformat(),
            "lateness": self.lateness.isoformat(),
            "lookback": self.lookback.isoformat(),
            "origin": self.origin.isoformat(),
            "next_start": None if self.next_start is None else self.next_start.isoformat(),
            "max_start_us": self.max_start_us,
            "late_spans": self.late_spans,
            "spans_added": self.spans_added,
        }
        return scalars, self._frame()

    @classmethod
    def from_state(cls, scalars: dict, buffered: pd.DataFrame) -> StreamingBuckets:
        out = cls(scalars["bucket"], scalars["lateness"], scalars["lookback"], scalars["origin"])
        out.next_start = None if scalars["next_start"] is None else pd.Timestamp(scalars["next_start"])
        out.max_start_us = scalars["max_start_us"]
        out.late_spans = int(scalars["late_spans"])
        out.spans_added = int(scalars["spans_added"])
        out._buffer = [make_spanframe(buffered, source="checkpoint", drop_duplicates=False)] if len(buffered) else []
        return out


def concat_spanframes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """SpanFrames stacked without re-validation: categorical columns get the union of their
    categories, every other column is concatenated as it is."""
    frames = [f for f in frames if len(f)]
    if len(frames) == 1:
        return frames[0]
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    data = {}
    for column in columns:
        parts = [f[column] if column in f else pd.Series(pd.NA, index=f.index) for f in frames]
        same = all(p.dtype == parts[0].dtype for p in parts)
        if (
            isinstance(parts[0].dtype, pd.CategoricalDtype)
            and not same
            and all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts)
        ):
            data[column] = pd.Series(union_categoricals([p.array for p in parts]))
        else:
            data[column] = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(data)
    out.attrs = {"source": "monitor buffer", "skipped": {}}
    return out


def _us(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1000)


def _at(rows: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    if not len(rows):
        return rows
    times = rows.index.get_level_values("time")
    return rows.loc[times == t]


def _empty_edges() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([pd.DatetimeIndex([], tz="UTC"), [], []], names=["time", "caller", "callee"])
    return pd.DataFrame(index=index, columns=list(graph_pkg.EDGE_SERIES_COLUMNS), dtype=float)


def _empty_services() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([pd.DatetimeIndex([], tz="UTC"), []], names=["time", "service"])
    return pd.DataFrame(index=index, columns=list(graph_pkg.SERVICE_SERIES_COLUMNS), dtype=float)
