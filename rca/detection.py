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

Detector: any detector of the registry (:mod:`detectors`), by name, class or instance, with
the protocol of :mod:`core.detector`; :class:`DetectionConfig` holds it with the other
settings. It is built and validated once (a mistyped parameter is an error before any series
is touched) and cloned for every series. A series the detector cannot model
(:class:`core.UnmodelledSeries`, e.g. shorter than its warm-up) keeps its level shift as
strength, with the reason in the ``note`` column and in ``evidence.unmodelled``; any other
error propagates. The default is :class:`fluxev.FluxEV` with settings for short windows
(:data:`SHORT_WINDOW_FLUXEV`): a fault case gives ~20 training buckets, not the days FluxEV's
periodic smoothing needs, so only the first (local) smoothing is used (``smoothing=1``) with a
short window (``s=3``: the first FSE comes after 2s = 6 points) and a SPOT initialisation that
~10 scores can support (``level=0.7``, ``q=0.05``).

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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from core.detector import Detector, UnmodelledSeries
from core.errors import DataWarning
from core.times import format_duration, optional_timestamp, to_timedelta, to_timestamp
from detectors import make_detector, name_of
from rca.errors import RCAError
from rca.types import EVIDENCE_COLUMNS, UNMODELLED_COLUMNS, EdgeEvidence

EDGE_METRICS = (
    "latency_mean_ms",
    "latency_p90_ms",
    "server_mean_ms",
    "server_p90_ms",
    "gap_mean_ms",
    "error_rate",
    "call_ratio",
)
SERVICE_METRICS = ("latency_mean_ms", "latency_p90_ms", "error_rate")
TWO_SIDED_METRICS = frozenset({"call_ratio"})
METRIC_FLOORS = {"error_rate": 0.01, "call_ratio": 0.01}
SPREADS = ("diff", "mad")
STRENGTH_SOURCES = ("both", "shift", "score")

SHORT_WINDOW_FLUXEV: dict[str, Any] = {"s": 3, "smoothing": 1, "level": 0.7, "q": 0.05}
DEFAULT_DETECTOR_PARAMS: dict[str, dict[str, Any]] = {"fluxev": SHORT_WINDOW_FLUXEV}
"""Parameters a registered detector gets by default in root-cause work (short training windows)."""


@dataclass(frozen=True)
class DetectionConfig:
    """How :func:`detect_evidence` and :func:`rca.localize` run detection (module docstring).

    ``detector``: a registered name, a :class:`core.Detector` class or instance; ``params`` its
    parameters (None: :data:`DEFAULT_DETECTOR_PARAMS` for a name listed there, else the
    detector's own defaults; for an instance, its parameters). ``bucket``: series bucket width
    (used when series are built from spans); ``train_window``: history before the split used
    for training (None: all of it). The other fields are the strength settings of the module
    docstring. Every field is checked when the object is made.
    """

    detector: str | type[Detector] | Detector = "fluxev"
    params: Mapping[str, Any] | None = None
    bucket: str | pd.Timedelta = "30s"
    train_window: str | pd.Timedelta | None = "10min"
    edge_metrics: Sequence[str] = EDGE_METRICS
    service_metrics: Sequence[str] = SERVICE_METRICS
    event_metrics: Sequence[str] = ("error_rate",)
    min_train: int = 3
    rel_floor: float = 0.05
    baseline_points: int | None = 5
    spread: str = "diff"
    strength_source: str = "both"
    unconfirmed_weight: float = 1.0
    keep_scores: bool = True
    _prototype: Detector = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("edge_metrics", "service_metrics", "event_metrics"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(m, str) for m in value):
                raise RCAError(f"DetectionConfig.{name}: expected a list of metric names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(
            self, "bucket", to_timedelta(self.bucket, "DetectionConfig.bucket", error=RCAError, positive=True)
        )
        if self.train_window is not None:
            object.__setattr__(
                self,
                "train_window",
                to_timedelta(self.train_window, "DetectionConfig.train_window", error=RCAError, positive=True),
            )
        _integer(self.min_train, "min_train", 1)
        if self.baseline_points is not None:
            _integer(self.baseline_points, "baseline_points", 1)
        _number(self.rel_floor, "rel_floor", 0.0)
        _number(self.unconfirmed_weight, "unconfirmed_weight", 0.0)
        if self.spread not in SPREADS:
            raise RCAError(f"DetectionConfig.spread: must be one of {SPREADS}, got {self.spread!r}")
        if self.strength_source not in STRENGTH_SOURCES:
            raise RCAError(
                f"DetectionConfig.strength_source: must be one of {STRENGTH_SOURCES}, got {self.strength_source!r}"
            )
        if not isinstance(self.keep_scores, bool):
            raise RCAError(f"DetectionConfig.keep_scores: must be True or False, got {self.keep_scores!r}")
        if self.params is not None and not isinstance(self.params, Mapping):
            raise RCAError(f"DetectionConfig.params: expected a mapping of parameter names, got {self.params!r}")
        params = (
            dict(self.params)
            if self.params is not None
            else (dict(DEFAULT_DETECTOR_PARAMS.get(self.detector, {})) if isinstance(self.detector, str) else {})
        )
        object.__setattr__(self, "_prototype", make_detector(self.detector, **params))
        if self._prototype.multivariate:
            raise RCAError(
                f"DetectionConfig.detector: {self.detector_name!r} is multivariate; detection runs one series at a "
                "time (the ranking method 'multivariate' runs it on each service's series jointly)"
            )

    def build_detector(self) -> Detector:
        """A new, unfitted, validated detector with the configured parameters."""
        return self._prototype.clone()

    @property
    def detector_name(self) -> str:
        return self.detector if isinstance(self.detector, str) else name_of(self._prototype)

    @property
    def detector_params(self) -> dict[str, Any]:
        """The parameters the detector runs with (defaults included)."""
        return self._prototype.get_params()

    def replace(self, **changes: Any) -> DetectionConfig:
        """A copy with some fields changed (``params`` reset to the new detector's unless given)."""
        if "detector" in changes and "params" not in changes:
            changes["params"] = None
        return replace(self, **changes)

    def describe(self) -> dict[str, str]:
        """Readable settings for reports: the detector as it runs and every other field."""
        out = {"detector": repr(self._prototype)}
        for f in fields(self):
            if f.name in ("detector", "params", "_prototype"):
                continue
            out[f.name] = _readable(getattr(self, f.name))
        return out

    def __repr__(self) -> str:
        shown = [f"detector={self._prototype!r}"]
        for f in fields(self):
            if f.name in ("detector", "params", "_prototype"):
                continue
            value = getattr(self, f.name)
            default = f.default
            if f.name in ("bucket", "train_window") and default is not None:
                default = to_timedelta(default)
            if value != default:
                shown.append(f"{f.name}={_readable(value)}")
        return f"DetectionConfig({', '.join(shown)})"


def _readable(value: Any) -> str:
    if isinstance(value, pd.Timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return str(value)


def _integer(value, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise RCAError(f"DetectionConfig.{name}: must be an integer >= {low}, got {value!r}")


def _number(value, name: str, low: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not math.isfinite(value)
        or value < low
    ):
        raise RCAError(f"DetectionConfig.{name}: must be a finite number >= {low:g}, got {value!r}")


def strength_from(
    shift: float,
    alarmed: bool,
    metric: str,
    unconfirmed_weight: float = 1.0,
    onset: float | None = None,
    source: str = "both",
) -> float:
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
    peak = onset if onset is not None and np.isfinite(onset) else None
    if source == "shift" or (source == "both" and peak is None):
        value = level
    elif source == "score":
        value = max(peak, 0.0) if peak is not None else 0.0
    elif source == "both" and peak is not None:
        value = 0.5 * (level + max(peak, 0.0))
    else:
        raise RCAError(f"strength source must be 'shift', 'score' or 'both', got {source!r}")
    return float(value if alarmed else value * unconfirmed_weight)


def robust_shift(
    train: np.ndarray,
    test: np.ndarray,
    rel_floor: float,
    floor: float,
    baseline_points: int | None = None,
    spread: str = "diff",
    level: str = "median",
) -> tuple[float, float, float]:
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
        union = own.index.union(incoming.index)
        mine, theirs = own.reindex(union, fill_value=0.0), incoming.reindex(union, fill_value=0.0)
        incoming = mine.where(mine > 0, theirs)
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
    config: DetectionConfig | None = None,
    detector: str | type[Detector] | Detector | None = None,
) -> EdgeEvidence:
    """Fit a detector on every series before ``train_until`` and score it after.

    ``config`` (default :class:`DetectionConfig()`: FluxEV with :data:`SHORT_WINDOW_FLUXEV`)
    says which detector and how strengths are computed. Train = buckets starting in
    [``train_start``, ``train_until``), test = buckets starting in [``train_until``,
    ``end_time``). A series with no data, fewer than ``min_train`` valid training points, no
    valid test point, or a constant value throughout is listed in ``evidence.unmodelled`` with
    the reason. A series the detector cannot model (:class:`core.UnmodelledSeries`) keeps its
    level shift as strength; its ``note`` and its ``unmodelled`` entry say why. See the module
    docstring for ``shift`` and ``strength``; ``keep_scores=False`` skips the per-bucket frames
    (``scores``) and the values of every series over training and test (``series``).
    ``detector`` is shorthand for ``config=DetectionConfig(detector=...)``.
    """
    if config is not None and detector is not None:
        raise RCAError(
            "detect_evidence: give the detector inside config=DetectionConfig(detector=...), or "
            "detector= alone, not both"
        )
    if config is None:
        config = DetectionConfig() if detector is None else DetectionConfig(detector=detector)
    if not isinstance(config, DetectionConfig):
        raise RCAError(f"config: expected rca.DetectionConfig, got {type(config).__name__}")
    t0 = to_timestamp(train_until, "train_until", error=RCAError)
    t1 = optional_timestamp(end_time, "end_time", error=RCAError)
    ts = optional_timestamp(train_start, "train_start", error=RCAError)
    if t1 is not None and t1 <= t0:
        raise RCAError(f"end_time {t1} is not after train_until {t0}")
    edge_metrics, service_metrics = config.edge_metrics, config.service_metrics
    min_train, event_metrics = config.min_train, config.event_metrics
    prototype = config.build_detector()

    edges = derived_edge_frame(edge_series, service_series)
    unknown = [m for m in edge_metrics if m not in edges.columns and m not in EDGE_METRICS]
    if service_series is not None:
        unknown += [m for m in service_metrics if m not in service_series.columns and m not in SERVICE_METRICS]
    if unknown:
        raise RCAError(
            f"DetectionConfig metrics {unknown} are no column of the series; known: {sorted(set(EDGE_METRICS))} "
            f"and the series' own columns"
        )
    columns = [m for m in edge_metrics if m in edges.columns]
    wide = edges[columns].astype(float).unstack(["caller", "callee"]).sort_index()
    keys: list[tuple[str, str, str | None, str]] = [
        ("edge", str(caller), str(callee), metric) for metric, caller, callee in wide.columns
    ]
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
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                result = prototype.clone().fit(train).detect(test)
            note = "; ".join(str(w.message) for w in caught if issubclass(w.category, DataWarning))
            for w in caught:
                if not issubclass(w.category, DataWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            score = np.asarray(result.score, dtype=float)
            threshold = np.asarray(result.threshold, dtype=float)
            alarm = np.asarray(result.alarm, dtype=bool)
        except UnmodelledSeries as exc:
            note = f"detector not run ({exc}); strength from the level shift alone"
            unmodelled.append((*key, f"detector not run: {exc}; counted by its level shift alone"))
            score = threshold = np.full(len(test), np.nan)
            alarm = np.zeros(len(test), dtype=bool)
        metric = key[3]
        shift, scale, center = robust_shift(
            train,
            test,
            config.rel_floor,
            METRIC_FLOORS.get(metric, 0.0),
            config.baseline_points,
            config.spread,
            "max" if metric in event_metrics else "median",
        )
        excess = score - threshold
        finite = np.isfinite(excess)
        peak = float(np.max(excess[finite])) if finite.any() else math.nan
        index = test_times[valid]
        first = index[alarm][0] if alarm.any() else pd.NaT
        delta = shift * scale
        onset = float(np.nanmax(score)) / scale if np.isfinite(score).any() else None
        value = strength_from(
            shift, bool(alarm.any()), metric, config.unconfirmed_weight, onset, config.strength_source
        )
        rows.append(
            (
                *key,
                len(train),
                len(test),
                float(threshold[-1]) if len(threshold) else math.nan,
                int(alarm.sum()),
                first,
                peak,
                value,
                shift,
                delta,
                center,
                note,
            )
        )
        if config.keep_scores:
            scores[key] = pd.DataFrame(
                {"value": test, "score": score, "threshold": threshold, "alarm": alarm},
                index=index,
            )
    table = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    window = in_train | in_test
    values = (
        pd.DataFrame(
            matrix[window],
            index=times[window],
            columns=pd.MultiIndex.from_tuples(keys, names=["kind", "caller", "callee", "metric"]),
        )
        if config.keep_scores
        else None
    )
    return EdgeEvidence(
        table=table,
        scores=scores,
        series=values,
        unmodelled=pd.DataFrame(unmodelled, columns=list(UNMODELLED_COLUMNS)),
        train_until=t0,
        end_time=t1,
        config=config,
    )
