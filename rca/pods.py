"""Pod-level divergence: each pod compared with its siblings of the same service.

The canary-analysis idea (Netflix/Google's Kayenta: compare the canary's metrics with the
baseline's over the same window, so load and time of day cancel out): a fault in one service's
code or host shows in *some* of its pods, for example the new-version pods of a rollout, while
a problem propagated from a callee, or a change of load, moves all of its pods together. So a
service whose pods diverge from each other at the onset is itself suspect.

:func:`pod_divergence` reads a PodSeries (``(time, service, pod)``, :func:`graph.pod_series`,
or the ChangeRCA adapter's per-pod series); for every service with at least two pods serving
in the scored window ``[onset, end)`` and every metric of :class:`PodDivergence` (error rate
and mean latency by default):

- level(p) = median of pod p's values over the scored window; siblings(p) = median of the
  levels of the service's other pods;
- noise = 1.4826 x MAD, over the training buckets (before the onset), of each pod's value
  minus the median of its siblings' values in the same bucket; floored at ``abs_floor`` of the
  metric and at ``rel_floor`` x the siblings' level (so a pod 10 % slower than flawless
  siblings is not infinitely divergent);
- z(p) = (level(p) - siblings(p)) / noise, counting only increases (errors and latency up);
  a pod that already diverged as much before the onset has that part subtracted (a pod that is
  always slower is not news). A pod *diverges* when z(p) >= ``threshold``.

:func:`apply_pod_divergence` adds ``weight`` x the largest z of a service's diverging pods
(capped at ``cap``) to the service's score, and names the pods (and whether they are the new
pods of a recorded change) in its ``why``. Services with one pod get nothing: this evidence
exists only where there are siblings.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.changes import Change
from core.times import optional_timestamp, to_timestamp
from rca.errors import RCAError
from rca.types import Candidate, Ranking

DEFAULT_FLOORS = {"error_rate": 0.02, "latency_mean_ms": 0.5}


@dataclass(frozen=True)
class PodDivergence:
    """Settings of :func:`pod_divergence` and :func:`apply_pod_divergence` (module docstring)."""

    metrics: tuple[str, ...] = ("error_rate", "latency_mean_ms")
    threshold: float = 3.0
    weight: float = 1.0
    cap: float = 50.0
    rel_floor: float = 0.1
    abs_floor: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FLOORS))

    def __post_init__(self) -> None:
        metrics = (self.metrics,) if isinstance(self.metrics, str) else tuple(self.metrics)
        if not metrics:
            raise RCAError("PodDivergence.metrics: give at least one metric")
        object.__setattr__(self, "metrics", metrics)
        for name in ("threshold", "weight", "cap", "rel_floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise RCAError(f"PodDivergence.{name}: must be a finite number >= 0, got {value!r}")
        floors = dict(DEFAULT_FLOORS)
        floors.update(self.abs_floor or {})
        object.__setattr__(self, "abs_floor", floors)

    def describe(self) -> dict[str, str]:
        return {
            "pod metrics": ", ".join(self.metrics),
            "pod threshold": f"{self.threshold:g}",
            "pod weight": f"{self.weight:g}",
        }


@dataclass(frozen=True)
class PodFinding:
    """One pod that diverges from its siblings: its level and theirs over the scored window."""

    service: str
    pod: str
    metric: str
    level: float
    siblings: float
    z: float
    new: bool  # the pod served nothing before the onset


def _check_series(pod_series) -> None:
    if (
        not isinstance(pod_series, pd.DataFrame)
        or not isinstance(pod_series.index, pd.MultiIndex)
        or list(pod_series.index.names) != ["time", "service", "pod"]
    ):
        raise RCAError("pod_series: expected a DataFrame indexed by (time, service, pod) (graph.pod_series)")


def pod_divergence(pod_series: pd.DataFrame, onset, end=None, config: PodDivergence | None = None) -> list[PodFinding]:
    """The pods that diverge from their siblings in ``[onset, end)``, most divergent first."""
    _check_series(pod_series)
    config = PodDivergence() if config is None else config
    t0 = to_timestamp(onset, "onset", error=RCAError)
    t1 = optional_timestamp(end, "end", error=RCAError)
    missing = [m for m in config.metrics if m not in pod_series.columns]
    if missing:
        raise RCAError(f"pod_series: no column(s) {missing}; has {list(pod_series.columns)}")
    times = pod_series.index.get_level_values("time")
    test_mask = times >= t0
    if t1 is not None:
        test_mask &= times < t1
    train, test = pod_series[times < t0], pod_series[test_mask]
    findings: list[PodFinding] = []
    for service, frame in test.groupby(level="service", sort=True):
        for metric in config.metrics:
            levels = frame[metric].groupby(level="pod").median().dropna()
            if len(levels) < 2:
                continue
            history = (
                train[metric].xs(service, level="service").dropna()
                if service in train.index.get_level_values("service")
                else pd.Series(dtype=float)
            )
            noise_raw, before = _training_noise(history)
            for pod, level in levels.items():
                siblings = float(levels.drop(pod).median())
                noise = max(noise_raw, config.abs_floor.get(metric, 0.0), config.rel_floor * abs(siblings))
                if noise <= 0:
                    continue
                z = (float(level) - siblings) / noise
                old = before.get(pod)
                if old is not None and np.isfinite(old):
                    z -= max(old / noise, 0.0)
                if z >= config.threshold:
                    findings.append(PodFinding(str(service), str(pod), metric, float(level), siblings, z, old is None))
    return sorted(findings, key=lambda f: (-f.z, f.service, f.pod, f.metric))


def _training_noise(history: pd.Series) -> tuple[float, dict[str, float]]:
    """Noise (1.4826 x MAD of pod-minus-siblings per bucket) and each pod's median divergence."""
    if history.empty:
        return 0.0, {}
    wide = history.unstack("pod")
    deviations: list[np.ndarray] = []
    before: dict[str, float] = {}
    for pod in wide.columns:
        others = wide.drop(columns=pod)
        if others.shape[1] == 0:
            continue
        d = (wide[pod] - others.median(axis=1)).dropna().to_numpy()
        if len(d):
            deviations.append(d)
            before[str(pod)] = float(np.median(d))
    if not deviations:
        return 0.0, {}
    pooled = np.concatenate(deviations)
    return float(1.4826 * np.median(np.abs(pooled - np.median(pooled)))), before


def apply_pod_divergence(
    ranking: Ranking,
    findings: Iterable[PodFinding],
    config: PodDivergence | None = None,
    changes: Iterable[Change] = (),
) -> Ranking:
    """``ranking`` with each diverging service's score raised (module docstring); not modified in place."""
    if not isinstance(ranking, Ranking):
        raise RCAError(f"apply_pod_divergence: expected rca.Ranking, got {type(ranking).__name__}")
    config = PodDivergence() if config is None else config
    by_service: dict[str, list[PodFinding]] = {}
    for finding in findings:
        by_service.setdefault(finding.service, []).append(finding)
    new_pods = {p: c for c in changes for p in c.pods}
    rows = []
    seen = set()
    for position, cand in enumerate(ranking.candidates):
        seen.add(cand.service)
        mine = by_service.get(cand.service)
        if not mine:
            rows.append((cand.score, position, cand))
            continue
        score = cand.score + config.weight * min(max(f.z for f in mine), config.cap)
        rows.append((score, position, Candidate(cand.service, score, f"{_pods_why(mine, new_pods)}; {cand.why}")))
    for service in sorted(set(by_service) - seen):
        mine = by_service[service]
        score = config.weight * min(max(f.z for f in mine), config.cap)
        rows.append((score, len(rows), Candidate(service, score, f"{_pods_why(mine, new_pods)}; not in the graph")))
    rows.sort(key=lambda r: (-r[0], r[1]))
    return Ranking([r[2] for r in rows], ranking.method)


def _pods_why(findings: list[PodFinding], new_pods: dict[str, Change]) -> str:
    pods = sorted({f.pod for f in findings})
    strongest = max(findings, key=lambda f: f.z)
    tags = []
    for pod in pods:
        change = new_pods.get(pod)
        tags.append(f"{pod} (new {change.version or 'version'})" if change is not None else pod)
    n_all = len(pods)
    return (
        f"{n_all} pod(s) diverge from their siblings: {', '.join(tags[:4])}{' ...' if n_all > 4 else ''}; "
        f"strongest {strongest.pod} {strongest.metric} {strongest.level:.3g} vs siblings {strongest.siblings:.3g} "
        f"(z {strongest.z:.1f})"
    )
