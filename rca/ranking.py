"""Rank candidate root-cause services from EdgeEvidence over the service graph.

Every method has the signature ``method(graph, evidence, *, <keyword parameters>) -> Ranking``
and ranks every node of ``graph`` (services that appear only in the evidence are added). The
decorator :func:`ranking_method` registers a function under a name in :data:`METHODS`; methods
registered from user code are first-class (``rca evaluate --method NAME``, the report).
:func:`rank` dispatches by name and checks the parameters against the method's signature;
:data:`DEFAULT_METHOD` names the default.
"""

from __future__ import annotations

import difflib
import inspect
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import pandas as pd

from rca.errors import RCAError
from rca.types import Candidate, EdgeEvidence, Ranking

DEFAULT_METHOD = "explain-upstream"

METHODS: dict[str, Callable[..., Ranking]] = {}
"""Method name -> ranking function; filled by :func:`ranking_method`."""

F = TypeVar("F", bound=Callable[..., Ranking])


def ranking_method(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Decorator: register ``fn(graph, evidence, *, **params) -> Ranking`` as method ``name``."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise RCAError(f"ranking method name must be non-empty text without surrounding spaces, got {name!r}")

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise RCAError(f"ranking_method({name!r}): {fn!r} is not callable")
        parameters = list(inspect.signature(fn).parameters.values())
        if len(parameters) < 2 or any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            raise RCAError(
                f"ranking_method({name!r}): {fn.__qualname__} must take (graph, evidence, *, "
                "named parameters), without *args/**kwargs"
            )
        if name in METHODS and METHODS[name] is not fn and not replace:
            raise RCAError(f"ranking method {name!r} is already registered ({METHODS[name].__qualname__})")
        METHODS[name] = fn
        return fn

    return decorate


def method_parameters(method: str) -> dict[str, Any]:
    """The keyword parameters of a registered method with their defaults."""
    fn = method_function(method)
    params = list(inspect.signature(fn).parameters.values())[2:]
    return {p.name: (None if p.default is p.empty else p.default) for p in params}


def method_function(method: str) -> Callable[..., Ranking]:
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(method), list(METHODS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RCAError(f"unknown ranking method {method!r}{hint}; registered: {', '.join(sorted(METHODS))}") from None


def check_method_params(method: str, params: Mapping[str, Any]) -> None:
    """Raise RCAError naming unknown parameters of ``method`` and the valid ones."""
    valid = list(method_parameters(method))
    unknown = [k for k in params if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, valid, n=1)
            hints.append(repr(k) + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RCAError(
            f"ranking method {method!r}: unknown parameter(s) {', '.join(hints)}; "
            f"valid parameters: {', '.join(valid) or 'none'}"
        )


@dataclass(frozen=True)
class RankingConfig:
    """A ranking method by name and its parameters, checked when made."""

    method: str = DEFAULT_METHOD
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise RCAError(f"RankingConfig.params: expected a mapping, got {self.params!r}")
        check_method_params(self.method, self.params)
        object.__setattr__(self, "params", dict(self.params))

    def describe(self) -> dict[str, str]:
        shown = {**method_parameters(self.method), **self.params}
        return {"method": self.method, **{f"method {k}": str(v) for k, v in shown.items()}}


WAITED = ("latency_mean_ms", "latency_p90_ms")
SPENT = ("server_mean_ms", "server_p90_ms")
OWN = ("latency_mean_ms", "latency_p90_ms")


def _check(graph, evidence) -> None:
    if not isinstance(graph, nx.DiGraph):
        raise RCAError(f"graph: expected a networkx.DiGraph, got {type(graph).__name__}")
    if not isinstance(evidence, EdgeEvidence):
        raise RCAError(f"evidence: expected rca.EdgeEvidence, got {type(evidence).__name__}")


def _nodes(graph: nx.DiGraph, evidence: EdgeEvidence) -> list[str]:
    nodes = {str(n) for n in graph.nodes}
    t = evidence.table
    nodes.update(str(x) for x in t["caller"].dropna())
    nodes.update(str(x) for x in t.loc[t["kind"] == "edge", "callee"].dropna())
    return sorted(nodes)


class _Lookup:
    """Fast access to strengths and deltas by (caller, callee, metric)."""

    def __init__(self, evidence: EdgeEvidence):
        t = evidence.table
        self.edge: dict[tuple[str, str, str], tuple[float, float]] = {}
        self.service: dict[tuple[str, str], tuple[float, float]] = {}
        self.out_edges: dict[str, set[str]] = defaultdict(set)
        self.in_edges: dict[str, set[str]] = defaultdict(set)
        self.baseline: dict[tuple[str, str, str], float] = {}
        for kind, caller, callee, metric, strength, delta, baseline in zip(
            t["kind"], t["caller"], t["callee"], t["metric"], t["strength"], t["delta"], t["baseline"]
        ):
            strength = float(strength) if np.isfinite(strength) else 0.0
            if kind == "edge":
                self.edge[(caller, callee, metric)] = (strength, float(delta))
                self.baseline[(caller, callee, metric)] = float(baseline)
                self.out_edges[caller].add(callee)
                self.in_edges[callee].add(caller)
            else:
                self.service[(caller, metric)] = (strength, float(delta))

    def e(self, caller, callee, metric) -> float:
        return self.edge.get((caller, callee, metric), (0.0, np.nan))[0]

    def e_delta(self, caller, callee, metric) -> float:
        return self.edge.get((caller, callee, metric), (0.0, np.nan))[1]

    def s(self, service, metric) -> float:
        return self.service.get((service, metric), (0.0, np.nan))[0]

    def s_delta(self, service, metric) -> float:
        return self.service.get((service, metric), (0.0, np.nan))[1]

    def has_edge_metric(self, caller, callee, metric) -> bool:
        return (caller, callee, metric) in self.edge


def _ranking(scores: dict[str, float], why: dict[str, str], method: str) -> Ranking:
    order = sorted(scores, key=lambda n: (-scores[n], n))
    return Ranking([Candidate(n, float(scores[n]), why.get(n, "no anomalous evidence")) for n in order], method)


def _fmt(parts: list[tuple[float, str]], limit: int = 4) -> str:
    parts = sorted((p for p in parts if p[0] > 0), key=lambda p: -p[0])[:limit]
    return "; ".join(f"{label} {value:.1f}" for value, label in parts) or "no anomalous evidence"


@ranking_method(DEFAULT_METHOD)
def explain_upstream(
    graph: nx.DiGraph,
    evidence: EdgeEvidence,
    *,
    anomalous: float = 3.0,
    unknown_share: float = 0.5,
) -> Ranking:
    """The framework's own graph-aware method: a root cause explains the anomalies upstream of it.

    For every service X (strengths are the robust, directional z-scores of EdgeEvidence):

    1. **Own time, minus what its callees explain.** own(X) = the largest strength of X's
       own server-side time (its service series, and ``server_*`` on every call into X).
       Its increase in milliseconds is compared with what X's calls out explain: the sum
       over X -> Y of (increase of the time X waited for Y) x (calls to Y per request of X).
       Only the unexplained fraction counts: exclusive(X) = own(X) x (1 - explained / own
       increase), clipped to [0, 1]. A slow caller whose callee is slow gets ~0; a slow
       service whose calls out are normal keeps its whole score.
    2. **Time between caller and callee** (``gap_mean_ms`` = waited - spent; the waited time
       itself when the callee has no server spans) is a network or caller-side anomaly on
       C -> X. It is split between the two ends by what the *other* edges say: the callee's
       share is the fraction of X's other incoming edges that are anomalous too, the
       caller's the fraction of C's other outgoing edges (a delay on X's link slows every
       call into X; a starved caller slows all of its own calls). With no other edge the
       fraction is ``unknown_share``. A service takes the largest share it gets.
    3. **Errors, minus what its callees explain**: the largest error-rate strength on X's
       service series or on calls into X, times the fraction of its error-rate increase not
       explained by error-rate increases on X's calls out (weighted by calls per request),
       exactly as for time: errors propagated from a failing callee do not blame the caller.
    4. **Changed call pattern**: the mean strength of the ``call_ratio`` changes on X's calls
       out (calls per request of X): code that returns early or throws changes how often
       a service calls its callees while latencies stay normal; this blames X, the caller.

    score(X) = exclusive time + gap share + exclusive errors + call-pattern change. Edge
    strengths at or above ``anomalous`` count as anomalous when shares are computed
    (min(1, strength / anomalous), a soft count).
    """
    _check(graph, evidence)
    L = _Lookup(evidence)
    nodes = _nodes(graph, evidence)
    scores: dict[str, float] = {}
    why: dict[str, str] = {}

    def gap_strength(c, x) -> float:
        if L.has_edge_metric(c, x, "gap_mean_ms"):
            return L.e(c, x, "gap_mean_ms")
        if not any(L.has_edge_metric(c, x, m) for m in SPENT):
            return max(L.e(c, x, m) for m in WAITED)
        return 0.0

    def soft(value: float) -> float:
        return min(1.0, value / anomalous) if anomalous > 0 else float(value > 0)

    gap = {(c, x): gap_strength(c, x) for c in L.out_edges for x in L.out_edges[c]}
    gap_share: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (c, x), g in gap.items():
        if g <= 0:
            continue
        others_in = [soft(gap[(o, x)]) for o in L.in_edges[x] if o != c]
        others_out = [soft(gap[(c, o)]) for o in L.out_edges[c] if o != x]
        f_in = float(np.mean(others_in)) if others_in else unknown_share
        f_out = float(np.mean(others_out)) if others_out else unknown_share
        total = f_in + f_out
        share_x = 0.5 if total == 0 else f_in / total
        gap_share[x].append((g * share_x, f"gap {c}->{x} (callee share {share_x:.2f})"))
        gap_share[c].append((g * (1 - share_x), f"gap {c}->{x} (caller share {1 - share_x:.2f})"))

    for x in nodes:
        parts: list[tuple[float, str]] = []
        own_terms = [(L.s(x, m), f"{x} {m}") for m in OWN]
        own_terms += [(L.e(c, x, m), f"{c}->{x} {m}") for c in L.in_edges[x] for m in SPENT]
        own, own_label = max(own_terms, default=(0.0, ""))
        if own > 0:
            fraction = _unexplained(
                _largest(
                    [L.s_delta(x, "latency_mean_ms")] + [L.e_delta(c, x, "server_mean_ms") for c in L.in_edges[x]]
                ),
                [
                    (L.e_delta(x, y, "latency_mean_ms"), L.baseline.get((x, y, "call_ratio"), np.nan))
                    for y in L.out_edges[x]
                ],
            )
            parts.append((own * fraction, f"own time {own_label} {own:.1f} x unexplained {fraction:.2f} ="))
        if gap_share[x]:
            parts.append(max(gap_share[x]))
        err_in, err_label = max(
            [(L.s(x, "error_rate"), f"{x} error_rate")]
            + [(L.e(c, x, "error_rate"), f"{c}->{x} error_rate") for c in L.in_edges[x]]
        )
        if err_in > 0:
            fraction = _unexplained(
                _largest([L.s_delta(x, "error_rate")] + [L.e_delta(c, x, "error_rate") for c in L.in_edges[x]]),
                [(L.e_delta(x, y, "error_rate"), L.baseline.get((x, y, "call_ratio"), np.nan)) for y in L.out_edges[x]],
            )
            parts.append((err_in * fraction, f"errors {err_label} {err_in:.1f} x unexplained {fraction:.2f} ="))
        ratios = [L.e(x, y, "call_ratio") for y in L.out_edges[x] if L.has_edge_metric(x, y, "call_ratio")]
        if ratios:
            parts.append((float(np.mean(ratios)), f"call pattern to its {len(ratios)} callee(s) changed"))
        scores[x] = float(sum(p[0] for p in parts if p[0] > 0))
        why[x] = _fmt(parts)
    return _ranking(scores, why, DEFAULT_METHOD)


def _largest(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else np.nan


def _unexplained(own_delta: float, callee_deltas: list[tuple[float, float]]) -> float:
    """Fraction of a service's own increase not explained by increases on its calls out.

    explained = sum over callees of (increase seen on the call) x (calls per request, 1 when
    unknown); the result is 1 - explained / own increase, clipped to [0, 1] (1 when the own
    increase is not positive or unknown).
    """
    if not np.isfinite(own_delta) or own_delta <= 0:
        return 1.0
    explained = 0.0
    for delta, ratio in callee_deltas:
        if np.isfinite(delta) and delta > 0:
            explained += delta * (ratio if np.isfinite(ratio) else 1.0)
    return float(np.clip(1.0 - explained / own_delta, 0.0, 1.0))


def service_anomaly(evidence: EdgeEvidence, nodes: list[str]) -> dict[str, tuple[float, str]]:
    """Largest single strength that belongs to each service: its own series and calls into it."""
    best = dict.fromkeys(nodes, (0.0, "no anomalous evidence"))
    t = evidence.table
    for kind, caller, callee, metric, strength in zip(t["kind"], t["caller"], t["callee"], t["metric"], t["strength"]):
        owner = caller if kind == "service" else callee
        if kind == "edge" and metric == "call_ratio":
            owner = caller
        label = f"{caller} {metric}" if kind == "service" else f"{caller}->{callee} {metric}"
        if owner in best and np.isfinite(strength) and strength > best[owner][0]:
            best[owner] = (float(strength), label)
    return best


@ranking_method("max-score")
def max_score(graph: nx.DiGraph, evidence: EdgeEvidence) -> Ranking:
    """Baseline: the service with the largest single anomaly strength first."""
    _check(graph, evidence)
    best = service_anomaly(evidence, _nodes(graph, evidence))
    return _ranking(
        {n: v[0] for n, v in best.items()}, {n: f"largest: {v[1]} {v[0]:.1f}" for n, v in best.items()}, "max-score"
    )


@ranking_method("random")
def random_ranking(graph: nx.DiGraph, evidence: EdgeEvidence, *, seed: int = 0) -> Ranking:
    """Baseline: a uniformly random order of the services (chance level).

    The stream is seeded by ``seed`` and the case (its ``train_until``), so a run is
    reproducible while different cases get independent orders: one permutation shared by
    every case would measure where the true causes happen to sit in it, not chance.
    """
    _check(graph, evidence)
    nodes = _nodes(graph, evidence)
    case_key = 0 if evidence.train_until is None else int(pd.Timestamp(evidence.train_until).value)
    order = np.random.default_rng([seed, case_key & 0xFFFFFFFFFFFFFFFF]).permutation(len(nodes))
    n = len(nodes)
    return Ranking([Candidate(nodes[i], float(n - r), "random order") for r, i in enumerate(order)], "random")


@ranking_method("pagerank")
def pagerank(
    graph: nx.DiGraph,
    evidence: EdgeEvidence,
    *,
    anomalous: float = 3.0,
    alpha: float = 0.85,
) -> Ranking:
    """Personalized PageRank over the anomalous subgraph, in the spirit of MicroRCA (Wu et al., NOMS 2020).

    The anomalous subgraph holds every edge whose caller-waited latency, callee-spent time,
    gap or error rate reaches ``anomalous``, plus their end points. The walk follows
    calls from caller to callee (anomalies propagate upstream, so their origin lies
    downstream), with a weaker way back (callee -> caller, a tenth of the weight) so a
    walker can leave a dead end, and a self-loop weighted by the service's own anomaly so
    an anomalous service holds the walker (MicroRCA's self-anomaly term); edge weights are
    the edge's anomaly strength. The personalization vector is
    each service's own anomaly (its largest strength, as in :func:`max_score`); the
    stationary distribution (networkx ``pagerank``) ranks the services. Services outside
    the subgraph follow, ordered by their own anomaly.
    """
    _check(graph, evidence)
    nodes = _nodes(graph, evidence)
    own = service_anomaly(evidence, nodes)
    edge_table = evidence.edges()
    weights: dict[tuple[str, str], float] = defaultdict(float)
    for caller, callee, metric, strength in zip(
        edge_table["caller"], edge_table["callee"], edge_table["metric"], edge_table["strength"]
    ):
        if metric != "call_ratio" and np.isfinite(strength):
            weights[(caller, callee)] = max(weights[(caller, callee)], float(strength))
    sub = nx.DiGraph()
    for (c, x), w in weights.items():
        if w >= anomalous:
            sub.add_edge(c, x, weight=w)
            if not sub.has_edge(x, c):
                sub.add_edge(x, c, weight=0.0)
            sub[x][c]["weight"] = max(sub[x][c]["weight"], 0.1 * w)
    for n in nodes:
        if own[n][0] >= anomalous:
            sub.add_node(n)
    for n in sub.nodes:
        sub.add_edge(n, n, weight=own[n][0])
    scores: dict[str, float] = {}
    why: dict[str, str] = {}
    if sub.number_of_nodes():
        personal = {n: own.get(n, (0.0, ""))[0] + 1e-9 for n in sub.nodes}
        pr = nx.pagerank(sub, alpha=alpha, personalization=personal, weight="weight")
        top = max(pr.values())
        for n, v in pr.items():
            scores[n] = 1.0 + v / top
            why[n] = f"pagerank {v:.3f} in anomalous subgraph; own {own[n][1]} {own[n][0]:.1f}"
    rest = [n for n in nodes if n not in scores]
    top_own = max([own[n][0] for n in rest] + [0.0]) or 1.0
    for n in rest:
        scores[n] = own[n][0] / top_own * 0.999
        why[n] = f"outside the anomalous subgraph; own {own[n][1]} {own[n][0]:.1f}"
    return _ranking(scores, why, "pagerank")


def rank(
    graph: nx.DiGraph, evidence: EdgeEvidence, method: str | RankingConfig = DEFAULT_METHOD, **params: Any
) -> Ranking:
    """Rank the services of ``graph`` as root causes with a method of :data:`METHODS`
    (a name, or a :class:`RankingConfig`; ``params`` are the method's keyword parameters)."""
    if isinstance(method, RankingConfig):
        if params:
            raise RCAError("rank: give the parameters inside the RankingConfig, not beside it")
        name, params = method.method, dict(method.params)
    else:
        name = method
    fn = method_function(name)
    check_method_params(name, params)
    ranking = fn(graph, evidence, **params)
    if not isinstance(ranking, Ranking):
        raise RCAError(f"ranking method {name!r} returned {type(ranking).__name__}, not rca.Ranking")
    ranking.method = name
    return ranking
