"""Incremental polling of a Jaeger Query service: the spans that are new since the last poll.

Each poll asks :meth:`collectors.JaegerClient.collect` for ``[watermark - lateness, now)``. The
watermark is the end of the last window that was read; it only moves forward (a clock that steps
back makes no query). The part of the window before the watermark is asked again so that spans
Jaeger stored late (a slow exporter, a collector's batch) are still picked up, and counted as
``late_spans``; a span that reaches Jaeger more than ``lateness_s`` after the watermark passed its
start is never seen. Spans already delivered come back in that overlap (and a trace comes back
whole): they are recognised by a 64-bit hash of ``(trace_id, span_id)`` and dropped, counted as
``duplicate_spans``. The hashes are kept only while their span can still come back (start at or
after ``watermark - lateness``), and at most ``max_seen`` of them (the oldest are forgotten first,
counted as ``seen_evicted``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from collectors import CollectError, JaegerClient, empty_spanframe
from core.times import to_us
from monitor.errors import MonitorError

_log = logging.getLogger(__name__)
_US = 1_000_000


def span_keys(frame: pd.DataFrame) -> np.ndarray:
    """A uint64 hash of each span's ``(trace_id, span_id)``."""
    if not len(frame):
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_pandas_object(frame[["trace_id", "span_id"]], index=False).to_numpy(np.uint64)


class JaegerPoller:
    """Poll Jaeger every ``interval_s`` seconds; a :class:`monitor.Source`.

    ``client``: a :class:`collectors.JaegerClient` or the Query service's URL. ``start``: the first
    window's start (any time :func:`core.to_timestamp` reads; default: ``lateness_s`` before the
    first poll); ``end``: stop once the watermark reaches it (default: never). ``services``: the
    services to ask for (default: every one Jaeger knows, asked again at each poll).
    ``max_failures``: consecutive failed polls tolerated (each is logged and retried at the next
    interval over the same window) before :meth:`batches` raises :class:`MonitorError`.
    ``clock``: Unix seconds now (for tests).

    Each batch (possibly empty) has ``attrs`` ``window_start_us``, ``window_end_us`` and
    ``received_unix``. ``stats``: ``polls``, ``poll_errors``, ``spans_received`` (as Jaeger
    answered), ``spans_new``, ``duplicate_spans``, ``late_spans``, ``seen_evicted``, ``seen``
    (hashes held), ``watermark_us``.
    """

    name = "jaeger"

    def __init__(
        self,
        client: JaegerClient | str,
        *,
        start=None,
        end=None,
        interval_s: float = 10.0,
        lateness_s: float = 60.0,
        services=None,
        max_seen: int = 2_000_000,
        max_failures: int = 5,
        clock: Callable[[], float] = time.time,
    ):
        if isinstance(client, str):
            client = JaegerClient(client, progress=False)
        if not isinstance(client, JaegerClient):
            raise MonitorError(f"JaegerPoller: client must be a JaegerClient or a URL, got {type(client).__name__}")
        for name, value in (("interval_s", interval_s), ("lateness_s", lateness_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise MonitorError(f"JaegerPoller: {name} must be a number of seconds >= 0, got {value!r}")
        for name, value in (("max_seen", max_seen), ("max_failures", max_failures)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MonitorError(f"JaegerPoller: {name} must be a positive integer, got {value!r}")
        self.client = client
        self.start_us = to_us(start, "start", error=MonitorError)
        self.end_us = to_us(end, "end", error=MonitorError)
        if self.start_us is not None and self.end_us is not None and self.end_us <= self.start_us:
            raise MonitorError(f"JaegerPoller: end ({end!r}) must be after start ({start!r})")
        self.interval_s = interval_s
        self.lateness_s = lateness_s
        self.services = list(services) if services is not None else None
        self.max_seen = max_seen
        self.max_failures = max_failures
        self.clock = clock
        self.watermark_us: int | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("polls", "poll_errors", "spans_received", "spans_new", "duplicate_spans", "late_spans", "seen_evicted"),
            0,
        )
        self._seen_keys = np.zeros(0, dtype=np.uint64)
        self._seen_starts = np.zeros(0, dtype=np.int64)
        self._closed = threading.Event()

    def batches(self) -> Iterator[pd.DataFrame]:
        """One SpanFrame of new spans per poll until :meth:`close` or the watermark reaches ``end``."""
        failures = 0
        while not self._closed.is_set():
            window = self._window()
            if window is not None:
                lo, hi = window
                try:
                    frame = self.client.collect(_timestamp(lo), _timestamp(hi), self.services)
                except CollectError as exc:
                    failures += 1
                    self.stats["poll_errors"] += 1
                    if failures >= self.max_failures:
                        raise MonitorError(
                            f"JaegerPoller: {failures} polls of {self.client.url} failed in a row; last: {exc}"
                        ) from exc
                    _log.warning("poll %d of %s failed (%s); retrying the same window", failures, self.client.url, exc)
                else:
                    failures = 0
                    yield self._advance(frame, lo, hi)
                    if self.end_us is not None and self.watermark_us is not None and self.watermark_us >= self.end_us:
                        return
            self._closed.wait(self.interval_s)

    def close(self) -> None:
        """Stop polling (the current poll finishes; :meth:`batches` then returns)."""
        self._closed.set()

    def _window(self) -> tuple[int, int] | None:
        now = int(self.clock() * _US)
        hi = now if self.end_us is None else min(now, self.end_us)
        lateness = int(self.lateness_s * _US)
        if self.watermark_us is None:
            lo = self.start_us if self.start_us is not None else hi - lateness
        else:
            if hi <= self.watermark_us:
                return None
            lo = self.watermark_us - lateness
            if self.start_us is not None:
                lo = max(lo, self.start_us)
        return (lo, hi) if hi > lo else None

    def _advance(self, frame: pd.DataFrame, lo: int, hi: int) -> pd.DataFrame:
        """The spans of ``frame`` not seen before; the watermark moves to ``hi``."""
        self.stats["polls"] += 1
        self.stats["spans_received"] += len(frame)
        keys = span_keys(frame)
        starts = frame["start_us"].to_numpy(np.int64) if len(frame) else np.zeros(0, dtype=np.int64)
        seen = _member(keys, self._seen_keys)
        fresh = frame.loc[~seen].reset_index(drop=True) if seen.any() else frame.reset_index(drop=True)
        fresh.attrs = dict(frame.attrs)
        previous = self.watermark_us
        late = int((starts[~seen] < previous).sum()) if previous is not None else 0
        self.stats["duplicate_spans"] += int(seen.sum())
        self.stats["spans_new"] += len(fresh)
        self.stats["late_spans"] += late
        self.watermark_us = hi if previous is None else max(previous, hi)
        self._remember(keys[~seen], starts[~seen], self.watermark_us - int(self.lateness_s * _US))
        if not len(fresh):
            fresh = empty_spanframe(self.name)
        fresh.attrs.update(window_start_us=lo, window_end_us=hi, received_unix=time.time())
        self.stats["watermark_us"] = self.watermark_us
        return fresh

    def _remember(self, keys: np.ndarray, starts: np.ndarray, oldest_us: int) -> None:
        """Add the hashes of new spans; forget those whose span started before ``oldest_us`` (no
        window reaches them again), then the oldest beyond ``max_seen``."""
        all_keys = np.concatenate([self._seen_keys, keys])
        all_starts = np.concatenate([self._seen_starts, starts])
        keep = all_starts >= oldest_us
        all_keys, all_starts = all_keys[keep], all_starts[keep]
        if len(all_keys) > self.max_seen:
            newest = np.argsort(all_starts, kind="stable")[len(all_keys) - self.max_seen :]
            self.stats["seen_evicted"] += len(all_keys) - self.max_seen
            all_keys, all_starts = all_keys[newest], all_starts[newest]
        order = np.argsort(all_keys, kind="stable")
        self._seen_keys, self._seen_starts = all_keys[order], all_starts[order]
        self.stats["seen"] = len(self._seen_keys)


def _timestamp(us: int) -> pd.Timestamp:
    return pd.Timestamp(us, unit="us", tz="UTC")


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``keys[i] in sorted_keys`` for each i."""
    if not len(sorted_keys) or not len(keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(sorted_keys, keys)
    at[at == len(sorted_keys)] = 0
    return sorted_keys[at] == keys
