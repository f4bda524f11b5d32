"""A per-service multivariate view and the ranking method ``"multivariate"`` that uses it.

**View.** A service's variables are every series that touches it (from ``evidence.series``):
the metrics of each call into it (``caller->service metric``), of each call it makes
(``service->callee metric``) and of its own service series (``service metric``). Each variable is
put in noise units of its training part, (x - baseline) / noise, with the baseline and noise of
:func:`rca.detection.robust_shift` (the same units as the strengths of EdgeEvidence: noise from
successive differences, with relative and per-metric floors). Variables with more than
``max_missing_ratio`` missing training values, or none in the test part, are left out and
counted; the remaining gaps are filled as MVAD's ``Previous`` does.

**Joint detection.** A registered multivariate detector (default PCA T^2 + Q without
re-scaling, since the variables are already in comparable units) is fitted on the training
buckets of the view and scores the test buckets; its contributions say which variables moved
together away from the training relations.

**Ranking** (a root cause explains the anomalies upstream of it, as in ``explain-upstream``,
but read from the joint detection). For service X:

- joint(X) = log(1 + median over the test buckets of score / threshold): how far its variables
  as a whole left their training relations (1 = at the threshold);
- own(X) = the share of the contributions (averaged over the test buckets) that belongs to X
  itself: its own series, the metrics of the calls into it (except their call ratios, which
  are the callers' call pattern) and the call ratios of its calls out (its code's pattern).
  The time and errors it *waited for* on its calls out belong to its callees: a caller whose
  anomaly is what it waited for is a victim;
- score(X) = joint(X) x own(X).

``why`` names the joint score, the own share and the variables that contributed most.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from core.detector import DetectorError, UnmodelledSeries
from detectors import make_detector
from rca.detection import METRIC_FLOORS, robust_shift
from rca.errors import RCAError
from rca.ranking import _check, _nodes, _ranking, ranking_method
from rca.types import EdgeEvidence, Ranking

WAITED_FOR = frozenset(
    {
        "latency_mean_ms",
        "latency_p90_ms",
        "server_mean_ms",
        "server_p90_ms",
        "gap_mean_ms",
        "error_rate",
    }
)
"""Metrics of a call out that measure the callee (what the caller waited for)."""


def variable_name(kind: str, caller: str, callee: str | None, metric: str) -> str:
    return f"{caller} {metric}" if kind == "service" else f"{caller}->{callee} {metric}"


def service_variables(evidence: EdgeEvidence) -> dict[str, list[tuple[tuple, bool]]]:
    """Service -> [(series key, belongs to the service itself)] from ``evidence.series``: a call's
    call ratio belongs to the caller, its other metrics to the callee (module docstring)."""
    if evidence.series is None:
        raise RCAError("evidence has no series values: run detection with keep_scores=True for the multivariate view")
    out: dict[str, list[tuple[tuple, bool]]] = defaultdict(list)
    for kind, caller, callee, metric in evidence.series.columns:
        if kind == "service":
            out[str(caller)].append(((kind, caller, None, metric), True))
            continue
        key = (kind, caller, callee, metric)
        out[str(callee)].append((key, metric != "call_ratio"))
        out[str(caller)].append((key, metric not in WAITED_FOR))
    return out


@dataclass
class ServiceView:
    """One service's variables in noise units: ``train`` and ``test`` frames (buckets x
    variables), which variables are the service's own, and the variables left out, with why."""

    service: str
    train: pd.DataFrame
    test: pd.DataFrame
    own: dict[str, bool]
    left_out: dict[str, str] = field(default_factory=dict)


def service_view(
    evidence: EdgeEvidence, service: str, *, max_missing_ratio: float = 0.2, rel_floor: float = 0.05
) -> ServiceView:
    """The view of the module docstring for ``service``."""
    keys = service_variables(evidence).get(service, [])
    values = evidence.series
    if values is None:
        raise RCAError("evidence has no series values: run detection with keep_scores=True for the multivariate view")
    is_train = np.asarray(values.index < evidence.train_until)
    position = {_normal(c): j for j, c in enumerate(values.columns)}
    own, left_out = {}, {}
    train_part, test_part = {}, {}
    for key, mine in keys:
        name = variable_name(*key)
        column = values.iloc[:, position[key]].to_numpy(dtype=float)
        train, test = column[is_train], column[~is_train]
        valid = train[~np.isnan(train)]
        missing = 1 - len(valid) / len(train) if len(train) else 1.0
        if missing > max_missing_ratio or len(valid) < 3:
            left_out[name] = f"{missing:.0%} of training values missing"
            continue
        if np.isnan(test).all():
            left_out[name] = "no test value"
            continue
        _, noise, baseline = robust_shift(
            valid, valid[-1:], rel_floor, METRIC_FLOORS.get(key[3], 0.0), evidence_baseline_points(evidence)
        )
        own[name] = mine
        train_part[name] = (train - baseline) / noise
        test_part[name] = (test - baseline) / noise
    index = values.index
    train_frame = pd.DataFrame(train_part, index=index[is_train]).ffill().bfill()
    test_frame = pd.DataFrame(test_part, index=index[~is_train])
    test_frame = pd.concat([train_frame.iloc[-1:], test_frame]).ffill().iloc[1:]
    return ServiceView(service, train_frame, test_frame, own, left_out)


def _normal(column: tuple) -> tuple:
    kind, caller, callee, metric = column
    return (kind, caller, None if kind == "service" else callee, metric)


def evidence_baseline_points(evidence: EdgeEvidence) -> int | None:
    return None if evidence.config is None else evidence.config.baseline_points


@dataclass
class ServiceDetection:
    """The joint detection of one service: joint score, own share and contributions."""

    service: str
    joint: float
    own_share: float
    contributions: pd.Series
    n_variables: int
    alarms: int
    note: str = ""


def detect_service(view: ServiceView, detector: str = "pca", params: dict[str, Any] | None = None) -> ServiceDetection:
    """Fit ``detector`` on the view's training buckets and score its test buckets."""
    n = view.train.shape[1]
    empty = pd.Series(dtype=float)
    if n == 0 or view.test.empty:
        return ServiceDetection(view.service, 0.0, 0.0, empty, n, 0, "no variable to model")
    chosen = dict(params) if params is not None else ({"scale": False} if detector == "pca" else {})
    try:
        model = make_detector(detector, **chosen).fit(view.train)
        result = model.detect(view.test)
    except UnmodelledSeries as exc:
        return ServiceDetection(view.service, 0.0, 0.0, empty, n, 0, f"not modelled: {exc}")
    except DetectorError as exc:
        raise RCAError(f"multivariate view of {view.service}: {exc}") from exc
    ratio = np.asarray(result.score, dtype=float) / np.asarray(result.threshold, dtype=float)
    ratio = np.where(np.isfinite(ratio), ratio, 0.0)
    joint = float(np.log1p(max(float(np.median(ratio)), 0.0)))
    contributions = getattr(result, "contributions", None)
    if contributions is None:
        raise RCAError(f"detector {detector!r} gives no per-variable contributions; choose a multivariate detector")
    share = pd.Series(np.asarray(contributions).mean(axis=0), index=list(view.train.columns))
    own = float(share[[view.own[v] for v in share.index]].sum())
    return ServiceDetection(view.service, joint, own, share, n, int(np.sum(result.alarm)))


@ranking_method("multivariate")
def multivariate_ranking(
    graph: nx.DiGraph,
    evidence: EdgeEvidence,
    *,
    detector: str = "pca",
    max_missing_ratio: float = 0.2,
    rel_floor: float = 0.05,
) -> Ranking:
    """Each service's variables detected jointly, scored by what the service itself explains
    (module docstring): score = log(1 + median score/threshold) x own share of the contributions."""
    _check(graph, evidence)
    scores: dict[str, float] = {}
    why: dict[str, str] = {}
    for service in _nodes(graph, evidence):
        view = service_view(evidence, service, max_missing_ratio=max_missing_ratio, rel_floor=rel_floor)
        found = detect_service(view, detector)
        scores[service] = found.joint * found.own_share
        if found.note:
            why[service] = found.note
            continue
        top = found.contributions.sort_values(ascending=False).head(3)
        moved = ", ".join(f"{name} {value:.2f}" for name, value in top.items())
        why[service] = (
            f"joint {found.joint:.2f} x own share {found.own_share:.2f} of {found.n_variables} variables "
            f"({found.alarms} alarmed buckets); moved most: {moved}"
        )
    return _ranking(scores, why, "multivariate")
