"""Monitor events as JSON lines, one per event, flushed as written (a file or standard output)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from monitor.errors import MonitorError

INCIDENT_EVENTS = ("open", "update", "close")


def plain(value: Any) -> Any:
    """``json.dumps`` default: numpy scalars and arrays, timestamps and sets as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def to_json_line(event: Mapping[str, Any], where: str) -> str:
    """One event as a line of JSON; :class:`MonitorError` names the event when it is not JSON-able."""
    try:
        return json.dumps(event, default=plain, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise MonitorError(f"{where}: event {event.get('event')!r} cannot be written as JSON: {exc}") from exc


class JsonlSink:
    """Write the events named in ``events`` (default: the incident events; add ``"stats"`` for the
    counters) to ``target``: a path (appended to, or truncated with ``mode="w"``), ``"-"`` for
    standard output, or an open text stream. Each line is flushed when written."""

    def __init__(self, target: str | Path | IO[str] = "-", *, events: Iterable[str] = INCIDENT_EVENTS, mode: str = "a"):
        if mode not in ("a", "w"):
            raise MonitorError(f"JsonlSink: mode must be 'a' (append) or 'w' (truncate), got {mode!r}")
        self.events = frozenset(events)
        self.lines = 0
        self._lock = threading.Lock()
        self._owned = False
        if isinstance(target, (str, Path)) and str(target) == "-":
            self._stream: IO[str] = sys.stdout
            self.target = "<stdout>"
        elif isinstance(target, (str, Path)):
            try:
                self._stream = open(target, mode, encoding="utf-8")
            except OSError as exc:
                raise MonitorError(f"JsonlSink: cannot open {target} for writing: {exc}") from exc
            self._owned = True
            self.target = str(target)
        elif hasattr(target, "write"):
            self._stream = target
            self.target = getattr(target, "name", type(target).__name__)
        else:
            raise MonitorError(f"JsonlSink: target must be a path, '-' or a text stream, got {type(target).__name__}")
        self._closed = False

    def emit(self, event: Mapping[str, Any]) -> None:
        if event.get("event") not in self.events:
            return
        line = to_json_line(event, f"JsonlSink({self.target})")
        with self._lock:
            if self._closed:
                raise MonitorError(f"JsonlSink({self.target}): closed")
            try:
                self._stream.write(line)
                self._stream.flush()
            except OSError as exc:
                raise MonitorError(f"JsonlSink: cannot write to {self.target}: {exc}") from exc
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owned:
                self._stream.close()
