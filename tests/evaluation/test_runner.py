import json
from dataclasses import dataclass

import networkx as nx
import pandas as pd
import pytest

from evaluation import EvaluationError
from evaluation.cases import Case
from evaluation.runner import evaluate, method_names, method_table

T0 = 1_700_000_000.0


@dataclass
class _Cand:
    service: str
    score: float
    why: str = ""


@dataclass
class _Result:
    ranking: list
    evidence: object
    graph: nx.DiGraph


def _series(services):
    times = pd.date_range(pd.Timestamp(T0 - 120, unit="s", tz="UTC"), periods=4, freq="1min")
    index = pd.MultiIndex.from_tuples([(t, "front", s) for t in times for s in services],
                                      names=["time", "caller", "callee"])
    return pd.DataFrame({"calls": 1}, index=index)


def _cases():
    return [
        Case("c1", ["a"], "cpu", T0, edge_series=_series(["a", "b", "c"])),
        Case("c2", ["b"], "delay", T0, edge_series=_series(["a", "b", "c"])),
        Case("c3", ["c"], "delay", T0, edge_series=_series(["a", "b", "c"])),
    ]


def fake_localize(*, spans=None, edge_series=None, inject_time=None, end_time=None, method="alpha"):
    """alpha: ranks services alphabetically; broken: fails on every case but c1."""
    assert spans is None and inject_time == pd.Timestamp(T0, unit="s", tz="UTC")
    services = sorted(set(edge_series.index.get_level_values("callee")))
    if method == "broken" and "b" in services and len(edge_series) and services != ["x"]:
        raise RuntimeError("no evidence")
    graph = nx.DiGraph([("front", s) for s in services])
    return _Result([_Cand(s, 1.0 / i) for i, s in enumerate(services, 1)], None, graph)


def test_evaluate_with_fake_localize():
    ev = evaluate(_cases(), ["alpha", "broken"], localize=fake_localize, skipped=[("c0", "no spans")],
                  progress=False)
    results = ev.results()
    json.dumps(results, allow_nan=False)
    alpha = results["alpha"]
    # ranks: c1 -> 1 (a), c2 -> 2 (b), c3 -> 3 (c); 4 candidates each (front, a, b, c)
    assert [c["rank"] for c in alpha["per_case"]] == [1, 2, 3]
    assert alpha["AC@1"] == pytest.approx(1 / 3) and alpha["AC@3"] == 1.0 and alpha["AC@5"] == 1.0
    assert alpha["Avg@5"] == pytest.approx((1 / 3 + 2 / 3 + 1 + 1 + 1) / 5)
    assert alpha["mean_rank"] == pytest.approx(2.0)
    assert alpha["chance"]["AC@1"] == pytest.approx(0.25)
    assert alpha["cases"] == 3 and alpha["skipped"] == 1 and alpha["failed"] == 0
    assert alpha["skipped_cases"] == [{"case_id": "c0", "reason": "no spans"}]
    assert alpha["by_fault_type"]["delay"]["cases"] == 2
    broken = results["broken"]
    assert broken["failed"] == 3 and broken["AC@5"] == 0.0 and broken["mean_rank"] == pytest.approx(5.0)
    assert broken["per_case"][0]["error"] == "RuntimeError: no evidence"
    assert results["default"] == "alpha"
    assert set(ev.kept) == {"c1", "c2", "c3"} and ev.kept_method == "alpha"


def test_strict_reraises():
    with pytest.raises(RuntimeError):
        evaluate(_cases(), ["broken"], localize=fake_localize, strict=True, progress=False)


def test_custom_localize_needs_method_names():
    with pytest.raises(EvaluationError, match="method names"):
        evaluate(_cases(), None, localize=fake_localize, progress=False)
    with pytest.raises(EvaluationError, match="twice"):
        evaluate(_cases(), ["alpha", "alpha"], localize=fake_localize, progress=False)


def test_method_table_names_the_default_alias():
    def explain_upstream(): ...
    def g(): ...
    assert method_table({"default": explain_upstream, "graph": explain_upstream, "random": g}) == {
        "graph": "graph", "random": "random"}
    assert method_table({"default": explain_upstream, "random": g}) == {
        "explain-upstream": "default", "random": "random"}
    assert method_names({"default": g, "g": explain_upstream}) == ["default-method", "g"]
