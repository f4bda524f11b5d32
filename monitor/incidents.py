"""From per-series alarms to incidents: open, update, close, reopen.

The rule (one incident at a time, as a monitor of one system sees it):

- **open** when confirmed alarms (see :mod:`monitor.series`) implicating at least
  ``min_services`` distinct services fall within ``window`` of each other. The incident's
  **onset** is the earliest of those alarms; it opens at the end of the bucket that completed the
  set;
- **update** with every further alarm while it is open (its alarmed series, their first alarm
  and count, the highest severity). The incident also records until when any of its alarmed
  series was still away from the baseline it alarmed against (``last_active``): the rankings at
  close score the whole time the symptoms lasted;
- **close** once ``quiet`` of observed buckets has passed without an alarm, or when a collection
  gap begins (no span from anyone: the monitor cannot tell whether the symptoms went on, so the
  incident closes at the end of the last bucket it saw). Alarms confirmed as the gap begins
  (:func:`monitor.series.confirmed_at_gap`) are known at the end of the gap's first bucket: they
  update the open incident first, which then closes as above, or reopen or open one, which
  closes at that same instant (an incident does not close before it opened);
- **reopen** instead of opening a new incident when the new alarms come within ``holdoff`` of
  the close (wall time, a collection gap included: a gap longer than the hold-off separates two
  incidents, since nothing links the symptoms after it to those before; measured to the end of
  the bucket of the earliest new alarm, so a level alarm, confirmed a bucket later, has the same
  hold-off as an event alarm, and so has one confirmed as a gap begins): a symptom that comes
  back right after it went away is the same problem flapping (an incident can reopen any number
  of times; each close is reported). With ``reopen="same-services"``
  only alarms implicating services the closed incident had implicated reopen it; with ``"any"``
  (the default) alarms on other services reopen it too, because a fault's later symptoms often
  show on its callers first, except a burst that is larger than the whole closed incident (more
  distinct alarmed series in one bucket than it ever had) and implicates none of its services:
  that is a new problem, not the old one flapping (typically a blip of one or two series that
  closed just before a fault began, which would otherwise swallow the fault).

An incident's **severity** is the highest severity of its alarms (see :mod:`monitor.series`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.times import format_time
from monitor.errors import MonitorError
from monitor.series import Alarm, SeriesKey, implicated

REOPEN_RULES = ("any", "same-services")


@dataclass
class AlarmedSeries:
    first: pd.Timestamp
    last: pd.Timestamp
    count: int
    severity: float
    value: float
    baseline: float


@dataclass
class Incident:
    """One detected incident (module docstring); ``rankings[stage][method]`` holds the top
    candidates ``[{"service", "score", "why"}]`` made at ``"open"`` and at ``"close"``."""

    id: str
    onset: pd.Timestamp
    opened_at: pd.Timestamp
    last_alarm: pd.Timestamp
    severity: float
    alarmed: dict[SeriesKey, AlarmedSeries] = field(default_factory=dict)
    closed_at: pd.Timestamp | None = None
    last_active: pd.Timestamp = field(default_factory=lambda: pd.Timestamp(0, tz="UTC"))
    rankings: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    reopened: int = 0

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def services(self) -> set[str]:
        """The services its alarmed series implicate."""
        return {implicated(key) for key in self.alarmed}

    def add(self, alarm: Alarm) -> None:
        t = pd.Timestamp(alarm.time)
        entry = self.alarmed.get(alarm.key)
        if entry is None:
            self.alarmed[alarm.key] = AlarmedSeries(t, t, 1, alarm.severity, alarm.value, alarm.baseline)
        else:
            entry.last, entry.count = max(entry.last, t), entry.count + 1
            entry.severity = max(entry.severity, alarm.severity)
        self.last_alarm = max(self.last_alarm, t)
        self.severity = max(self.severity, alarm.severity)

    def to_json(self) -> dict[str, Any]:
        series = sorted(self.alarmed.items(), key=lambda kv: (kv[1].first, -kv[1].severity))
        return {
            "id": self.id,
            "onset": format_time(self.onset),
            "onset_unix": self.onset.value / 1e9,
            "opened_at": format_time(self.opened_at),
            "opened_unix": self.opened_at.value / 1e9,
            "closed_at": None if self.closed_at is None else format_time(self.closed_at),
            "closed_unix": None if self.closed_at is None else self.closed_at.value / 1e9,
            "last_alarm": format_time(self.last_alarm),
            "last_alarm_unix": self.last_alarm.value / 1e9,
            "last_active_unix": self.last_active.value / 1e9,
            "severity": round(self.severity, 6),
            "reopened": self.reopened,
            "alarmed_series": [
                {
                    "kind": k[0],
                    "caller": k[1],
                    "callee": k[2],
                    "metric": k[3],
                    "first": format_time(v.first),
                    "first_unix": v.first.value / 1e9,
                    "last_unix": v.last.value / 1e9,
                    "alarms": v.count,
                    "severity": round(v.severity, 6),
                    "value": v.value,
                    "baseline": v.baseline,
                }
                for k, v in series
            ],
            "rankings": {
                stage: {method: [dict(c) for c in candidates] for method, candidates in by_method.items()}
                for stage, by_method in self.rankings.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incident:
        incident = cls(
            id=data["id"],
            onset=_stamp(data["onset_unix"]),
            opened_at=_stamp(data["opened_unix"]),
            last_alarm=_stamp(data["last_alarm_unix"]),
            severity=float(data["severity"]),
            closed_at=None if data["closed_unix"] is None else _stamp(data["closed_unix"]),
            rankings=data["rankings"],
            reopened=int(data.get("reopened", 0)),
            last_active=_stamp(data["last_active_unix"]),
        )
        for s in data["alarmed_series"]:
            key = (s["kind"], s["caller"], s["callee"], s["metric"])
            incident.alarmed[key] = AlarmedSeries(
                _stamp(s["first_unix"]), _stamp(s["last_unix"]), s["alarms"], s["severity"], s["value"], s["baseline"]
            )
        return incident


def _stamp(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(round(seconds * 1e9), unit="ns", tz="UTC")


class IncidentTracker:
    """Alarms in, incident transitions out (module docstring)."""

    def __init__(
        self,
        min_services: int,
        window: pd.Timedelta,
        quiet: pd.Timedelta,
        holdoff: pd.Timedelta,
        bucket: pd.Timedelta,
        reopen: str = "any",
    ):
        if reopen not in REOPEN_RULES:
            raise MonitorError(f"reopen: must be one of {REOPEN_RULES}, got {reopen!r}")
        self.min_services = min_services
        self.window = window
        self.bucket = bucket
        self.quiet_buckets = max(1, int(quiet // bucket))
        self.holdoff = holdoff
        self.reopen = reopen
        self.recent: deque[Alarm] = deque()
        self.current: Incident | None = None
        self.last_closed: Incident | None = None
        self.inactive = 0
        self.count = 0

    def step(self, bucket_end: pd.Timestamp, alarms: list[Alarm], observed: bool) -> list[tuple[str, Incident]]:
        """The transitions ``("open" | "update" | "close", incident)`` after one closed bucket;
        ``observed``: False for a collection gap, with the ``alarms`` confirmed as it began (see
        :func:`monitor.series.confirmed_at_gap`)."""
        if not observed:
            was_open = self.current is not None
            out = self._admit(bucket_end, alarms)
            if self.current is not None:
                out.append(("close", self._close(self.current, bucket_end - self.bucket if was_open else bucket_end)))
            return out
        current = self.current
        if current is not None:
            out = self._admit(bucket_end, alarms)
            if not alarms:
                self.inactive += 1
            if self.inactive >= self.quiet_buckets:
                out.append(("close", self._close(current, bucket_end)))
            return out
        return self._admit(bucket_end, alarms)

    def _admit(self, bucket_end: pd.Timestamp, alarms: list[Alarm]) -> list[tuple[str, Incident]]:
        """Add ``alarms`` to the open incident, or reopen or open one with them (module docstring)."""
        out: list[tuple[str, Incident]] = []
        if not alarms:
            return out
        current = self.current
        if current is not None:
            for alarm in alarms:
                current.add(alarm)
            self.inactive = 0
            return [("update", current)]
        closed = self.last_closed
        if closed is not None and self._reopens(closed, alarms):
            closed.closed_at = None
            for alarm in alarms:
                closed.add(alarm)
            closed.reopened += 1
            self.current, self.last_closed, self.inactive = closed, None, 0
            return [("update", closed)]
        self.recent.extend(alarms)
        newest = max(pd.Timestamp(a.time) for a in alarms)
        while self.recent and newest - pd.Timestamp(self.recent[0].time) > self.window:
            self.recent.popleft()
        if len({implicated(a.key) for a in self.recent}) >= self.min_services:
            self.count += 1
            onset = min(pd.Timestamp(a.time) for a in self.recent)
            incident = Incident(f"incident-{self.count:04d}", onset, bucket_end, onset, 0.0)
            for alarm in self.recent:
                incident.add(alarm)
            self.recent.clear()
            self.current, self.inactive = incident, 0
            out.append(("open", incident))
        return out

    def _close(self, incident: Incident, at: pd.Timestamp) -> Incident:
        incident.closed_at = at
        self.current, self.last_closed, self.inactive = None, incident, 0
        return incident

    def _reopens(self, closed: Incident, alarms: list[Alarm]) -> bool:
        """Whether ``alarms`` reopen ``closed`` (module docstring)."""
        back = min(pd.Timestamp(a.time) for a in alarms) + self.bucket
        if closed.closed_at is None or back - closed.closed_at > self.holdoff:
            return False
        services = {implicated(a.key) for a in alarms}
        if self.reopen == "same-services":
            return services <= closed.services()
        return bool(services & closed.services()) or len({a.key for a in alarms}) <= len(closed.alarmed)

    def flush(self, end: pd.Timestamp) -> list[tuple[str, Incident]]:
        """Close the open incident at the end of the stream."""
        if self.current is None:
            return []
        self.current.closed_at = end
        closed, self.current = self.current, None
        return [("close", closed)]
