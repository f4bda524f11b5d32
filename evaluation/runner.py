"""Run ranking methods over cases and score them against the ground truth.

:func:`evaluate` calls ``localize(spans=..., edge_series=..., inject_time=..., end_time=...,
method=name)`` (by default :func:`rca.localize`) once per case and method, times it,
and turns the rankings into :class:`~evaluation.metrics.Outcome` records. A method that
raises on a case is recorded as failed for that case (its message kept) and the case
counts as a miss: the denominator of every metric is the number of usable cases.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from evaluation.cases import Case
from evaluation.errors import EvaluationError
from evaluation.metrics import Outcome, by_fault_type, summarize

DEFAULT_ALIAS = "default"


def available_methods() -> dict[str, Callable]:
    """``rca.METHODS``: method name -> ranking function."""
    try:
        import rca
        return dict(rca.METHODS)
    except (ImportError, AttributeError) as exc:
        raise EvaluationError(f"rca.METHODS is not available ({exc})") from exc


def method_table(methods: dict[str, Callable]) -> dict[str, str]:
    """Report name -> key of ``rca.METHODS``, every method once.

    The ``"default"`` alias is dropped when it repeats another entry; when it is the
    only entry of its function it is reported under the function's name
    (``explain_upstream`` -> ``"explain-upstream"``), because the results JSON uses the
    key ``"default"`` to *name* the default method.
    """
    alias = methods.get(DEFAULT_ALIAS)
    table = {k: k for k in methods if k != DEFAULT_ALIAS}
    if alias is not None and not any(methods[k] is alias for k in table):
        name = getattr(alias, "__name__", "").replace("_", "-") or "default-method"
        if name in table or name == DEFAULT_ALIAS:
            name = "default-method"
        table = {name: DEFAULT_ALIAS, **table}
    return table


def method_names(methods: dict[str, Callable]) -> list[str]:
    """The report names of :func:`method_table`."""
    return list(method_table(methods))


def default_method_name(methods: dict[str, Callable] | None = None) -> str:
    """Report name of rca's default method (``rca.DEFAULT_METHOD``, else what ``"default"`` runs)."""
    import rca

    methods = available_methods() if methods is None else methods
    table = method_table(methods)
    name = getattr(rca, "DEFAULT_METHOD", None)
    if isinstance(name, str) and name in table:
        return name
    alias = methods.get(DEFAULT_ALIAS)
    for report_name, key in table.items():
        if key == DEFAULT_ALIAS or methods[key] is alias:
            return report_name
    return next(iter(table))


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
    parameters: dict[str, Any] = field(default_factory=dict)

    def summary(self, method: str) -> dict:
        outcomes = self.outcomes[method]
        return {"cases": len(outcomes), "skipped": len(self.skipped), **summarize(outcomes)}

    def results(self) -> dict:
        """``{"<method>": {"AC@1", "AC@3", "AC@5", "Avg@5", "cases", "skipped", ...}, "default": name}``."""
        out: dict[str, Any] = {}
        for method in self.methods:
            entry = self.summary(method)
            entry["by_fault_type"] = by_fault_type(self.outcomes[method])
            entry["skipped_cases"] = [{"case_id": c, "reason": r} for c, r in self.skipped]
            entry["per_case"] = [
                {"case_id": o.case_id, "fault_type": o.fault_type, "root_causes": o.root_causes,
                 "rank": o.rank, "candidates": o.n_candidates, "top5": o.ranking[:5],
                 "seconds": o.seconds, "error": o.error}
                for o in self.outcomes[method]
            ]
            out[method] = entry
        out["default"] = self.default_method
        return json_safe(out)


def evaluate(
    cases: Sequence[Case],
    methods: Sequence[str] | None = None,
    *,
    localize: Callable | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    default_method: str | None = None,
    keep_method: str | None = None,
    strict: bool = False,
    progress: bool = True,
    share_evidence: bool = False,
    rank: Callable | None = None,
) -> Evaluation:
    """Rank every case with every method and score the rankings.

    ``localize`` defaults to :func:`rca.localize`; ``methods`` to every entry of
    ``rca.METHODS``. The full result (ranking, evidence, graph) of ``keep_method``
    (default: the default method if evaluated, else the first) is kept per case for
    the report. ``strict=True`` re-raises a method's exception instead of recording it.

    ``share_evidence=True`` calls ``localize`` once per case (with ``keep_method``) and
    ranks the other methods on that result's graph and evidence with ``rank(graph,
    evidence, method=name)`` (default :func:`rca.rank`): the same rankings as separate
    ``localize`` calls when ``localize`` is detection followed by ``rank``, at a fraction
    of the cost. A method's time is then the shared ``localize`` time plus its own ranking.
    """
    if localize is None:
        import rca

        localize = rca.localize
        rank = rank or rca.rank
        registry = available_methods()
        table = method_table(registry)
        default_method = default_method or default_method_name(registry)
        if methods:
            requested = [default_method if m == DEFAULT_ALIAS else m for m in methods]
            unknown = [m for m in requested if m not in table]
            if unknown:
                raise EvaluationError(f"unknown method(s) {unknown}; choose from {sorted(table)}")
            names = requested
        else:
            names = list(table)
        keys = {name: table[name] for name in names}
    else:
        if not methods:
            raise EvaluationError("give the method names to run with a custom localize function")
        names = list(methods)
        keys = {name: name for name in names}
        default_method = default_method or names[0]
    if len(set(names)) != len(names):
        raise EvaluationError(f"method listed twice in {names}")
    if DEFAULT_ALIAS in names:
        raise EvaluationError(f"{DEFAULT_ALIAS!r} names the default method in the results; "
                              f"give the method another name")
    if keep_method is None:
        keep_method = default_method if default_method in names else names[0]
    if share_evidence and rank is None:
        raise EvaluationError("share_evidence needs a rank function (rca.rank with the default localize)")
    order = [keep_method] + [m for m in names if m != keep_method] if share_evidence else names

    outcomes: dict[str, list[Outcome]] = {m: [] for m in names}
    kept: dict[str, Any] = {}
    bar = tqdm(total=len(cases) * len(names), desc="evaluate", unit="run", disable=not progress)
    try:
        for case in cases:
            spans = case.load_spans()
            shared, shared_seconds, shared_error = None, 0.0, None
            for method in order:
                bar.set_postfix_str(f"{case.case_id} {method}", refresh=False)
                started = time.perf_counter()
                error = None
                result = None
                try:
                    if share_evidence and method != order[0]:
                        if shared is None:
                            raise _SharedFailure(shared_error)
                        result = _with_ranking(shared, rank(shared.graph, shared.evidence, method=keys[method]))
                    else:
                        result = localize(spans=spans, edge_series=case.edge_series,
                                          inject_time=case.inject_time, end_time=case.end_time,
                                          method=keys[method])
                except _SharedFailure as exc:
                    error = str(exc)
                except Exception as exc:  # a method failing on one case is a result, not a crash
                    if strict:
                        raise
                    error = f"{type(exc).__name__}: {exc}"
                seconds = time.perf_counter() - started
                if share_evidence and method == order[0]:
                    shared, shared_seconds, shared_error = result, seconds, error
                elif share_evidence:
                    seconds += shared_seconds
                ranked = _ranked_services(result) if result is not None else []
                outcomes[method].append(Outcome(
                    case_id=case.case_id, method=method, fault_type=case.fault_type,
                    root_causes=list(case.root_causes), ranking=ranked,
                    n_candidates=len(candidate_services(case, result, spans)), seconds=seconds, error=error,
                    scores=_ranked_scores(result) if result is not None else [],
                ))
                if method == keep_method and result is not None:
                    kept[case.case_id] = result
                bar.update(1)
    finally:
        bar.close()
    return Evaluation(cases=list(cases), skipped=list(skipped), methods=names,
                      default_method=default_method, outcomes=outcomes, kept=kept,
                      kept_method=keep_method)


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
