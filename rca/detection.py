"""Run an anomaly detector on every edge's and every service's series -> EdgeEvidence.

For each edge caller -> callee of an EdgeSeries the detector sees these series:

- ``latency_mean_ms``, ``latency_p90_ms``: what the caller waited;
- ``server_mean_ms``, ``server_p90_ms``: what the callee spent (its server spans);
- ``gap_mean_ms`` = latency_mean - server_mean: time spent *between* the two (network,
  client-side queueing in the caller, connection set-up), the part that points at the
  caller or the link rather than at the callee's code;
- ``error_rate``;
- ``call_ratio`` = calls on the edge / calls into the caller in the same bucket: how many
  downstream calls one request of the caller makes. Unlike raw counts it does not move
  with the offered load or with lost trace files, and it changes when a service's code
  takes another path (returns early, throws) — faults that leave latencies alone.

and for each service of the ServiceSeries: ``latency_mean_ms``, ``latency_p90_ms`` (its
own server-side time) and ``error_rate``.

A bucket in which the whole system recorded no call at all is a gap in the collection,
not an outage: it is treated as missing, and missing points are left out of the series
given to the detector (FluxEV needs a gap-free series).

Detector: anything with FluxEV's batch interface, ``make(**params).fit(train).detect(test)``
returning arrays ``score``, ``threshold``, ``alarm``. The default is :class:`fluxev.FluxEV`
with settings for short windows (:data:`SHORT_WINDOW_FLUXEV`): a fault case gives ~20
training buckets, not the days FluxEV's periodic smoothing needs, so only the first
(local) smoothing is used (``smoothing=1``) with a short window (``s=3``: the first FSE comes
after 2s = 6 points) and a SPOT initialisation that ~10 scores can support (``level=0.7``,
``q=0.05``).

Anomaly strength. With ~10-20 training points SPOT's tail fit rests on one or two peaks,
so its threshold is a weak scale and its alarm a noisy yes/no (measured on the shared
Online-Boutique day: ranking only alarmed series gives AC@1 0.55, against 0.86 below). The
size of a change is measured against the training data instead, in one noise unit:

- noise = max(1.4826 median|x_i - x_(i-1)| / sqrt(2), ``rel_floor`` * |baseline|, metric
  floor): the spread of successive differences, which an earlier incident inside the
  training window (a level change) barely moves, unlike the plain MAD; the relative floor
  keeps a series that was constant in training (a ratio that is always exactly 2) from
  turning a 5 % wobble into a huge z;
- baseline = median of the last ``baseline_points`` (5) training points: the level just
  before the injection, as FluxEV's own EWMA predictor uses the last s points, because
  older history may still hold the previous incident;
- ``shift`` = (level(test) - baseline) / noise: how far the test window's level moved. The
  level is the median of the test buckets, except for series of events
  (``event_metrics``, default the error rate), whose level is their worst bucket: a
  restarting pod fails the calls of a few seconds and nothing after, which the median of a
  3-minute window hides, while a single heavy-tailed latency bucket is noise;
- onset = FluxEV's peak score (FSE: how much the newest error widened the error spread, in
  the series' units) over the test part / noise: how abrupt the change was;
- ``strength`` = mean of the shift and the onset, counted only when the level moved in the
  harmful direction (up for latencies, gaps and error rates; either way for call ratios),
  else 0. ``unconfirmed_weight`` (default 1: no effect) scales series on which SPOT raised
  no alarm; ``strength_source="shift" | "score"`` uses one of the two alone.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rca.errors import RCAError
from rca.types import EVIDENCE_COLUMNS, UNMODELLED_COLUMNS, EdgeEvidence

EDGE_METRICS = (
    "latency_mean_ms", "latency_p90_ms", "server_mean_ms", "server_p90_ms",
    "gap_mean_ms", "error_rate", "call_ratio",
)
SERVICE_METRICS = ("latency_mean_ms", "latency_p90_ms", "error_rate")
TWO_SIDED_METRICS = frozenset({"call_ratio"})
METRIC_FLOORS = {"error_rate": 0.01, "call_ratio": 0.01}

SHORT_WINDOW_FLUXEV: dict[str, Any] = {"s": 3, "smoothing": 1, "level": 0.7, "q": 0.05}


def _fluxev_factory(**params):
    try:
        from fluxev import FluxEV
    except ImportError as exc:  # pragma: no cover - fluxev is part of this project
        raise RCAError("the default detector needs fluxev.FluxEV, which could not be imported") from exc
    return FluxEV(**params)


def strength_from(shift: float, alarmed: bool, metric: str, unconfirmed_weight: float = 1.0,
                  onset: float | None = None, source: str = "both") -> float:
    """Directional, non-negative anomaly strength of one series (see module docstring).

    ``shift``: robust z of the test level; ``onset``: the detector's peak score over the test
    part in the same noise units (None/NaN when the detector did not run). ``source``:
    ``"shift"`` (level only), ``"score"`` (onset only) or ``"both"`` (their mean; the level
    alone when there is no onset). Zero unless the level moved in the harmful direction;
    times ``unconfirmed_weight`` when the detector raised no alarm.
    """
    if not np.isfinite(shift):
        return 0.0
    level = abs(shift) if metric in TWO_SIDED_METRICS else max(shift, 0.0)
    if level == 0.0:
        return 0.0
    has_onset = onset is not None and np.isfinite(onset)
    if source == "shift" or (source == "both" and not has_onset):
        value = level
    elif source == "score":
        value = max(onset, 0.0) if has_onset else 0.0
    elif source == "both":
        value = 0.5 * (level + max(onset, 0.0))
    else:
        raise RCAError(f"strength source must be 'shift', 'score' or 'both', got {source!r}")
    return float(value if alarmed else value * unconfirmed_weight)


def robust_shift(train: np.ndarray, test: np.ndarray, rel_floor: float, floor: float,
                 baseline_points: int | None = None, spread: str = "diff",
                 level: str = "median") -> tuple[float, float, float]:
    """(shift, spread, baseline): robust z of the test level against the recent training level.

    The test level is ``median(test)`` (``level="median"``) or its largest value
    (``level="max"``, for series of events such as error rates, see :data:`EVENT_METRICS`).

    baseline = median of the last ``baseline_points`` training points (all when None).
    ``spread="diff"``: noise scale from successive differences, 1.4826 median|x_i - x_(i-1)| / sqrt(2),
    which a level change inside the training window (the tail of an earlier incident) barely
    moves; ``spread="mad"``: 1.4826 MAD of the training points around their median.
    """
    recent = train if not baseline_points else train[-baseline_points:]
    center = float(np.median(recent))
    if spread == "diff" and len(train) > 2:
        noise = float(np.median(np.abs(np.diff(train)))) * 1.4826 / math.sqrt(2)
    else:
        noise = float(np.median(np.abs(train - np.median(train)))) * 1.4826
    scale = max(noise, rel_floor * abs(center), floor, 1e-12)
    observed = float(np.max(test)) if level == "max" else float(np.median(test))
    return (observed - center) / scale, scale, center


def _to_timestamp(value, name: str) -> pd.Timestamp:
    if value is None:
        raise RCAError(f"{name} is required")
    try:
        if isinstance(value, (int, float, np.integer, np.floating)):
            return pd.Timestamp(float(value), unit="s", tz="UTC")
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise RCAError(f"{name}: cannot read {value!r} as a time ({exc})") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def derived_edge_frame(edge_series: pd.DataFrame, service_series: pd.DataFrame | None = None) -> pd.DataFrame:
    """Edge series with ``gap_mean_ms`` and ``call_ratio`` added and collection gaps set missing."""
    _check_frame(edge_series, "edge_series", ("time", "caller", "callee"), ("calls",))
    frame = edge_series.copy()
    if "latency_mean_ms" in frame and "server_mean_ms" in frame:
        frame["gap_mean_ms"] = frame["latency_mean_ms"] - frame["server_mean_ms"]
    times = frame.index.get_level_values("time")
    callers = frame.index.get_level_values("caller")
    calls = frame["calls"].astype(float)
    incoming = calls.groupby([times, frame.index.get_level_values("callee")]).sum()
    incoming.index = incoming.index.set_names(["time", "service"])
    if service_series is not None and len(service_series):
        own = service_series["calls"].astype(float)
        incoming = own.combine(incoming, lambda a, b: a if a > 0 else b, fill_value=0.0)
    key = pd.MultiIndex.from_arrays([times, callers], names=["time", "service"])
    denominator = incoming.reindex(key).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = calls.to_numpy() / denominator
    ratio[~np.isfinite(ratio)] = np.nan
    frame["call_ratio"] = ratio
    total = calls.groupby(times).transform("sum").to_numpy()
    gap = total == 0
    if gap.any():
        frame.loc[gap, frame.columns.difference(["calls", "errors"])] = np.nan
    return frame


def _check_frame(frame, name: str, levels: Sequence[str], columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise RCAError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(frame.index, pd.MultiIndex) or list(frame.index.names) != list(levels):
        raise RCAError(f"{name}: index must be a MultiIndex {list(levels)}, got {list(frame.index.names)}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RCAError(f"{name}: missing column(s) {missing}")


def detect_evidence(
    edge_series: pd.DataFrame,
    service_series: pd.DataFrame | None,
    train_until,
    *,
    end_time=None,
    train_start=None,
    detector: Callable[..., Any] | None = None,
    detector_params: dict[str, Any] | None = None,
    edge_metrics: Sequence[str] = EDGE_METRICS,
    service_metrics: Sequence[str] = SERVICE_METRICS,
    min_train: int = 3,
    rel_floor: float = 0.05,
    baseline_points: int | None = 5,
    spread: str = "diff",
    strength_source: str = "both",
    unconfirmed_weight: float = 1.0,
    event_metrics: Sequence[str] = ("error_rate",),
    keep_scores: bool = True,
) -> EdgeEvidence:
    """Fit a detector on every series before ``train_until`` and score it after.

    ``detector``: a factory ``detector(**detector_params)`` returning an object with
    ``fit(train).detect(test)`` (FluxEV's interface); default :class:`fluxev.FluxEV` with
    :data:`SHORT_WINDOW_FLUXEV`. Train = buckets starting in [``train_start``,
    ``train_until``), test = buckets starting in [``train_until``, ``end_time``). A series
    with no data, fewer than ``min_train`` valid training points, no valid test point, or a
    constant value throughout is listed in ``evidence.unmodelled`` with the reason. A series
    the detector rejects (e.g. shorter than FluxEV's warm-up) keeps its level shift as
    strength and says so in the table's ``note`` column. See the module docstring for
    ``shift`` and ``strength``; ``keep_scores=False`` skips the per-bucket score frames.
    """
    t0 = _to_timestamp(train_until, "train_until")
    t1 = None if end_time is None else _to_timestamp(end_time, "end_time")
    ts = None if train_start is None else _to_timestamp(train_start, "train_start")
    if t1 is not None and t1 <= t0:
        raise RCAError(f"end_time {t1} is not after train_until {t0}")
    factory = detector or _fluxev_factory
    params = dict(SHORT_WINDOW_FLUXEV if detector is None else {})
    params.update(detector_params or {})

    edges = derived_edge_frame(edge_series, service_series)
    columns = [m for m in edge_metrics if m in edges.columns]
    wide = edges[columns].astype(float).unstack(["caller", "callee"]).sort_index()
    keys = [("edge", str(caller), str(callee), metric) for metric, caller, callee in wide.columns]
    blocks = [wide]
    if service_series is not None and len(service_series):
        _check_frame(service_series, "service_series", ("time", "service"), ())
        columns = [m for m in service_metrics if m in service_series.columns]
        own = service_series[columns].astype(float).unstack("service")
        index = wide.index.union(own.index)
        wide, own = wide.reindex(index), own.reindex(index)
        calls = edges["calls"].groupby(level="time").sum()
        gap_times = calls.index[calls.to_numpy() == 0]
        own.loc[own.index.isin(gap_times)] = np.nan
        keys += [("service", str(service), None, metric) for metric, service in own.columns]
        blocks = [wide, own]
    times = blocks[0].index
    matrix = np.hstack([block.to_numpy(dtype=float) for block in blocks]) if keys else np.zeros((len(times), 0))
    in_train = np.asarray(times < t0)
    if ts is not None:
        in_train &= np.asarray(times >= ts)
    in_test = np.asarray(times >= t0)
    if t1 is not None:
        in_test &= np.asarray(times < t1)
    test_times = times[in_test]

    rows, unmodelled, scores = [], [], {}
    for j, key in enumerate(keys):
        column = matrix[:, j]
        train = column[in_train]
        train = train[~np.isnan(train)]
        test_all = column[in_test]
        valid = ~np.isnan(test_all)
        test = test_all[valid]
        reason = None
        if len(train) == 0 and len(test) == 0:
            reason = "no data: every value of the series is missing"
        elif len(train) < min_train:
            reason = f"too short: {len(train)} valid training points, need {min_train}"
        elif len(test) == 0:
            reason = "no valid point after train_until"
        elif np.ptp(np.concatenate([train, test])) == 0:
            reason = f"flat: constant {train[0]:g} in training and test"
        if reason is not None:
            unmodelled.append((*key, reason))
            continue
        note = ""
        try:
            result = factory(**params).fit(train).detect(test)
            score = np.asarray(result.score, dtype=float)
            threshold = np.asarray(result.threshold, dtype=float)
            alarm = np.asarray(result.alarm, dtype=bool)
        except Exception as exc:  # the detector's own error says why; the shift still counts
            note = f"detector not run ({exc}); strength from the level shift alone"
            score = threshold = np.full(len(test), np.nan)
            alarm = np.zeros(len(test), dtype=bool)
        metric = key[3]
        shift, scale, center = robust_shift(train, test, rel_floor,
                                        METRIC_FLOORS.get(metric, 0.0), baseline_points, spread,
                                        "max" if metric in event_metrics else "median")
        excess = score - threshold
        finite = np.isfinite(excess)
        peak = float(np.max(excess[finite])) if finite.any() else math.nan
        index = test_times[valid]
        first = index[alarm][0] if alarm.any() else pd.NaT
        delta = shift * scale
        onset = float(np.nanmax(score)) / scale if np.isfinite(score).any() else None
        value = strength_from(shift, bool(alarm.any()), metric, unconfirmed_weight, onset, strength_source)
        rows.append((*key, len(train), len(test), float(threshold[-1]) if len(threshold) else math.nan,
                     int(alarm.sum()), first, peak, value, shift, delta,
                     center, note))
        if keep_scores:
            scores[key] = pd.DataFrame(
                {"value": test, "score": score, "threshold": threshold, "alarm": alarm}, index=index,
            )
    table = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    return EdgeEvidence(
        table=table,
        scores=scores,
        unmodelled=pd.DataFrame(unmodelled, columns=list(UNMODELLED_COLUMNS)),
        train_until=t0,
        end_time=t1,
        params={"detector": getattr(factory, "__name__", repr(factory)), **params,
                "min_train": min_train, "rel_floor": rel_floor,
                "baseline_points": baseline_points, "spread": spread, "strength_source": strength_source,
                "unconfirmed_weight": unconfirmed_weight, "event_metrics": list(event_metrics)},
    )
