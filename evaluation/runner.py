"""Run ranking methods over cases and score them against the ground truth.

:func:`evaluate` calls ``localize(spans, inject_time, end_time, edge_series=..., detection=...,
method=name)`` (by default :func:`rca.localize`) and turns the rankings into
:class:`~evaluation.metrics.Outcome` records, with the time spent building series and detecting
kept apart from the time spent ranking. By default detection runs once per case and every method
ranks that evidence (``share_evidence``): the rankings are the same as separate ``localize``
calls, since ``localize`` is detection followed by ``rank``. A method that raises one of the
framework's errors on a case is recorded as failed for that case (its message kept) and the case
counts as a miss: the denominator of every metric is the number of usable cases. Any other
exception is a bug and propagates.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
from tqdm.auto import tqdm

import graph
import rca
from core.errors import FrameworkError
from evaluation.cases import Case
from evaluation.errors import EvaluationError
from evaluation.metrics import Outcome, by_day, by_fault_type, summarize

CHANGES_SUFFIX = "+changes"
"""Name suffix of a method's change-aware variant (``evaluate(..., change_prior=...)``)."""

PODS_SUFFIX = "+pods"
"""Name suffix of a method's pod-aware variant (``evaluate(..., pods=...)``)."""

METRICS_SUFFIX = "+metrics"
"""Name suffix of a method's metric-aware variant (``evaluate(..., metrics=...)``)."""

DEFAULT_KEY = "default"
"""Key of ``results()`` that names the default method."""


def available_methods() -> list[str]:
    """The registered ranking methods (:data:`rca.METHODS`), default first."""
    names = sorted(rca.METHODS)
    if rca.DEFAULT_METHOD in names:
        names.remove(rca.DEFAULT_METHOD)
        names.insert(0, rca.DEFAULT_METHOD)
    return names


def candidate_services(case: Case, result: Any = None, spans: pd.DataFrame | None = None) -> set[str]:
    """Every service the case's data names, plus the nodes and candidates ``result`` holds.

    ``spans``: the case's spans when the caller has already loaded them (default: ``case.load_spans()``).
    """
    services: set[str] = set()
    spans = case.load_spans() if spans is None else spans
    if spans is not None and len(spans):
        services.update(str(s) for s in spans["service"].dropna().unique())
    if case.edge_series is not None and len(case.edge_series):
        index = case.edge_series.index
        for level in ("caller", "callee"):
            services.update(str(s) for s in index.get_level_values(level).unique())
    if result is not None:
        graph = getattr(result, "graph", None)
        if graph is not None:
            services.update(str(n) for n in graph.nodes)
        services.update(_ranked_services(result))
    return services


def case_pod_findings(
    case: Case, spans: pd.DataFrame | None, pods: rca.PodDivergence, detection: rca.DetectionConfig | None
) -> list:
    """The pods of ``case`` that diverge from their siblings: on ``case.pod_series``, else on its
    spans (:func:`graph.pod_series`, buckets of ``detection``, aligned on the injection)."""
    series = case.pod_series
    if series is None and spans is not None:
        config = detection or rca.DetectionConfig()
        start = None if config.train_window is None else case.inject_time - config.train_window
        series = graph.pod_series(spans, bucket=config.bucket, start=start, end=case.end_time, origin=case.inject_time)
    if series is None:
        return []
    return rca.pod_divergence(series, case.inject_time, case.end_time, pods)


def case_day(case: Case) -> str:
    """The day a case belongs to: ``metadata["day"]`` as the adapter set it, else the UTC date of
    its injection."""
    day = case.metadata.get("day")
    return str(day) if day else case.inject_time.strftime("%Y-%m-%d")


@dataclass
class Evaluation:
    """Everything one evaluation run produced; :meth:`results` is the ``--json`` content."""

    cases: list[Case]
    skipped: list[tuple[str, str]]
    methods: list[str]
    default_method: str
    outcomes: dict[str, list[Outcome]]
    kept: dict[str, Any] = field(default_factory=dict)
    kept_method: str | None = None
    settings: dict[str, str] = field(default_factory=dict)

    def summary(self, method: str) -> dict:
        outcomes = self.outcomes[method]
        return {"cases": len(outcomes), "skipped": len(self.skipped), **summarize(outcomes)}

    def misses(self, method: str, k: int = 1) -> list[Outcome]:
        """The outcomes of ``method`` whose root cause is not in its top ``k`` (failures included)."""
        return [o for o in self.outcomes[method] if o.rank is None or o.rank > k]

    def results(self) -> dict:
        """``{"<method>": {"AC@1", "AC@3", "AC@5", "Avg@5", "cases", "skipped", ...}, "default": name,
        "methods": [names], "settings": {name: value}}``."""
        out: dict[str, Any] = {}
        for method in self.methods:
            entry = self.summary(method)
            entry["by_fault_type"] = by_fault_type(self.outcomes[method])
            entry["by_day"] = by_day(self.outcomes[method])
            entry["skipped_cases"] = [{"case_id": c, "reason": r} for c, r in self.skipped]
            entry["per_case"] = [
                {
                    "case_id": o.case_id,
                    "fault_type": o.fault_type,
                    "day": o.day,
                    "root_causes": o.root_causes,
                    "rank": o.rank,
                    "candidates": o.n_candidates,
                    "top5": o.ranking[:5],
                    "seconds": o.seconds,
                    "detect_seconds": o.detect_seconds,
                    "rank_seconds": o.rank_seconds,
                    "error": o.error,
                }
                for o in self.outcomes[method]
            ]
            out[method] = entry
        out[DEFAULT_KEY] = self.default_method
        out["methods"] = list(self.methods)
        out["settings"] = dict(self.settings)
        return json_safe(out)


def evaluate(
    cases: Sequence[Case],
    methods: Sequence[str] | None = None,
    *,
    detection: rca.DetectionConfig | None = None,
    localize: Callable | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    default_method: str | None = None,
    keep_method: str | None = None,
    strict: bool = False,
    progress: bool = True,
    share_evidence: bool = True,
    rank: Callable | None = None,
    change_prior: rca.ChangePrior | None = None,
    pods: rca.PodDivergence | None = None,
    operations: bool = False,
    metrics: rca.MetricEvidence | None = None,
) -> Evaluation:
    """Rank every case with every method and score the rankings.

    ``localize`` defaults to :func:`rca.localize` and ``rank`` to :func:`rca.rank`; ``methods``
    to every registered method (:data:`rca.METHODS`); ``detection`` to
    :class:`rca.DetectionConfig()`. The full result (ranking, evidence, graph) of ``keep_method``
    (default: the default method if evaluated, else the first) is kept per case for the report.
    ``strict=True`` re-raises a method's error instead of recording it. With a custom
    ``localize`` (a test double, another system), give ``methods`` and set ``share_evidence``
    to False unless ``rank`` is given too.

    ``change_prior``: also score every method with the case's change events (``Case.changes``)
    applied to its ranking by :func:`rca.apply_changes`, under the name ``<method>+changes``, beside
    the method's own; a case without changes gets the method's own ranking there. ``pods``:
    likewise ``<method>+pods`` with each pod compared with its siblings (:func:`rca.pod_divergence`
    on ``Case.pod_series``, else on the case's spans) and, with both, ``<method>+pods+changes``.
    ``metrics``: likewise ``<method>+metrics``, the method's ranking with the case's per-pod metrics
    (``Case.metric_series``) as a prior (:func:`rca.apply_metrics`); a case without metrics gets the
    method's own ranking there.
    ``operations=True`` has the kept method's ``localize`` call rank (service, operation) pairs too
    (cases with spans), for the report.
    """
    custom = localize is not None
    localize = localize or rca.localize
    rank = rank or (None if custom else rca.rank)
    if custom:
        if not methods:
            raise EvaluationError("give the method names to run with a custom localize function")
        names = list(methods)
        default_method = default_method or names[0]
    else:
        registered = available_methods()
        names = list(methods) if methods else registered
        unknown = [m for m in names if m not in registered]
        if unknown:
            raise EvaluationError(f"unknown method(s) {unknown}; registered: {', '.join(registered)}")
        default_method = default_method or rca.DEFAULT_METHOD
    if len(set(names)) != len(names):
        raise EvaluationError(f"method listed twice in {names}")
    if DEFAULT_KEY in names:
        raise EvaluationError(f"{DEFAULT_KEY!r} names the default method in the results; give the method another name")
    if share_evidence and rank is None:
        raise EvaluationError("share_evidence needs a rank function (rca.rank with the default localize)")
    detection = rca.DetectionConfig() if detection is None and not custom else detection
    if keep_method is None:
        keep_method = default_method if default_method in names else names[0]
    if change_prior is not None and not isinstance(change_prior, rca.ChangePrior):
        raise EvaluationError(f"change_prior: expected rca.ChangePrior, got {type(change_prior).__name__}")
    if pods is not None and not isinstance(pods, rca.PodDivergence):
        raise EvaluationError(f"pods: expected rca.PodDivergence, got {type(pods).__name__}")
    if metrics is not None and not isinstance(metrics, rca.MetricEvidence):
        raise EvaluationError(f"metrics: expected rca.MetricEvidence, got {type(metrics).__name__}")
    suffixes = [
        suffix
        for suffix, on in (
            (CHANGES_SUFFIX, change_prior is not None),
            (PODS_SUFFIX, pods is not None),
            (PODS_SUFFIX + CHANGES_SUFFIX, change_prior is not None and pods is not None),
            (METRICS_SUFFIX, metrics is not None),
        )
        if on
    ]
    variants = {m: [m + suffix for suffix in suffixes] for m in names} if suffixes else {}
    clash = [v for vs in variants.values() for v in vs if v in names]
    if clash:
        raise EvaluationError(f"method name(s) {clash} clash with the change- or pod-aware variants' names")
    order = [keep_method] + [m for m in names if m != keep_method] if share_evidence else names
    ranker = cast(Callable, rank)
    settings = {} if detection is None else detection.describe()
    settings["share_evidence"] = str(share_evidence)
    if change_prior is not None:
        settings.update(change_prior.describe())
    if pods is not None:
        settings.update(pods.describe())
    if metrics is not None:
        settings.update(metrics.describe())
    shown = [n for m in names for n in [m, *variants.get(m, [])]]

    outcomes: dict[str, list[Outcome]] = {m: [] for m in shown}
    kept: dict[str, Any] = {}
    bar = tqdm(total=len(cases) * len(names), desc="evaluate", unit="run", disable=not progress)
    try:
        for case in cases:
            spans = case.load_spans()
            findings = case_pod_findings(case, spans, pods, detection) if pods is not None else []
            metric_findings = (
                rca.metric_evidence(case.metric_series, case.inject_time, case.end_time, metrics)
                if metrics is not None and case.metric_series is not None
                else []
            )
            shared: Any = None
            shared_error: str | None = None
            shared_detect = 0.0
            for method in order:
                bar.set_postfix_str(f"{case.case_id} {method}", refresh=False)
                started = time.perf_counter()
                error, result = None, None
                detect_seconds = rank_seconds = math.nan
                try:
                    if share_evidence and method != order[0]:
                        if shared is None:
                            raise _SharedFailure(shared_error)
                        result = _with_ranking(shared, ranker(shared.graph, shared.evidence, method=method))
                        detect_seconds, rank_seconds = shared_detect, time.perf_counter() - started
                    else:
                        kwargs: dict[str, Any] = {"edge_series": case.edge_series, "method": method}
                        if operations and spans is not None and method == keep_method:
                            kwargs["operations"] = True
                        if detection is not None:
                            kwargs["detection"] = detection
                        result = localize(spans, case.inject_time, case.end_time, **kwargs)
                        timings = getattr(result, "timings", None) or {}
                        if timings:
                            detect_seconds = timings.get("series", 0.0) + timings.get("detect", 0.0)
                            rank_seconds = timings.get("rank", math.nan)
                except _SharedFailure as exc:
                    error = str(exc)
                except FrameworkError as exc:
                    if strict:
                        raise
                    error = f"{type(exc).__name__}: {exc}"
                seconds = time.perf_counter() - started
                if share_evidence and method == order[0]:
                    shared, shared_error = result, error
                    shared_detect = detect_seconds if math.isfinite(detect_seconds) else seconds
                elif share_evidence:
                    seconds += shared_detect
                n_candidates = len(candidate_services(case, result, spans))
                runs = [(method, result)]
                for variant in variants.get(method, []):
                    changed = None
                    if result is not None:
                        ranking = _as_ranking(result)
                        if variant.endswith(METRICS_SUFFIX):
                            ranking = rca.apply_metrics(ranking, metric_findings, metrics)
                        if PODS_SUFFIX in variant:
                            ranking = rca.apply_pod_divergence(ranking, findings, pods, case.changes)
                        if variant.endswith(CHANGES_SUFFIX):
                            ranking = rca.apply_changes(ranking, case.changes, case.inject_time, change_prior)
                        changed = SimpleNamespace(ranking=ranking)
                        n_candidates = max(n_candidates, len(set(_ranked_services(changed))))
                    runs.append((variant, changed))
                for name, run in runs:
                    outcomes[name].append(
                        Outcome(
                            case_id=case.case_id,
                            method=name,
                            fault_type=case.fault_type,
                            root_causes=list(case.root_causes),
                            ranking=_ranked_services(run) if run is not None else [],
                            n_candidates=n_candidates,
                            seconds=seconds,
                            error=error,
                            scores=_ranked_scores(run) if run is not None else [],
                            detect_seconds=detect_seconds,
                            rank_seconds=rank_seconds,
                            day=case_day(case),
                        )
                    )
                if method == keep_method and result is not None:
                    kept[case.case_id] = result
                bar.update(1)
    finally:
        bar.close()
    return Evaluation(
        cases=list(cases),
        skipped=list(skipped),
        methods=shown,
        default_method=default_method,
        outcomes=outcomes,
        kept=kept,
        kept_method=keep_method,
        settings=settings,
    )


class _SharedFailure(Exception):
    """The shared localize call failed; the other methods inherit its error."""


def _with_ranking(result: Any, ranking: Any) -> Any:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.replace(result, ranking=ranking)
    return SimpleNamespace(ranking=ranking, evidence=result.evidence, graph=result.graph)


def _candidates(result: Any) -> list:
    ranking = getattr(result, "ranking", result)
    if ranking is None:
        return []
    return list(getattr(ranking, "candidates", ranking))


def _as_ranking(result: Any) -> rca.Ranking:
    ranking = getattr(result, "ranking", result)
    if isinstance(ranking, rca.Ranking):
        return ranking
    return rca.Ranking(
        [rca.Candidate(str(c.service), float(c.score), str(getattr(c, "why", ""))) for c in _candidates(result)]
    )


def _ranked_services(result: Any) -> list[str]:
    return [str(c.service) for c in _candidates(result)]


def _ranked_scores(result: Any) -> list[float]:
    return [float(c.score) for c in _candidates(result)]


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
