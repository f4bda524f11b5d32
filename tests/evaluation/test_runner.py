import json
from dataclasses import dataclass

import networkx as nx
import pandas as pd
import pytest

from evaluation import EvaluationError
from evaluation.cases import Case
from evaluation.runner import evaluate
from rca import RCAError

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
    index = pd.MultiIndex.from_tuples(
        [(t, "front", s) for t in times for s in services], names=["time", "caller", "callee"]
    )
    return pd.DataFrame({"calls": 1}, index=index)


def _cases():
    return [
        Case("c1", ["a"], "cpu", T0, edge_series=_series(["a", "b", "c"])),
        Case("c2", ["b"], "delay", T0, edge_series=_series(["a", "b", "c"])),
        Case("c3", ["c"], "delay", T0, edge_series=_series(["a", "b", "c"])),
    ]


def fake_localize(spans=None, inject_time=None, end_time=None, *, edge_series=None, method="alpha"):
    """alpha: ranks services alphabetically; broken: fails with a framework error; buggy: crashes."""
    assert spans is None and inject_time == pd.Timestamp(T0, unit="s", tz="UTC")
    services = sorted(set(edge_series.index.get_level_values("callee")))
    if method == "broken":
        raise RCAError("no evidence")
    if method == "buggy":
        raise KeyError("a bug")
    graph = nx.DiGraph([("front", s) for s in services])
    return _Result([_Cand(s, 1.0 / i) for i, s in enumerate(services, 1)], None, graph)


def test_evaluate_with_fake_localize():
    ev = evaluate(
        _cases(),
        ["alpha", "broken"],
        localize=fake_localize,
        skipped=[("c0", "no spans")],
        progress=False,
        share_evidence=False,
    )
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
    assert broken["per_case"][0]["error"] == "RCAError: no evidence"
    assert results["default"] == "alpha"
    assert set(ev.kept) == {"c1", "c2", "c3"} and ev.kept_method == "alpha"


def test_strict_reraises():
    with pytest.raises(RCAError):
        evaluate(_cases(), ["broken"], localize=fake_localize, strict=True, progress=False, share_evidence=False)


def test_a_bug_in_a_method_is_not_recorded_as_a_result():
    with pytest.raises(KeyError, match="a bug"):
        evaluate(_cases(), ["buggy"], localize=fake_localize, progress=False, share_evidence=False)


def test_custom_localize_needs_method_names():
    with pytest.raises(EvaluationError, match="method names"):
        evaluate(_cases(), None, localize=fake_localize, progress=False, share_evidence=False)
    with pytest.raises(EvaluationError, match="twice"):
        evaluate(_cases(), ["alpha", "alpha"], localize=fake_localize, progress=False, share_evidence=False)
    with pytest.raises(EvaluationError, match="share_evidence needs a rank function"):
        evaluate(_cases(), ["alpha"], localize=fake_localize, progress=False)


def test_change_aware_variants_beside_each_method():
    from core.changes import Change
    from rca import ChangePrior

    cases = _cases()
    # c3's root cause c changed 2 min before; in c2 only an innocent service (c) changed
    cases[2].changes = [Change("c", T0 - 120, version="v2")]
    cases[1].changes = [Change("c", T0 - 120)]
    ev = evaluate(
        cases, ["alpha"], localize=fake_localize, share_evidence=False, progress=False, change_prior=ChangePrior()
    )
    assert ev.methods == ["alpha", "alpha+changes"]
    plain = {o.case_id: o.rank for o in ev.outcomes["alpha"]}
    changed = {o.case_id: o.rank for o in ev.outcomes["alpha+changes"]}
    assert plain == {"c1": 1, "c2": 2, "c3": 3}
    # alpha scores a 1, b 1/2, c 1/3: doubling c's (2/3) puts it second in c3 and c2 (b -> third)
    assert changed == {"c1": 1, "c2": 3, "c3": 2}
    assert ev.results()["settings"]["change window"] == "30min"
    with pytest.raises(EvaluationError, match="change_prior: expected rca.ChangePrior"):
        evaluate(cases, ["alpha"], localize=fake_localize, share_evidence=False, progress=False, change_prior=1.0)
