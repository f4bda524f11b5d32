"""A live terminal view of the monitor (``rich``): the open incidents, their severity and top
candidates, and the counters. When the console is not a terminal (a pipe, a file, CI) it prints
plain lines instead: one per incident event and, at most every ``stats_every_s`` seconds, one
with the counters.

It reads these keys of an event's ``incident``: ``id``, ``severity``, ``onset``, ``series`` (the
alarmed series) and ``rankings`` (the last one's ``candidates``, each ``service`` and ``score``);
any of them may be missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from monitor.errors import MonitorError
from monitor.sinks.jsonl import INCIDENT_EVENTS

SHOWN_STATS = (
    "spans_ingested",
    "late_spans",
    "duplicate_spans",
    "series_monitored",
    "incidents_open",
    "incidents_total",
    "lag_seconds",
)


def top_candidates(incident: Mapping[str, Any], k: int = 3) -> list[tuple[str, float | None]]:
    """``(service, score)`` of the first ``k`` candidates of the incident's latest ranking."""
    rankings = incident.get("rankings")
    if isinstance(rankings, Mapping):
        rankings = list(rankings.values())
    if not rankings:
        return []
    latest = rankings[-1]
    if isinstance(latest, Mapping) and "candidates" not in latest:
        # monitor.Incident.to_json: rankings[stage][method], the default method first
        latest = next(iter(latest.values()), [])
    candidates = latest.get("candidates", []) if isinstance(latest, Mapping) else latest
    out = []
    for candidate in list(candidates or [])[:k]:
        if isinstance(candidate, Mapping):
            score = candidate.get("score")
            out.append((str(candidate.get("service")), float(score) if isinstance(score, (int, float)) else None))
    return out


def incident_line(kind: str, incident: Mapping[str, Any], when: object) -> str:
    severity = incident.get("severity")
    parts = [str(when), kind.upper(), str(incident.get("id", "?"))]
    if isinstance(severity, (int, float)):
        parts.append(f"severity {severity:.2f}")
    series = incident.get("alarmed_series", incident.get("series"))
    if isinstance(series, (list, tuple)):
        parts.append(f"{len(series)} series")
    top = top_candidates(incident)
    if top:
        parts.append("top: " + ", ".join(f"{s} {v:.2f}" if v is not None else s for s, v in top))
    return " ".join(parts)


def stats_line(stats: Mapping[str, Any], when: object) -> str:
    shown = [
        f"{k}={stats[k]:.1f}" if isinstance(stats[k], float) else f"{k}={stats[k]}" for k in SHOWN_STATS if k in stats
    ]
    return f"{when} stats " + " ".join(shown)


class LiveView:
    """Show the monitor's state on ``console`` (default: standard output).

    ``max_incidents``: open incidents listed (most severe first); ``stats_every_s``: the shortest
    time between two counter lines in plain mode. ``plain`` (None: decided by
    ``console.is_terminal``) forces one mode."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        max_incidents: int = 10,
        stats_every_s: float = 10.0,
        refresh_per_second: float = 4.0,
        plain: bool | None = None,
    ):
        if isinstance(max_incidents, bool) or not isinstance(max_incidents, int) or max_incidents < 1:
            raise MonitorError(f"LiveView: max_incidents must be a positive integer, got {max_incidents!r}")
        self.console = console if console is not None else Console()
        self.max_incidents = max_incidents
        self.stats_every_s = stats_every_s
        self.refresh_per_second = refresh_per_second
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self._lock = threading.Lock()
        self._open: dict[str, dict] = {}
        self._stats: dict[str, Any] = {}
        self._time: object = ""
        self._last_stats_line = float("-inf")
        self._live: Live | None = None

    def emit(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        when = event.get("time", "")
        with self._lock:
            self._time = when
            if kind in INCIDENT_EVENTS:
                incident = event.get("incident")
                if not isinstance(incident, Mapping):
                    raise MonitorError(f"LiveView: a {kind!r} event needs an 'incident' mapping")
                key = str(incident.get("id", "?"))
                if kind == "close":
                    self._open.pop(key, None)
                else:
                    self._open[key] = dict(incident)
                if self.plain:
                    self.console.print(incident_line(str(kind), incident, when), markup=False, highlight=False)
            elif kind == "stats" and isinstance(event.get("stats"), Mapping):
                self._stats = dict(event["stats"])
                now = time.monotonic()
                if self.plain and now - self._last_stats_line >= self.stats_every_s:
                    self._last_stats_line = now
                    self.console.print(stats_line(self._stats, when), markup=False, highlight=False)
            if not self.plain:
                self._refresh()

    def render(self) -> Group:
        """The view: a table of the open incidents above a line of counters."""
        table = Table(title=f"open incidents ({len(self._open)}) at {self._time}", expand=True)
        for column in ("incident", "severity", "series", "top candidates"):
            table.add_column(column)
        ranked = sorted(self._open.values(), key=lambda i: -float(i.get("severity") or 0.0))
        for incident in ranked[: self.max_incidents]:
            severity = incident.get("severity")
            series = incident.get("alarmed_series", incident.get("series"))
            table.add_row(
                str(incident.get("id", "?")),
                f"{severity:.2f}" if isinstance(severity, (int, float)) else "-",
                str(len(series)) if isinstance(series, (list, tuple)) else "-",
                ", ".join(f"{s} {v:.2f}" if v is not None else s for s, v in top_candidates(incident)) or "-",
            )
        counters = "  ".join(f"{k} {self._stats[k]}" for k in SHOWN_STATS if k in self._stats)
        return Group(table, Text(counters or "no counters yet"))

    def _refresh(self) -> None:
        if self._live is None:
            self._live = Live(
                self.render(), console=self.console, refresh_per_second=self.refresh_per_second, transient=False
            )
            self._live.start()
        else:
            self._live.update(self.render())

    def close(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.update(self.render())
            live.stop()
