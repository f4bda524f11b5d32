"""Per-pod metrics as a second source of evidence (CPU, memory, syscalls, network, ...).

Traces show what a fault does to calls; a pod's own metrics can show what it does to the pod
(a CPU hog, a memory leak) where the calls alone leave two services equally suspect.
:func:`metric_evidence` reads a MetricSeries (a frame indexed by ``(time, service, pod)`` with
one numeric column per metric; :func:`collectors.metrics.read_pod_metrics` plus a pod -> service
map, or the ChangeRCA adapter's CPU and memory columns) and, per pod and metric:

- the training points are the rows in ``[onset - train_window, onset)``, the scored ones those
  in ``[onset, end)``;
- z = :func:`rca.detection.robust_shift` of the scored median against the training median, the
  noise from successive differences (a level change inside the training window, the tail of an
  earlier incident, barely moves it), floored at ``rel_floor`` x the training level; only
  increases count (``direction="up"``) unless ``direction="both"``;
- a pod metric with z >= ``threshold`` is a :class:`MetricFinding`; a metric needs
  ``min_train`` training points and one scored point.

Left out by default (any column whose name contains one of ``exclude``, case-insensitive):
host-level metrics (``node``), shared by every pod on the host, which do not point at one
service; and latency metrics (``latency``): a pod's latency is what the traces already measure,
and a pod's *client* latency is its callees' slowness seen from the caller, an effect that points
at the wrong end (on the Online-Boutique day they rose in the callers of every network-delay
fault; ``docs/changes.md``). So by default the metric evidence is the pod's own resources: CPU,
memory, syscalls, network bytes, workload.

:func:`apply_metrics` turns a service's strongest finding into a prior on its ranking score:

- ``mode="multiply"`` (default): score x (1 + ``boost`` x min(z, ``cap``) / ``cap``), so at most
  x2 with the defaults (boost 1, cap 10); like the change prior, a service without trace
  evidence stays at 0 and a metric move alone never outranks evidence, but between services of
  similar trace evidence the one whose pod moved wins;
- ``mode="add"``: score + ``weight`` x min(z, ``cap``), which can lift a service without any
  trace evidence.

The ``why`` names the metric and the pod: ``CpuUsageRate(%) 4.1x its training level on pod
cart-1 (z 12.0; prior x2)``, and the next strongest findings of the same service.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.times import optional_timestamp, to_timedelta, to_timestamp
from rca.detection import robust_shift
from rca.errors import RCAError
from rca.types import Candidate, Ranking

MODES = ("multiply", "add")
DIRECTIONS = ("up", "both")


@dataclass(frozen=True)
class MetricEvidence:
    """Settings of :func:`metric_evidence` and :func:`apply_metrics` (module docstring)."""

    metrics: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ("node", "latency")
    train_window: Any = "10min"
    threshold: float = 3.0
    rel_floor: float = 0.05
    min_train: int = 3
    direction: str = "up"
    mode: str = "multiply"
    boost: float = 1.0
    weight: float = 1.0
    cap: float = 10.0
    top: int = 3

    def __post_init__(self) -> None:
        if self.metrics is not None:
            metrics = (self.metrics,) if isinstance(self.metrics, str) else tuple(self.metrics)
            if not metrics:
                raise RCAError("MetricEvidence.metrics: give at least one metric, or None for all")
            object.__setattr__(self, "metrics", metrics)
        exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude or ())
        object.__setattr__(self, "exclude", exclude)
        object.__setattr__(
            self, "train_window", to_timedelta(self.train_window, "MetricEvidence.train_window", error=RCAError)
        )
        for name in ("threshold", "rel_floor", "boost", "weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise RCAError(f"MetricEvidence.{name}: must be a finite number >= 0, got {value!r}")
        if isinstance(self.cap, bool) or not isinstance(self.cap, numbers.Real) or not self.cap > 0:
            raise RCAError(f"MetricEvidence.cap: must be a number > 0, got {self.cap!r}")
        for name in ("min_train", "top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RCAError(f"MetricEvidence.{name}: must be an integer >= 1, got {value!r}")
        if self.mode not in MODES:
            raise RCAError(f"MetricEvidence.mode: must be one of {MODES}, got {self.mode!r}")
        if self.direction not in DIRECTIONS:
            raise RCAError(f"MetricEvidence.direction: must be one of {DIRECTIONS}, got {self.direction!r}")

    def describe(self) -> dict[str, str]:
        strength = (
            f"x(1+{self.boost:g}*min(z,{self.cap:g})/{self.cap:g})"
            if self.mode == "multiply"
            else (f"+{self.weight:g}*min(z,{self.cap:g})")
        )
        return {
            "metric columns": "all" if self.metrics is None else ", ".join(self.metrics),
            "metric threshold": f"{self.threshold:g}",
            "metric prior": strength,
        }


@dataclass(frozen=True)
class MetricFinding:
    """One pod metric that moved after the onset: scored median against the training median."""

    service: str
    pod: str
    metric: str
    level: float
    baseline: float
    z: float

    def describe(self) -> str:
        if self.baseline > 0 and self.level >= 0:
            move = f"{self.level / self.baseline:.2g}x its training level"
        else:
            move = f"{self.level:.3g} against {self.baseline:.3g} in training"
        return f"{self.metric} {move} on pod {self.pod} (z {self.z:.1f})"


def check_metric_series(metric_series) -> None:
    """RCAError unless ``metric_series`` is indexed by ``(time, service, pod)`` with numeric columns."""
    if (
        not isinstance(metric_series, pd.DataFrame)
        or not isinstance(metric_series.index, pd.MultiIndex)
        or list(metric_series.index.names) != ["time", "service", "pod"]
    ):
        raise RCAError("metric_series: expected a DataFrame indexed by (time, service, pod) with one column per metric")
    if not len(metric_series.columns):
        raise RCAError("metric_series: no metric column")


def _columns(metric_series: pd.DataFrame, config: MetricEvidence) -> list[str]:
    if config.metrics is not None:
        missing = [m for m in config.metrics if m not in metric_series.columns]
        if missing:
            raise RCAError(f"metric_series: no column(s) {missing}; has {list(metric_series.columns)}")
        return list(config.metrics)
    numeric = [c for c in metric_series.columns if pd.api.types.is_numeric_dtype(metric_series[c])]
    return [c for c in numeric if not any(x.lower() in str(c).lower() for x in config.exclude)]


def metric_evidence(
    metric_series: pd.DataFrame, onset, end=None, config: MetricEvidence | None = None
) -> list[MetricFinding]:
    """The pod metrics that moved in ``[onset, end)`` against ``[onset - train_window, onset)``, strongest first."""
    check_metric_series(metric_series)
    config = MetricEvidence() if config is None else config
    if not isinstance(config, MetricEvidence):
        raise RCAError(f"metrics: expected rca.MetricEvidence, got {type(config).__name__}")
    t0 = to_timestamp(onset, "onset", error=RCAError)
    t1 = optional_timestamp(end, "end", error=RCAError)
    columns = _columns(metric_series, config)
    times = metric_series.index.get_level_values("time")
    train_mask = (times < t0) & (times >= t0 - config.train_window)
    test_mask = times >= t0 if t1 is None else (times >= t0) & (times < t1)
    train, test = metric_series[train_mask], metric_series[test_mask]
    findings: list[MetricFinding] = []
    for (service, pod), scored in test.groupby(level=["service", "pod"], sort=True):
        key = (service, pod)
        try:
            history = train.xs(key, level=["service", "pod"])
        except KeyError:
            continue
        for metric in columns:
            before = history[metric].to_numpy(dtype=float)
            after = scored[metric].to_numpy(dtype=float)
            before, after = before[np.isfinite(before)], after[np.isfinite(after)]
            if len(before) < config.min_train or not len(after):
                continue
            z, _scale, center = robust_shift(before, after, config.rel_floor, 0.0)
            level = float(np.median(after))
            if config.direction == "both":
                z = abs(z)
            if z >= config.threshold:
                findings.append(MetricFinding(str(service), str(pod), str(metric), level, center, float(z)))
    return sorted(findings, key=lambda f: (-f.z, f.service, f.pod, f.metric))


def apply_metrics(ranking: Ranking, findings: Iterable[MetricFinding], config: MetricEvidence | None = None) -> Ranking:
    """``ranking`` with each service's strongest metric finding as a prior (module docstring); not in place."""
    if not isinstance(ranking, Ranking):
        raise RCAError(f"apply_metrics: expected rca.Ranking, got {type(ranking).__name__}")
    config = MetricEvidence() if config is None else config
    if not isinstance(config, MetricEvidence):
        raise RCAError(f"metrics: expected rca.MetricEvidence, got {type(config).__name__}")
    by_service: dict[str, list[MetricFinding]] = {}
    for finding in findings:
        by_service.setdefault(finding.service, []).append(finding)
    rows: list[tuple[float, int, Candidate]] = []
    seen = set()
    for position, cand in enumerate(ranking.candidates):
        seen.add(cand.service)
        mine = by_service.get(cand.service)
        if not mine:
            rows.append((cand.score, position, cand))
            continue
        score, prior = _scored(cand.score, mine, config)
        rows.append((score, position, Candidate(cand.service, score, f"{_why(mine, config, prior)}; {cand.why}")))
    if config.mode == "add":
        for service in sorted(set(by_service) - seen):
            mine = by_service[service]
            score, prior = _scored(0.0, mine, config)
            rows.append((score, len(rows), Candidate(service, score, f"{_why(mine, config, prior)}; not in the graph")))
    rows.sort(key=lambda r: (-r[0], r[1]))
    return Ranking([r[2] for r in rows], ranking.method)


def _scored(score: float, mine: list[MetricFinding], config: MetricEvidence) -> tuple[float, str]:
    strength = min(max(f.z for f in mine), config.cap)
    if config.mode == "add":
        added = config.weight * strength
        return score + added, f"+{added:.3g}"
    factor = 1.0 + config.boost * strength / config.cap
    return (score * factor if score > 0 else score), f"prior x{factor:.2g}"


def _why(mine: list[MetricFinding], config: MetricEvidence, prior: str) -> str:
    ordered = sorted(mine, key=lambda f: -f.z)[: config.top]
    text = "; ".join(f.describe() for f in ordered)
    more = len(mine) - len(ordered)
    return f"{text}{f' (+{more} more)' if more > 0 else ''} ({prior})"


def attach_services(pod_metrics: pd.DataFrame, service_of, what: str = "pod_metrics") -> pd.DataFrame:
    """A ``(time, pod)`` metric frame as a MetricSeries ``(time, service, pod)``.

    ``service_of``: a mapping pod -> service (for example the pairs of a SpanFrame's ``pod`` and
    ``service`` columns) or a function of the pod name. Pods it does not name (a mapping without
    the pod, a function returning None or "") are dropped and listed in ``attrs["skipped"]``.
    """
    if (
        not isinstance(pod_metrics, pd.DataFrame)
        or not isinstance(pod_metrics.index, pd.MultiIndex)
        or list(pod_metrics.index.names) != ["time", "pod"]
    ):
        raise RCAError(f"{what}: expected a DataFrame indexed by (time, pod) (collectors.metrics.read_pod_metrics)")
    lookup = service_of.get if hasattr(service_of, "get") else service_of
    if not callable(lookup):
        raise RCAError(f"service_of: expected a mapping pod -> service or a function, got {type(service_of).__name__}")
    pods = pod_metrics.index.get_level_values("pod")
    names = {str(p): lookup(str(p)) for p in pods.unique()}
    unknown = sorted(p for p, s in names.items() if not s)
    services = np.array([names[str(p)] or "" for p in pods], dtype=object)
    keep = services != ""
    frame = pod_metrics[keep].copy()
    frame.index = pd.MultiIndex.from_arrays(
        [frame.index.get_level_values("time"), services[keep].astype(str), frame.index.get_level_values("pod")],
        names=["time", "service", "pod"],
    )
    frame.attrs = dict(pod_metrics.attrs)
    frame.attrs["skipped"] = list(pod_metrics.attrs.get("skipped", [])) + [
        (p, "no service known for this pod") for p in unknown
    ]
    return frame.sort_index()
