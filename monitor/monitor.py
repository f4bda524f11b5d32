"""The monitor: spans in as a stream, incidents out, each explained by ``rca``'s ranking.

Per batch of spans: drop spans seen before (a time-bounded set of span ids), bucket the rest
incrementally (:mod:`monitor.buckets`); per closed bucket: the per-edge and per-service values
``rca`` detects on, one streaming detector per series (:mod:`monitor.series`), alarms combined
into incidents (:mod:`monitor.incidents`). When an incident opens, and again when it closes,
``rca.localize`` runs on the kept history with the **detected onset** as the split and the clean
history before it as training (``train_window`` of observed buckets, see :meth:`Monitor._train_window`):
buckets inside earlier incidents are left out of the training (marked as collection gaps). No
labelled time is used anywhere.

A **collection gap** (a bucket in which no span at all starts) pauses every series: nothing is
learned from it, nothing alarms on it, and an alarm still waiting for its confirmation is dropped;
the open incident closes (:mod:`monitor.incidents`); the ranking history keeps no rows for it.

The whole state is saved with :meth:`Monitor.save` (a directory, written atomically) and resumed
with :meth:`Monitor.load`; a resumed monitor produces the same events as one that ran without
interruption.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import rca
from core.changes import Change
from core.times import format_time, to_timedelta
from graph import EDGE_SERIES_COLUMNS
from monitor.buckets import ClosedBucket, StreamingBuckets
from monitor.calibration import CALIBRATIONS, PooledTail
from monitor.errors import MonitorError
from monitor.incidents import REOPEN_RULES, Incident, IncidentTracker
from monitor.series import (
    Alarm,
    SeriesKey,
    SeriesModel,
    SeriesSettings,
    alarm_from_json,
    alarm_json,
    build_prototype,
    confirmed_at_gap,
)
from rca.detection import derived_edge_frame

MONITOR_FLUXEV: dict[str, Any] = {"s": 5, "smoothing": 1, "level": 0.95, "q": 0.001}
"""FluxEV's settings for the monitor: hours of history per series, 30 s buckets (no daily period
at that resolution within the history kept), local smoothing only, a SPOT tail initialised on the
warm-up scores (level 0.95) and a risk of 1e-3 per point."""

STATE_FORMAT = "rca-monitor/3"


@dataclass(frozen=True)
class MonitorConfig:
    """Settings of the monitor; every duration is text such as ``30s`` or seconds.

    ``bucket``/``lateness``/``lookback``: the streaming buckets (:mod:`monitor.buckets`).
    ``detector``/``detector_params``: the per-series streaming detector (FluxEV with
    :data:`MONITOR_FLUXEV` by default). ``warmup``: history a series needs before it may alarm.
    ``baseline_points``/``rel_floor``/``min_shift``: when a detector alarm is confirmed
    (:mod:`monitor.series`). ``calibration``: ``"own-or-pooled"`` (each detector's own
    threshold once its SPOT tail rests on ``own_min_peaks`` peaks; until then one SPOT threshold
    over the unit-scaled scores of every series in the last ``pool_window``, fitted once at least
    ``pool_min_scores`` are kept: :mod:`monitor.calibration`), ``"pooled"`` (the pooled
    threshold for every series) or ``"per-series"`` (each detector's own only); None:
    own-or-pooled for a detector whose scores are in the series' units (FluxEV), per-series
    otherwise. ``min_services``/``window``/``quiet``/``holdoff``/``reopen``: the
    incident rule (:mod:`monitor.incidents`). ``history``/``train_window``: the buckets kept for
    the rankings and the clean training span before the onset. ``methods``: the ranking methods
    run at open and close (all registered ones by default, the default method first).
    ``dedup_window``: how long a span id is remembered to drop spans delivered twice.
    ``keep_incidents``: how many of the newest incidents :attr:`Monitor.incidents` (and every
    checkpoint) keeps; older ones live on in the emitted events only, so the state stays bounded.
    ``gap_confirm_edges``: level alarms of at least this many distinct edges implicating one
    service, still unconfirmed when a collection gap begins, confirm each other (0: a gap drops
    every unconfirmed alarm; :mod:`monitor.series`, point 4).
    """

    bucket: str = "30s"
    lateness: str = "60s"
    lookback: str = "30s"
    detector: str = "fluxev"
    detector_params: dict[str, Any] | None = None
    warmup: str = "10min"
    baseline_points: int = 20
    rel_floor: float = 0.05
    min_shift: float = 3.0
    calibration: str | None = None
    pool_window: str = "30min"
    pool_min_scores: int = 100
    own_min_peaks: int = 10
    min_services: int = 1
    window: str = "60s"
    quiet: str = "30s"
    holdoff: str = "3min"
    reopen: str = "any"
    history: str = "40min"
    train_window: str = "10min"
    methods: tuple[str, ...] | None = None
    dedup_window: str = "10min"
    keep_incidents: int = 1000
    gap_confirm_edges: int = 2

    def __post_init__(self) -> None:
        width = to_timedelta(self.bucket, "bucket", error=MonitorError, positive=True)
        for name in ("lateness", "lookback", "window", "quiet", "holdoff", "dedup_window"):
            to_timedelta(getattr(self, name), name, error=MonitorError)
        for name in ("warmup", "history", "train_window", "pool_window"):
            if to_timedelta(getattr(self, name), name, error=MonitorError) < width:
                raise MonitorError(f"{name}: {getattr(self, name)} is shorter than one bucket ({self.bucket})")
        if to_timedelta(self.history) < to_timedelta(self.train_window):
            raise MonitorError(f"history ({self.history}) must cover train_window ({self.train_window})")
        for name, least in (
            ("min_services", 1),
            ("baseline_points", 1),
            ("pool_min_scores", 1),
            ("keep_incidents", 2),
            ("own_min_peaks", 0),
            ("gap_confirm_edges", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise MonitorError(f"{name}: must be an integer >= {least}, got {value!r}")
        for name in ("rel_floor", "min_shift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 100:
                raise MonitorError(f"{name}: must be a number in [0, 100), got {value!r}")
        if self.reopen not in REOPEN_RULES:
            raise MonitorError(f"reopen: must be one of {REOPEN_RULES}, got {self.reopen!r}")
        unknown = [m for m in (self.methods or ()) if m not in rca.METHODS]
        if unknown:
            raise MonitorError(f"methods: unknown ranking method(s) {unknown}; registered: {sorted(rca.METHODS)}")
        prototype = build_prototype(self.detector, self.params)
        if self.calibration not in (None, *CALIBRATIONS):
            raise MonitorError(f"calibration: must be one of {CALIBRATIONS} (or None), got {self.calibration!r}")
        if self.calibration in ("pooled", "own-or-pooled") and not type(prototype).score_in_series_units:
            raise MonitorError(
                f"calibration={self.calibration!r} needs a detector whose scores are in the series' own units "
                f"(fluxev); {self.detector!r}'s are not: use calibration='per-series'"
            )

    @property
    def params(self) -> dict[str, Any]:
        if self.detector_params is not None:
            return dict(self.detector_params)
        return dict(MONITOR_FLUXEV) if self.detector == "fluxev" else {}

    @property
    def calibration_mode(self) -> str:
        """``calibration``, with None resolved (see the class docstring)."""
        if self.calibration is not None:
            return self.calibration
        pooled = type(build_prototype(self.detector, self.params)).score_in_series_units
        return "own-or-pooled" if pooled else "per-series"

    def _buckets(self, duration: str) -> int:
        """How many whole buckets ``duration`` holds, at least one."""
        return max(1, int(to_timedelta(duration) // to_timedelta(self.bucket)))

    @property
    def pool_buckets(self) -> int:
        return self._buckets(self.pool_window)

    @property
    def warmup_points(self) -> int:
        return self._buckets(self.warmup)

    @property
    def train_window_buckets(self) -> int:
        return self._buckets(self.train_window)

    @property
    def history_buckets(self) -> int:
        return int(to_timedelta(self.history) // to_timedelta(self.bucket)) + 1

    def ranking_methods(self) -> list[str]:
        names = list(self.methods) if self.methods else sorted(rca.METHODS)
        return (
            [rca.DEFAULT_METHOD] + [m for m in names if m != rca.DEFAULT_METHOD]
            if rca.DEFAULT_METHOD in names
            else names
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = None if self.methods is None else list(self.methods)
        return out


@dataclass
class MonitorStats:
    spans: int = 0
    duplicate_spans: int = 0
    late_spans: int = 0
    buckets: int = 0
    gaps: int = 0
    alarms: int = 0
    incidents: int = 0
    rankings: int = 0
    ranking_seconds: float = 0.0


class Monitor:
    """Spans in by :meth:`ingest`, events out (see :mod:`monitor.protocols` for the events)."""

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        changes: Callable[[pd.Timestamp, pd.Timestamp], Iterable[Change]] | None = None,
        change_prior: rca.ChangePrior | None = None,
    ):
        """``changes``: a source of change events, asked ``changes(since, until)`` at every ranking
        for the look-back window of ``change_prior`` before the onset (e.g. a Kubernetes backend's
        ``changes`` bound to a namespace); its events raise the prior of the changed services
        (:mod:`rca.changes`). Without it the rankings use traces alone."""
        self.config = config or MonitorConfig()
        if changes is not None and not callable(changes):
            raise MonitorError(f"changes: expected a callable (since, until) -> changes, got {type(changes).__name__}")
        if change_prior is not None and not isinstance(change_prior, rca.ChangePrior):
            raise MonitorError(f"change_prior: expected rca.ChangePrior, got {type(change_prior).__name__}")
        self.change_source = changes
        self.change_prior = change_prior or rca.ChangePrior()
        c = self.config
        self.buckets = StreamingBuckets(c.bucket, c.lateness, c.lookback)
        self.tracker = IncidentTracker(
            c.min_services,
            to_timedelta(c.window),
            to_timedelta(c.quiet),
            to_timedelta(c.holdoff),
            to_timedelta(c.bucket),
            c.reopen,
        )
        self.prototype = build_prototype(c.detector, c.params)
        calibration = c.calibration_mode
        self.settings = SeriesSettings(
            self.prototype,
            c.warmup_points,
            c.baseline_points,
            c.rel_floor,
            c.min_shift,
            frozenset(rca.DetectionConfig().event_metrics),
            calibration,
            c.own_min_peaks,
        )
        self.tail = (
            PooledTail(
                c.pool_buckets,
                c.pool_min_scores,
                float(getattr(self.prototype, "q", 1e-3)),
                float(getattr(self.prototype, "level", 0.95)),
            )
            if calibration != "per-series"
            else None
        )
        self.series: dict[SeriesKey, SeriesModel] = {}
        self.history: deque[tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame]] = deque(maxlen=c.history_buckets)
        """Per closed bucket: its start, edge rows and service rows, flat (index reset) for fast stacking."""
        self.known_edges: set[tuple[str, str]] = set()
        self.incidents: deque[Incident] = deque(maxlen=c.keep_incidents)
        """The newest ``keep_incidents`` incidents, the open one included (it is the newest)."""
        self.excluded: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        """(onset, end) of the closed incidents that still overlap the history kept."""
        self.seen: deque[tuple[int, np.ndarray]] = deque()
        self.stats = MonitorStats()
        self._last_bucket_end: pd.Timestamp | None = None

    # ------------------------------------------------------------------ input
    def ingest(self, spans: pd.DataFrame) -> list[dict[str, Any]]:
        """Take one SpanFrame batch; return the events of the buckets it closed."""
        if not len(spans):
            return []
        fresh = self._drop_seen(spans)
        self.stats.spans += len(fresh)
        before = self.buckets.late_spans
        closed = self.buckets.add(fresh)
        self.stats.late_spans += self.buckets.late_spans - before
        return self._process(closed)

    def tick(self, now) -> list[dict[str, Any]]:
        """A live source's wall clock: close the buckets that ``now - lateness`` has passed even
        when no span arrives (an outage of everything is then seen as collection gaps)."""
        until = pd.Timestamp(now, unit="s", tz="UTC") if isinstance(now, (int, float)) else pd.Timestamp(now)
        return self._process(self.buckets.advance(until - self.buckets.lateness))

    def flush(self) -> list[dict[str, Any]]:
        """End of the stream: close every bucket and the open incident."""
        events = self._process(self.buckets.flush())
        if self._last_bucket_end is not None:
            for transition, incident in self.tracker.flush(self._last_bucket_end):
                events.append(self._event(transition, incident, self._last_bucket_end))
        return events

    def _drop_seen(self, spans: pd.DataFrame) -> pd.DataFrame:
        """Spans whose (trace id, span id) was not seen within ``dedup_window`` (nor earlier in the
        batch): 64-bit hashes of the ids, kept per batch and forgotten batch by batch once the
        batch's newest start is older than the window, so the memory stays bounded."""
        keys = _span_keys(spans)
        newest = int(spans["start_us"].max())
        keep = np.zeros(len(keys), dtype=bool)
        keep[np.unique(keys, return_index=True)[1]] = True
        if self.seen:
            known = np.concatenate([k for _, k in self.seen])
            keep &= ~np.isin(keys, known)
        dropped = int(len(keys) - keep.sum())
        if dropped:
            self.stats.duplicate_spans += dropped
            spans = spans.loc[keep].reset_index(drop=True)
        self.seen.append((newest, keys[keep]))
        horizon = newest - int(to_timedelta(self.config.dedup_window).value // 1000)
        while self.seen and self.seen[0][0] < horizon:
            self.seen.popleft()
        return spans

    # ------------------------------------------------------------------ per bucket
    def _process(self, closed: Iterable[ClosedBucket]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        width = self.buckets.width
        for bucket in closed:
            end = bucket.start + width
            self._last_bucket_end = end
            self.stats.buckets += 1
            if bucket.gap:
                edges, services = bucket.edges.iloc[:0], bucket.services.iloc[:0]
            else:
                edges, services = self._complete(bucket), bucket.services
            self.history.append((bucket.start, edges.reset_index(), services.reset_index()))
            alarms: list[Alarm] = []
            values: dict[SeriesKey, float] = {}
            if bucket.gap:
                self.stats.gaps += 1
                last_seen = bucket.start - width
                waiting = [m.pending for m in self.series.values() if m.pending is not None]
                alarms = confirmed_at_gap([a for a in waiting if a.time == last_seen], self.config.gap_confirm_edges)
                for model in self.series.values():
                    model.pause()
            else:
                alarms, values = self._observe(bucket.start, edges, bucket.services)
            self.stats.alarms += len(alarms)
            current = self.tracker.current
            active = current is not None and self._still_active(current, values)
            if active and current is not None:
                current.last_active = bucket.start
            for transition, incident in self.tracker.step(end, alarms, not bucket.gap):
                if transition == "open":
                    self.incidents.append(incident)
                    self.stats.incidents += 1
                    self._rank(incident, "open", end)
                elif transition == "close":
                    stop = max(incident.last_alarm, incident.last_active) + width
                    self._rank(incident, "close", stop)
                    self.excluded.append((incident.onset, stop))
                    oldest = self.history[0][0]
                    self.excluded = [(a, b) for a, b in self.excluded if b > oldest]
                events.append(self._event(transition, incident, end))
            events.append({"event": "stats", "time": format_time(end), "stats": self.stats_json(end)})
        return events

    def _complete(self, bucket: ClosedBucket) -> pd.DataFrame:
        """The bucket's edge rows with a zero-call row for every edge seen before (an edge whose
        calls stopped is a symptom, see ``call_ratio``)."""
        edges = bucket.edges
        current = {(str(a), str(b)) for _, a, b in edges.index} if len(edges) else set()
        self.known_edges |= current
        missing = sorted(self.known_edges - current)
        if not missing:
            return edges
        index = pd.MultiIndex.from_tuples(
            [(bucket.start, a, b) for a, b in missing], names=["time", "caller", "callee"]
        )
        filler = pd.DataFrame(np.nan, index=index, columns=list(edges.columns) or list(EDGE_SERIES_COLUMNS))
        filler["calls"] = 0
        filler["errors"] = 0
        out = pd.concat([edges, filler]) if len(edges) else filler
        out["calls"] = out["calls"].astype("int64")
        out["errors"] = out["errors"].astype("int64")
        return out

    def _still_active(self, incident: Incident, values: dict[SeriesKey, float]) -> bool:
        """Whether any alarmed series of ``incident`` is still away from the baseline it alarmed against."""
        for key, entry in incident.alarmed.items():
            value = values.get(key)
            model = self.series.get(key)
            if value is not None and model is not None and np.isfinite(value) and model.harmful(value, entry.baseline):
                return True
        return False

    def _observe(
        self, start: pd.Timestamp, edges: pd.DataFrame, services: pd.DataFrame
    ) -> tuple[list[Alarm], dict[SeriesKey, float]]:
        if not len(edges):
            return [], {}
        derived = derived_edge_frame(edges, services if len(services) else None)
        keys: list[SeriesKey] = []
        columns: list[np.ndarray] = []
        pairs = [(str(a), str(b)) for _, a, b in derived.index]
        for metric in rca.EDGE_METRICS:
            if metric in derived:
                keys += [("edge", a, b, metric) for a, b in pairs]
                columns.append(derived[metric].to_numpy(dtype=float))
        if len(services):
            names = [str(s) for _, s in services.index]
            for metric in rca.SERVICE_METRICS:
                if metric in services:
                    keys += [("service", s, None, metric) for s in names]
                    columns.append(services[metric].to_numpy(dtype=float))
        values = np.concatenate(columns).tolist() if columns else []
        alarms = []
        tail = self.tail
        if tail is not None:
            tail.begin()
        for key, value in zip(keys, values):
            model = self.series.get(key)
            if model is None:
                model = self.series[key] = SeriesModel(key, self.settings)
            alarm = model.observe(start, value, tail)
            if alarm is not None:
                alarms.append(alarm)
        if tail is not None:
            tail.end()
        return alarms, dict(zip(keys, values))

    # ------------------------------------------------------------------ rankings
    def _rank(self, incident: Incident, stage: str, end: pd.Timestamp) -> None:
        started = time.perf_counter()
        edge_series, service_series = self._history_frames(incident)
        if edge_series is None:
            incident.rankings[stage] = {"error": [{"service": "", "score": 0.0, "why": "no history kept"}]}
            return
        detection = rca.DetectionConfig(bucket=self.config.bucket, train_window=self._train_window(incident.onset))
        methods = self.config.ranking_methods()
        changes = None
        if self.change_source is not None:
            prior = self.change_prior
            changes = list(self.change_source(incident.onset - prior.window, incident.onset + prior.after))
        try:
            result = rca.localize(
                edge_series=edge_series,
                service_series=service_series,
                inject_time=incident.onset,
                end_time=end,
                detection=detection,
                method=methods[0],
                changes=changes,
                change_prior=self.change_prior,
            )
        except rca.RCAError as exc:
            incident.rankings[stage] = {
                m: [{"service": "", "score": 0.0, "why": f"not ranked: {exc}"}] for m in methods
            }
            return
        rankings = {methods[0]: result.ranking}
        for method in methods[1:]:
            rankings[method] = rca.rank(result.graph, result.evidence, method)
            if changes is not None:
                rankings[method] = rca.apply_changes(rankings[method], changes, incident.onset, self.change_prior)
        incident.rankings[stage] = {
            m: [{"service": c.service, "score": round(float(c.score), 6), "why": c.why} for c in r.candidates]
            for m, r in rankings.items()
        }
        self.stats.rankings += 1
        self.stats.ranking_seconds += time.perf_counter() - started

    def _train_window(self, onset: pd.Timestamp) -> pd.Timedelta:
        """``train_window`` of observed buckets before ``onset``: stretched back over collection
        gaps and earlier incidents (within the history kept), so that a fault right after a gap
        is still ranked against as much clean traffic as any other."""
        wanted = self.config.train_window_buckets
        earlier = [(a, b) for a, b in self.excluded if b <= onset]
        start = onset
        for bucket_start, edges, _ in reversed(self.history):
            if bucket_start >= onset or not len(edges) or any(a <= bucket_start < b for a, b in earlier):
                continue
            start, wanted = bucket_start, wanted - 1
            if wanted == 0:
                break
        return max(onset - start, to_timedelta(self.config.train_window))

    def _history_frames(self, incident: Incident) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The kept edge and service series, with the buckets of earlier incidents marked as
        collection gaps (no calls, no values) so they are not learned from."""
        edge_parts = [e for _, e, _ in self.history if len(e)]
        if not edge_parts:
            return None, None
        edges = pd.concat(edge_parts, ignore_index=True)
        service_parts = [s for _, _, s in self.history if len(s)]
        services = pd.concat(service_parts, ignore_index=True) if service_parts else None
        earlier = [(a, b) for a, b in self.excluded if b <= incident.onset]
        if earlier:
            hidden = _within(edges["time"], earlier)
            values = edges.columns.difference(["time", "caller", "callee", "calls", "errors"])
            edges.loc[hidden, values] = np.nan
            edges.loc[hidden, ["calls", "errors"]] = 0
            if services is not None:
                services = services.loc[~_within(services["time"], earlier)]
        edge_frame = edges.set_index(["time", "caller", "callee"]).sort_index()
        edge_frame.attrs["bucket"] = self.buckets.width
        service_frame = services.set_index(["time", "service"]).sort_index() if services is not None else None
        return edge_frame, service_frame

    # ------------------------------------------------------------------ output
    def _event(self, transition: str, incident: Incident, end: pd.Timestamp) -> dict[str, Any]:
        return {"event": transition, "time": format_time(end), "incident": incident.to_json()}

    def stats_json(self, now: pd.Timestamp | None = None) -> dict[str, Any]:
        """The counters of a ``"stats"`` event (the names the Prometheus sink exports).
        ``lag_seconds``: how far the newest span seen is ahead of ``now``, the end of the bucket
        just scored (in data time: lateness plus what arrived since). ``pooled_scores`` /
        ``pooled_threshold``: the scores kept by the pooled calibration and the threshold of the
        bucket just scored, in noise units (None without a pool or before its first fit)."""
        s = self.stats
        watermark = self.buckets.max_start_us
        newest = None if watermark is None else pd.Timestamp(watermark, unit="us", tz="UTC")
        return {
            "spans_ingested": s.spans,
            "duplicate_spans": s.duplicate_spans,
            "late_spans": s.late_spans,
            "buckets_closed": s.buckets,
            "collection_gaps": s.gaps,
            "alarms": s.alarms,
            "incidents_total": s.incidents,
            "incidents_open": int(self.tracker.current is not None),
            "rankings": s.rankings,
            "ranking_seconds": round(s.ranking_seconds, 3),
            "series_monitored": len(self.series),
            "series_fitted": sum(1 for m in self.series.values() if m.fitted),
            "pooled_scores": None if self.tail is None else self.tail.size,
            "pooled_threshold": None if self.tail is None or self.tail.spot is None else round(self.tail.threshold, 6),
            "lag_seconds": None if newest is None or now is None else round((newest - now).total_seconds(), 3),
        }

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory) -> Path:
        """Write the whole state to ``directory`` atomically (a new state folder, then the
        ``CURRENT`` pointer replaced in one rename); older state folders are removed."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        name = f"state-{time.time_ns()}"
        tmp = root / f".{name}.tmp"
        tmp.mkdir()
        scalars, buffered = self.buckets.state()
        _write_parquet(buffered, tmp / "buffer.parquet", index=False)
        history = [(t, e, s) for t, e, s in self.history]
        edge_parts = [e for _, e, _ in history if len(e)]
        if edge_parts:
            _write_parquet(pd.concat(edge_parts, ignore_index=True), tmp / "history_edges.parquet")
        service_parts = [s for _, _, s in history if len(s)]
        if service_parts:
            _write_parquet(pd.concat(service_parts, ignore_index=True), tmp / "history_services.parquet")
        state = {
            "format": STATE_FORMAT,
            "config": self.config.to_json(),
            "buckets": scalars,
            "history_times": [t.isoformat() for t, _, _ in history],
            "series": [m.state() for m in self.series.values()],
            "tail": None if self.tail is None else self.tail.state(),
            "known_edges": sorted(self.known_edges),
            "incidents": [i.to_json() for i in self.incidents],
            "current": None if self.tracker.current is None else self.tracker.current.id,
            "tracker": {
                "count": self.tracker.count,
                "recent": [alarm_json(a) for a in self.tracker.recent],
                "last_closed": None if self.tracker.last_closed is None else self.tracker.last_closed.id,
                "inactive": self.tracker.inactive,
            },
            "excluded": [[a.isoformat(), b.isoformat()] for a, b in self.excluded],
            "seen": [[t, keys.tolist()] for t, keys in self.seen],
            "stats": asdict(self.stats),
            "last_bucket_end": None if self._last_bucket_end is None else self._last_bucket_end.isoformat(),
        }
        with open(tmp / "state.json", "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        final = root / name
        os.replace(tmp, final)
        pointer = root / ".CURRENT.tmp"
        pointer.write_text(name)
        os.replace(pointer, root / "CURRENT")
        for old in root.glob("state-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return final

    @classmethod
    def load(cls, directory, *, changes=None, change_prior: rca.ChangePrior | None = None) -> Monitor:
        """The monitor saved in ``directory`` by :meth:`save`; a change source (and its prior) is
        wiring, not state: give it again here (see :class:`Monitor`)."""
        root = Path(directory)
        try:
            folder = root / (root / "CURRENT").read_text().strip()
            state = json.loads((folder / "state.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MonitorError(f"{root}: not a monitor checkpoint ({exc})") from exc
        if state.get("format") != STATE_FORMAT:
            raise MonitorError(f"{root}: checkpoint format {state.get('format')!r}, expected {STATE_FORMAT!r}")
        config = dict(state["config"])
        config["methods"] = None if config["methods"] is None else tuple(config["methods"])
        monitor = cls(MonitorConfig(**config), changes=changes, change_prior=change_prior)
        buffered = pd.read_parquet(folder / "buffer.parquet")
        monitor.buckets = StreamingBuckets.from_state(state["buckets"], buffered)
        times = [pd.Timestamp(t) for t in state["history_times"]]
        edges = (
            pd.read_parquet(folder / "history_edges.parquet") if (folder / "history_edges.parquet").exists() else None
        )
        services = (
            pd.read_parquet(folder / "history_services.parquet")
            if (folder / "history_services.parquet").exists()
            else None
        )
        for t in times:
            e = edges.loc[edges["time"] == t].reset_index(drop=True) if edges is not None else pd.DataFrame()
            s = services.loc[services["time"] == t].reset_index(drop=True) if services is not None else pd.DataFrame()
            monitor.history.append((t, e, s))
        for entry in state["series"]:
            model = SeriesModel.from_state(entry, monitor.settings)
            monitor.series[model.key] = model
        if state["tail"] is not None:
            monitor.tail = PooledTail.from_state(state["tail"])
        monitor.known_edges = {tuple(e) for e in state["known_edges"]}
        monitor.incidents.extend(Incident.from_json(i) for i in state["incidents"])
        monitor.tracker.count = int(state["tracker"]["count"])
        monitor.tracker.recent.extend(alarm_from_json(a) for a in state["tracker"]["recent"])
        by_id = {i.id: i for i in monitor.incidents}
        if state["current"] is not None:
            monitor.tracker.current = by_id[state["current"]]
        if state["tracker"]["last_closed"] is not None:
            monitor.tracker.last_closed = by_id[state["tracker"]["last_closed"]]
        monitor.tracker.inactive = int(state["tracker"]["inactive"])
        monitor.excluded = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in state["excluded"]]
        monitor.seen = deque((int(t), np.array(keys, dtype=np.uint64)) for t, keys in state["seen"])
        monitor.stats = MonitorStats(**state["stats"])
        last = state["last_bucket_end"]
        monitor._last_bucket_end = None if last is None else pd.Timestamp(last)
        return monitor


def _write_parquet(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    """``frame`` to Parquet without its ``attrs`` (pandas stores them as JSON; a bucket width is a
    Timedelta, which JSON cannot hold, and nothing in the state needs them)."""
    frame = frame.copy(deep=False)
    frame.attrs = {}
    frame.to_parquet(path, **kwargs)


def _within(times: pd.Series, windows: list[tuple[pd.Timestamp, pd.Timestamp]]) -> np.ndarray:
    inside = np.zeros(len(times), dtype=bool)
    for start, stop in windows:
        inside |= ((times >= start) & (times < stop)).to_numpy()
    return inside


def _span_keys(spans: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per span of its trace id and span id."""
    return pd.util.hash_pandas_object(spans[["trace_id", "span_id"]], index=False).to_numpy(np.uint64)
