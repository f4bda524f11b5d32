"""What flows in and out of the monitor: span batches from a Source, events to Sinks.

A **Source** yields SpanFrames (``collectors.make_spanframe`` output) in roughly increasing time
order until it is exhausted or closed; late and duplicate spans are allowed (the monitor counts
late ones and drops spans it has already seen). ``stats`` holds the source's own counters
(received, rejected by reason, ...), plain ints.

A **Sink** receives every event the monitor produces, as a JSON-able mapping, and must never block
ingestion for long (a slow network sink queues and retries on a thread of its own).

Events (``event`` field):

- ``"open"``, ``"update"``, ``"close"``: an incident changed; ``incident`` holds
  :meth:`monitor.Incident.to_json` (id, onset, opened/closed times, severity, alarmed series,
  rankings with their ``why``);
- ``"stats"``: the monitor's counters (``stats``: spans ingested, late spans, duplicate spans,
  series monitored, buckets closed, collection gaps, incidents open/total, lag in seconds),
  emitted after every closed bucket.

Every event has ``time``: the ISO-8601 UTC time of the bucket that produced it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import pandas as pd


class Source(Protocol):
    name: str
    stats: dict[str, int]

    def batches(self) -> Iterator[pd.DataFrame]:
        """SpanFrames until the source is exhausted or closed."""
        ...

    def close(self) -> None:
        """Stop producing; release sockets and threads (idempotent)."""
        ...


class Sink(Protocol):
    def emit(self, event: Mapping[str, Any]) -> None:
        """Take one event; never block ingestion for long."""
        ...

    def close(self) -> None:
        """Flush what can be flushed within a short time and release resources (idempotent)."""
        ...
