"""One streaming detector per series: warm-up, streaming updates, alarms with a severity.

Each series is one (edge or service, metric) of ``rca``'s detection (``rca.EDGE_METRICS``,
``rca.SERVICE_METRICS``, with the derived ``gap_mean_ms`` and ``call_ratio``). Its life:

1. **warm-up**: valid values (not NaN) are collected until ``warmup`` of them exist; then a
   copy of the configured detector is fitted on them (``fit``) and the buffer is dropped, so the
   state stays bounded (a detector whose protocol state is bounded, as FluxEV's is). A series the
   detector cannot model yet (:class:`core.UnmodelledSeries`, e.g. constant so far) keeps
   collecting, up to ``2 * warmup`` values, the newest kept;
2. **streaming**: each new valid value goes through ``update(x)``; a missing value (no call in
   the bucket) is skipped, not learned. A series the detector still cannot model after its
   warm-up, or whose threshold is still infinite (SPOT on an error rate that was always 0 has no
   peaks to fit), and whose clean history is constant, is watched by the baseline rule of point 3
   alone, so that its first errors are seen. The detector's score is compared with its own threshold, or,
   with a pooled calibration (:mod:`monitor.calibration`), scaled by the series' unit and compared
   with the threshold shared by all series (always, or while the own is infinite or rests on too
   few peaks; a constant series is then always watched by the baseline rule). A series that
   would be judged by the pool while the pool has no fit yet (the first buckets after a
   monitor's start, when every series finishes its warm-up at once) has no threshold at all: it
   too is watched by the baseline rule, and its scores still feed the pool;
3. an **alarm** counts only when the value left its clean baseline in the harmful direction
   (up for latencies, gaps and error rates; either way for calls per request, see
   ``rca.detection``) by a margin that matters: a recovery, the value returning towards its
   baseline, is not a symptom, and neither is a wobble the detector's tail model happens to
   exceed. The baseline is the median of the last ``baseline_points`` values that raised no
   alarm; the margin is ``min_shift`` noise units, the unit being the largest of their noise
   (``rca``'s estimator, 1.4826 median|x_i - x_(i-1)| / sqrt(2)), ``rel_floor`` of the baseline
   and the metric's absolute floor: the unit in which ``rca`` measures a level shift
   (docs/rca.md), so an alarm is a shift of at least ``min_shift`` in the ranking's own terms;
4. an alarm on a **level** (latencies, gaps, calls per request) is **confirmed** only when the
   next valid value is still that far from the same baseline: a fault holds for minutes, a slow
   request or a short hiccup does not. A collection gap (:meth:`SeriesModel.pause`) drops an
   unconfirmed alarm: a value seen minutes later, after nothing was collected, does not say that
   the level held. Except when level alarms of at least ``gap_confirm_edges`` distinct edges
   implicating one service wait together in the last bucket before the gap: they confirm each
   other (:func:`confirmed_at_gap`), since the value that would confirm them will not come.
   Within observed data one bucket's agreement is not enough (a single slow request shows on
   several edges); persistence is. An alarm on an **event** series (``rca``'s event metrics,
   the error rate) is confirmed at once: a burst of failed calls is itself the symptom (a killed
   pod fails the calls of a few seconds and nothing after). The confirmed alarm keeps the time
   of the first one.

**Severity** of an alarm, in [0, 1], from SPOT's tail model (Siffer et al., KDD 2017): the
probability of a score at least ``x`` is ``p(x) = (N_t / n) (1 + gamma (x - t) / sigma)^(-1/gamma)``
(``(N_t / n) exp(-(x - t) / sigma)`` for gamma = 0), and the alarm threshold is where
``p = q``; severity = ``1 - p(x) / q``: 0 at the threshold, towards 1 far beyond it. A detector
without a SPOT tail reports ``1 - threshold / score``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.detector import Detector, UnmodelledSeries
from detectors import make_detector
from fluxev.spot import SPOT
from monitor.calibration import PooledTail
from rca.detection import METRIC_FLOORS, TWO_SIDED_METRICS

SeriesKey = tuple[str, str, str | None, str]
"""``(kind, caller, callee, metric)``: ``("edge", a, b, m)`` or ``("service", s, None, m)``."""


@dataclass(frozen=True)
class Alarm:
    key: SeriesKey
    time: Any
    value: float
    baseline: float
    score: float
    threshold: float
    severity: float


def spot_severity(spot: Any, score: float) -> float | None:
    """``1 - p(score) / q`` from a SPOT tail (module docstring), None without one (``spot`` None
    or not a :class:`fluxev.spot.SPOT`)."""
    if not isinstance(spot, SPOT):
        return None
    params = spot.tail()
    if params is None or spot.n_peaks_ == 0 or score <= spot.t_:
        return None
    gamma, sigma = params
    excess = score - spot.t_
    if gamma == 0:
        tail = math.exp(-excess / sigma)
    else:
        base = 1 + gamma * excess / sigma
        tail = 0.0 if base <= 0 else base ** (-1 / gamma)
    p = spot.n_peaks_ / spot.n_ * tail
    return float(np.clip(1 - p / spot.q, 0.0, 1.0))


@dataclass(frozen=True)
class SeriesSettings:
    """What every series of a monitor shares (see the module docstring)."""

    prototype: Detector
    warmup: int
    baseline_points: int
    rel_floor: float
    min_shift: float
    event_metrics: frozenset[str]
    calibration: str = "per-series"
    own_min_peaks: int = 0


class SeriesModel:
    """The streaming state of one series (module docstring)."""

    def __init__(self, key: SeriesKey, settings: SeriesSettings):
        self.key = key
        self.settings = settings
        self.event = key[3] in settings.event_metrics
        self.buffer: list[float] = []
        self.detector: Detector | None = None
        self.clean: deque[float] = deque(maxlen=settings.baseline_points)
        self.pending: Alarm | None = None
        self.points = 0
        self.last_reason = ""

    @property
    def fitted(self) -> bool:
        return self.detector is not None

    def observe(self, time: Any, value: float, tail: PooledTail | None = None) -> Alarm | None:
        """One bucket's value (NaN: no value, skipped); the confirmed alarm it completes, if any.
        With ``tail`` (:mod:`monitor.calibration`), the detector's score scaled by the series'
        unit is kept in the pool unless it alarms, and compared with the pooled threshold instead
        of the detector's own: always (``calibration="pooled"``) or while the detector's own is
        infinite or its SPOT tail rests on fewer than ``own_min_peaks`` peaks and the pool has a
        fit (``"own-or-pooled"``); the alarm then carries the scaled score and threshold."""
        if not math.isfinite(value):
            return None
        self.points += 1
        if self.detector is None:
            warmup = self.settings.warmup
            if len(self.buffer) >= warmup and self.clean and self.noise() == 0:
                alarm = self._baseline_alarm(time, value)
                if alarm is not None or self.pending is not None:
                    return alarm
            self.buffer.append(value)
            if len(self.buffer) > 2 * warmup:
                self.buffer = self.buffer[-2 * warmup :]
            if len(self.buffer) >= warmup:
                self._fit()
            self.clean.append(value)
            return None
        point = self.detector.update(value)
        noise = self.noise()
        if noise == 0 and (tail is not None or not math.isfinite(point.threshold)):
            return self._watch_by_baseline(time, value)
        baseline = statistics.median(self.clean) if self.clean else value
        score, threshold, alarmed = float(point.score), float(point.threshold), bool(point.alarm)
        spot = getattr(self.detector, "spot_", None)
        if tail is not None:
            scaled = score / self.unit(baseline, noise)
            by_pool = self.settings.calibration == "pooled" or not self._own_tail_trusted(threshold, spot)
            if by_pool and tail.spot is not None:
                score, threshold, spot = scaled, tail.threshold, tail.spot
                alarmed = score > threshold
            if not alarmed:
                tail.learn(scaled)
            if by_pool and tail.spot is None:
                return self._watch_by_baseline(time, value)
        pending, self.pending = self.pending, None
        if pending is not None and self.harmful(value, pending.baseline):
            return pending
        if not (alarmed and self.harmful(value, baseline)):
            if not alarmed:
                self.clean.append(value)
            return None
        severity = spot_severity(spot, score)
        if severity is None:
            severity = float(np.clip(1 - threshold / score, 0, 1)) if score > 0 else 0.0
        alarm = Alarm(self.key, time, value, baseline, score, threshold, severity)
        if self.event:
            return alarm
        self.pending = alarm
        return None

    def _own_tail_trusted(self, threshold: float, spot: Any) -> bool:
        """Whether the detector's own threshold is finite and, for a SPOT tail, rests on at least
        ``own_min_peaks`` peaks (module docstring of :mod:`monitor.calibration`)."""
        if not math.isfinite(threshold):
            return False
        return not isinstance(spot, SPOT) or spot.n_peaks_ >= self.settings.own_min_peaks

    def pause(self) -> None:
        """A collection gap: an unconfirmed alarm is dropped (module docstring, point 4)."""
        self.pending = None

    def _watch_by_baseline(self, time: Any, value: float) -> Alarm | None:
        """:meth:`_baseline_alarm` for a fitted series; the value joins the clean ones unless it
        alarmed or waits for its confirmation."""
        alarm = self._baseline_alarm(time, value)
        if alarm is None and self.pending is None:
            self.clean.append(value)
        return alarm

    def _baseline_alarm(self, time: Any, value: float) -> Alarm | None:
        """After the warm-up, while the detector cannot model a series that was constant so far
        (e.g. an error rate that was always 0) or has no finite threshold for it: the baseline rule
        alone. Score = the change, threshold = the margin, severity = 1 - margin / change; a level
        series is confirmed by the next value as usual. An alarmed value (confirmed or pending) is
        not learned."""
        pending, self.pending = self.pending, None
        if pending is not None and self.harmful(value, pending.baseline):
            return pending
        baseline = statistics.median(self.clean)
        if not self.harmful(value, baseline):
            return None
        change, margin = abs(value - baseline), self.margin(baseline)
        severity = float(np.clip(1 - margin / change, 0, 1)) if change > 0 else 0.0
        alarm = Alarm(self.key, time, value, baseline, change, margin, severity)
        if self.event:
            return alarm
        self.pending = alarm
        return None

    def _fit(self) -> None:
        detector = self.settings.prototype.clone()
        try:
            detector.fit(np.asarray(self.buffer, dtype=float))
        except UnmodelledSeries as exc:
            self.last_reason = str(exc)
            return
        self.detector = detector
        self.buffer = []

    def noise(self) -> float:
        """1.4826 median|x_i - x_(i-1)| / sqrt(2) over the clean values (0 with fewer than 3)."""
        if len(self.clean) < 3:
            return 0.0
        steps = [abs(b - a) for a, b in itertools.pairwise(self.clean)]
        return statistics.median(steps) * 1.4826 / math.sqrt(2)

    def unit(self, baseline: float, noise: float | None = None) -> float:
        """The series' noise unit at ``baseline``: the largest of its clean values' noise
        (``noise`` when the caller has it already), ``rel_floor`` of the baseline and the metric's
        floor (module docstring, point 3)."""
        noise = self.noise() if noise is None else noise
        return max(noise, self.settings.rel_floor * abs(baseline), METRIC_FLOORS.get(self.key[3], 0.0))

    def margin(self, baseline: float) -> float:
        """How far from ``baseline`` a value must be to matter: ``min_shift`` noise units."""
        return self.settings.min_shift * self.unit(baseline)

    def harmful(self, value: float, baseline: float) -> bool:
        """Whether ``value`` is away from ``baseline`` in the harmful direction by the series' margin."""
        metric = self.key[3]
        change = value - baseline
        margin = self.margin(baseline)
        if metric in TWO_SIDED_METRICS:
            return abs(change) > margin
        return change > margin

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        return {
            "key": list(self.key),
            "buffer": list(self.buffer),
            "detector": None if self.detector is None else self.detector.state_dict(),
            "clean": list(self.clean),
            "pending": None if self.pending is None else alarm_json(self.pending),
            "points": self.points,
            "last_reason": self.last_reason,
        }

    @classmethod
    def from_state(cls, state: dict, settings: SeriesSettings) -> SeriesModel:
        key = (str(state["key"][0]), str(state["key"][1]), state["key"][2], str(state["key"][3]))
        model = cls(key, settings)
        model.buffer = [float(v) for v in state["buffer"]]
        if state["detector"] is not None:
            model.detector = type(settings.prototype).from_state(state["detector"])
        model.clean.extend(float(v) for v in state["clean"])
        model.pending = None if state["pending"] is None else alarm_from_json(state["pending"])
        model.points = int(state["points"])
        model.last_reason = str(state["last_reason"])
        return model


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    return {
        "key": list(alarm.key),
        "time": pd.Timestamp(alarm.time).isoformat(),
        "value": alarm.value,
        "baseline": alarm.baseline,
        "score": alarm.score,
        "threshold": alarm.threshold,
        "severity": alarm.severity,
    }


def alarm_from_json(data: dict[str, Any]) -> Alarm:
    key = (str(data["key"][0]), str(data["key"][1]), data["key"][2], str(data["key"][3]))
    return Alarm(
        key,
        pd.Timestamp(data["time"]),
        float(data["value"]),
        float(data["baseline"]),
        float(data["score"]),
        float(data["threshold"]),
        float(data["severity"]),
    )


def implicated(key: SeriesKey) -> str:
    """The service a series' symptom points at: the callee for what is waited for or spent on,
    failed or delayed on a call; the caller for its calls per request; the service for its own
    series."""
    kind, caller, callee, metric = key
    if kind == "service" or metric == "call_ratio" or callee is None:
        return caller
    return callee


def confirmed_at_gap(pending: Iterable[Alarm], edges: int) -> list[Alarm]:
    """The level alarms, waiting for their confirmation when a collection gap begins, that
    confirm each other: those of every service that alarms of at least ``edges`` distinct edges
    implicate (:func:`implicated`); the rest are dropped (module docstring, point 4). 0: none."""
    pending = list(pending)
    if edges < 1:
        return []
    peers: dict[str, set[tuple[str, str | None]]] = {}
    for alarm in pending:
        kind, caller, callee, _ = alarm.key
        if kind == "edge":
            peers.setdefault(implicated(alarm.key), set()).add((caller, callee))
    services = {service for service, seen in peers.items() if len(seen) >= edges}
    return [alarm for alarm in pending if implicated(alarm.key) in services]


def build_prototype(detector, params) -> Detector:
    """The validated detector every series clones."""
    return make_detector(detector, **(params or {}))
