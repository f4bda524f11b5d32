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
re-scaling, since the variables are already in comparable units, and with one noise unit of
variance added to every variable, :data:`PCA_IN_NOISE_UNITS`) is fitted on the training
buckets of the view and scores the test buckets; its contributions say which variables moved
together away from the training relations.

**Ranking** (a root cause explains the anomalies upstream of it, as in ``explain-upstream``,
but read from the joint detection). For service X:

- joint(X) = log(1 + median over the test buckets of score / threshold): how far its variables
  as a whole left their training relations (1 = at the threshold);
- own(X) = the share of the contributions (averaged over the test buckets) that belongs to X
  itself: its own series; on the calls into it, the time it spent and the errors it returned;
  on its calls out, their call ratios (its code's call pattern). The times measured on the
  caller's side of a call C -> Y (waited, gap) can move because Y is slow, the link is slow,
  or C is starved; they are split as ``explain-upstream`` splits gaps: Y's share is the
  fraction of Y's other incoming edges that moved too, against the fraction of C's other
  outgoing edges (:func:`callee_shares`). What a caller waited for on a slow callee's call is
  then mostly the callee's, and a caller whose anomaly is what it waited for is a victim;
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

CALLEE_MEASURED = frozenset({"server_mean_ms", "server_p90_ms", "error_rate"})
"""Edge metrics that belong to the callee: the time it spent, the errors its calls returned."""
CALLER_SIDE = frozenset({"latency_mean_ms", "latency_p90_ms", "gap_mean_ms"})
"""Edge metrics measured on the caller's side of a call: the callee, the link or a starved
caller can move them; they are split between the two ends (module docstring)."""


def variable_name(kind: str, caller: str, callee: str | None, metric: str) -> str:
    return f"{caller} {metric}" if kind == "service" else f"{caller}->{callee} {metric}"


def callee_shares(evidence: EdgeEvidence, anomalous: float = 3.0, unknown_share: float = 0.5) -> dict:
    """(caller, callee) -> the callee's share of the edge's caller-side metrics: f_in / (f_in +
    f_out), where f_in is the mean of moved(o, callee) over the callee's other incoming edges and
    f_out of moved(caller, o) over the caller's other outgoing edges (``unknown_share`` without
    other edges; 1/2 when neither moved); moved(e) = min(1, max(0, level shift of the edge's
    ``latency_mean_ms`` or ``gap_mean_ms``) / ``anomalous``), the shifts of EdgeEvidence."""
    t = evidence.edges()
    moved: dict[tuple[str, str], float] = defaultdict(float)
    for caller, callee, metric, shift in zip(t["caller"], t["callee"], t["metric"], t["shift"]):
        if metric in ("latency_mean_ms", "gap_mean_ms") and np.isfinite(shift):
            value = min(1.0, max(0.0, float(shift)) / anomalous) if anomalous > 0 else float(shift > 0)
            moved[(str(caller), str(callee))] = max(moved[(str(caller), str(callee))], value)
    edges = set(moved)
    if evidence.series is not None:
        edges |= {(str(c), str(x)) for k, c, x, _ in evidence.series.columns if k == "edge"}
    into: dict[str, list[str]] = defaultdict(list)
    out_of: dict[str, list[str]] = defaultdict(list)
    for c, x in edges:
        into[x].append(c)
        out_of[c].append(x)
    shares = {}
    for c, x in edges:
        others_in = [moved[(o, x)] for o in into[x] if o != c]
        others_out = [moved[(c, o)] for o in out_of[c] if o != x]
        f_in = float(np.mean(others_in)) if others_in else unknown_share
        f_out = float(np.mean(others_out)) if others_out else unknown_share
        shares[(c, x)] = 0.5 if f_in + f_out == 0 else f_in / (f_in + f_out)
    return shares


def service_variables(
    evidence: EdgeEvidence, anomalous: float = 3.0, unknown_share: float = 0.5
) -> dict[str, list[tuple[tuple, float]]]:
    """Service -> [(series key, the share of it that belongs to the service)] from
    ``evidence.series``: a service's own series are its own; a call's time spent and errors
    belong to the callee, its call ratio to the caller, and its caller-side times are split by
    :func:`callee_shares`."""
    if evidence.series is None:
        raise RCAError("evidence has no series values: run detection with keep_scores=True for the multivariate view")
    shares = callee_shares(evidence, anomalous, unknown_share)
    out: dict[str, list[tuple[tuple, float]]] = defaultdict(list)
    for kind, caller, callee, metric in evidence.series.columns:
        if kind == "service":
            out[str(caller)].append(((kind, caller, None, metric), 1.0))
            continue
        key = (kind, caller, callee, metric)
        if metric in CALLER_SIDE:
            w = shares.get((str(caller), str(callee)), 0.5)
        elif metric == "call_ratio":
            w = 0.0
        else:
            w = 1.0
        out[str(callee)].append((key, w))
        out[str(caller)].append((key, 1.0 - w))
    return out


PCA_IN_NOISE_UNITS = {"scale": False, "ridge": 1.0}
"""PCA on variables already in noise units: no re-scaling, and at least one noise unit of
variance on every variable (as the noise floors of :func:`rca.detection.robust_shift`)."""


@dataclass
class ServiceView:
    """One service's variables in noise units: ``train`` and ``test`` frames (buckets x
    variables), the share of each variable that belongs to the service, and the variables left
    out, with why."""

    service: str
    train: pd.DataFrame
    test: pd.DataFrame
    own: dict[str, float]
    left_out: dict[str, str] = field(default_factory=dict)


def service_view(
    evidence: EdgeEvidence,
    service: str,
    *,
    max_missing_ratio: float = 0.2,
    rel_floor: float = 0.05,
    variables: dict[str, list[tuple[tuple, float]]] | None = None,
) -> ServiceView:
    """The view of the module docstring for ``service``. Buckets in which none of the service's
    series has a value (collection gaps, like the ones detection leaves out) are dropped first.
    ``variables``: :func:`service_variables` of the evidence, when already computed."""
    keys = (service_variables(evidence) if variables is None else variables).get(service, [])
    values = evidence.series
    if values is None:
        raise RCAError("evidence has no series values: run detection with keep_scores=True for the multivariate view")
    position = {_normal(c): j for j, c in enumerate(values.columns)}
    matrix = values.iloc[:, [position[key] for key, _ in keys]].to_numpy(dtype=float)
    seen = ~np.isnan(matrix).all(axis=1) if keys else np.zeros(len(values), dtype=bool)
    matrix, index = matrix[seen], values.index[seen]
    is_train = np.asarray(index < evidence.train_until)
    own, left_out = {}, {}
    train_part, test_part = {}, {}
    for j, (key, mine) in enumerate(keys):
        name = variable_name(*key)
        train, test = matrix[is_train, j], matrix[~is_train, j]
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
    chosen = dict(params) if params is not None else (dict(PCA_IN_NOISE_UNITS) if detector == "pca" else {})
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
    own = float(sum(share[v] * view.own[v] for v in share.index))
    return ServiceDetection(view.service, joint, own, share, n, int(np.sum(result.alarm)))


@ranking_method("multivariate")
def multivariate_ranking(
    graph: nx.DiGraph,
    evidence: EdgeEvidence,
    *,
    detector: str = "pca",
    max_missing_ratio: float = 0.2,
    rel_floor: float = 0.05,
    anomalous: float = 3.0,
    unknown_share: float = 0.5,
) -> Ranking:
    """Each service's variables detected jointly, scored by what the service itself explains
    (module docstring): score = log(1 + median score/threshold) x own share of the contributions."""
    _check(graph, evidence)
    scores: dict[str, float] = {}
    why: dict[str, str] = {}
    variables = service_variables(evidence, anomalous, unknown_share)
    for service in _nodes(graph, evidence):
        view = service_view(
            evidence, service, max_missing_ratio=max_missing_ratio, rel_floor=rel_floor, variables=variables
        )
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
            + (f"; {len(view.left_out)} variable(s) left out (missing values)" if view.left_out else "")
        )
    return _ranking(scores, why, "multivariate")
