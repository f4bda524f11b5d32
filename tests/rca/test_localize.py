"""rca.localize from spans or edge series, and the ``rca rank`` command, on tiny synthetic cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests_rca_helpers import INJECT, ZDetector, build_series

import rca
from application.cli import main
from chaos_scenarios.case_folder import CaseLabel, write_case
from collectors import make_spanframe

T0 = 1_700_000_000.0  # unix seconds of the injection in the span fixtures


def synthetic_spans(slow: str | None = "cart", extra_ms: float = 40.0, seed: int = 0) -> pd.DataFrame:
    """frontend -> {cart, catalog}; catalog -> db (uninstrumented). 20 traces per 10 s,
    from T0 - 10 min to T0 + 3 min; after T0 the ``slow`` service spends ``extra_ms`` more."""
    rng = np.random.default_rng(seed)
    rows = []
    starts = np.arange(T0 - 600, T0 + 180, 0.5)
    for i, t in enumerate(starts):
        trace = f"t{i}"
        base_us = int(t * 1e6)
        after = t >= T0
        cursor = base_us + 100
        children = []
        for callee in ("cart", "catalog"):
            own = 2000 + rng.normal(0, 100)
            if after and callee == slow:
                own += extra_ms * 1000
            server = int(own)
            client = server + 500
            children.append((callee, cursor, client, server))
            cursor += client + 50
        root_duration = cursor - base_us + 100
        rows.append((trace, "r", None, "frontend", "GET /", base_us, root_duration, "server"))
        for k, (callee, start, client, server) in enumerate(children):
            rows.append((trace, f"c{k}", "r", "frontend", f"{callee}.Get", start, client, "client"))
            rows.append((trace, f"s{k}", f"c{k}", callee, f"{callee}.Get", start + 250, server, "server"))
    frame = pd.DataFrame(
        rows, columns=["trace_id", "span_id", "parent_id", "service", "operation", "start_us", "duration_us", "kind"]
    )
    frame["status"] = "ok"
    frame["pod"] = frame["service"] + "-0"
    return make_spanframe(frame, source="synthetic")


@pytest.fixture(scope="module")
def spans():
    return synthetic_spans()


def test_localize_from_spans_finds_the_slow_service(spans):
    result = rca.localize(spans=spans, inject_time=T0, end_time=T0 + 180)
    assert result.ranking.services()[0] == "cart"
    assert set(result.graph.nodes) >= {"frontend", "cart", "catalog"}
    assert result.evidence.train_until == pd.Timestamp(T0, unit="s", tz="UTC")
    # buckets are aligned on the injection: the first test bucket starts at it
    key = ("edge", "frontend", "cart", "server_mean_ms")
    assert result.evidence.scores[key].index[0] == result.evidence.train_until
    assert (result.evidence.table["note"] == "").all()  # FluxEV ran on every series


@pytest.mark.parametrize("method", sorted(rca.METHODS))
def test_localize_runs_every_method(spans, method):
    result = rca.localize(spans=spans, inject_time=T0, end_time=T0 + 180, method=method)
    assert result.ranking.method == method
    assert sorted(result.ranking.services()) == sorted(result.graph.nodes)


def test_localize_from_edge_series_only_builds_the_graph():
    es, _ = build_series([("a", "b"), ("a", "c"), ("b", "d")], fault={"slow": {"d": 20.0}})
    result = rca.localize(edge_series=es, inject_time=INJECT, detector=ZDetector)
    assert set(result.graph.edges) == {("a", "b"), ("a", "c"), ("b", "d")}
    assert result.graph["a"]["b"]["calls"] == int(es.xs(("a", "b"), level=("caller", "callee"))["calls"].sum())
    assert result.ranking.services()[0] == "d"


def test_localize_errors():
    with pytest.raises(rca.RCAError, match="needs spans or edge_series"):
        rca.localize(inject_time=T0)
    with pytest.raises(rca.RCAError, match="inject_time: a time is required"):
        rca.localize(spans=synthetic_spans(), inject_time=None)
    with pytest.raises(rca.RCAError, match="empty SpanFrame"):
        rca.localize(spans=synthetic_spans().iloc[:0], inject_time=T0)
    with pytest.raises(rca.RCAError, match=r"expected a DataFrame indexed by \(time, caller, callee\)"):
        rca.graph_from_edge_series(pd.DataFrame({"calls": [1]}))


def test_rank_command_on_a_case_folder(tmp_path, spans, capsys):
    label = CaseLabel(
        case_id="c1",
        root_cause=["cart"],
        fault_type="stress-cpu",
        chaos_kind="StressChaos",
        action="cpu",
        injected_at=T0,
        recovered_at=T0 + 180,
        window_start=T0 - 600,
        window_end=T0 + 180,
        backend="simulator",
    )
    case = write_case(tmp_path / "c1", label, [], spans)
    assert main(["rank", str(case), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "ground truth cart: rank 1" in out
    lines = [line for line in out.splitlines() if line.startswith(" 1.")]
    assert lines and "cart" in lines[0]
    assert "frontend->cart server_mean_ms" in out


def test_rank_command_on_a_span_file_needs_inject_time(tmp_path, spans, capsys):
    path = tmp_path / "spans.parquet"
    spans.to_parquet(path, index=False)
    assert main(["rank", str(path)]) == 1
    assert "give --inject-time" in capsys.readouterr().err
    assert main(["rank", str(path), "--inject-time", str(T0), "--method", "max-score"]) == 0
    out = capsys.readouterr().out
    assert "method max-score" in out and " 1. cart" in out
    assert main(["rank", str(tmp_path / "missing")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_notebook_views_and_short_reprs(spans):
    result = rca.localize(spans, T0, T0 + 180, method=rca.RankingConfig("pagerank", {"alpha": 0.9}))
    assert result.ranking_config == rca.RankingConfig("pagerank", {"alpha": 0.9})
    assert set(result.timings) == {"series", "detect", "rank"} and all(v >= 0 for v in result.timings.values())
    page = result._repr_html_()
    assert page.count("<table>") == 2 and "<td>cart</td>" in page
    assert "Most anomalous series" in page and "frontend → cart" in result.evidence._repr_html_()
    assert repr(result.ranking).startswith("Ranking(pagerank: cart ")
    text = repr(result.evidence)
    assert text.startswith("EdgeEvidence(") and "detector fluxev" in text and len(text) < 200
    assert repr(rca.DetectionConfig()) == "DetectionConfig(detector=FluxEV(s=3, q=0.05, level=0.7, smoothing=1))"
    assert "cart" in result.explain(top=1)


def test_localize_configuration_errors_name_the_field(spans):
    with pytest.raises(rca.RCAError, match="DetectionConfig.bucket: cannot read 'garbage' as a duration"):
        rca.localize(spans, T0, detection=rca.DetectionConfig(bucket="garbage"))
    with pytest.raises(rca.RCAError, match=r"ranking method 'pagerank': unknown parameter\(s\) 'alhpa'"):
        rca.localize(spans, T0, method=rca.RankingConfig("pagerank", {"alhpa": 0.9}))
    with pytest.raises(rca.RCAError, match="not both"):
        rca.localize(spans, T0, detection=rca.DetectionConfig(), detector="fluxev")
    with pytest.raises(rca.RCAError, match="unknown ranking method 'page-rank'"):
        rca.localize(spans, T0, method="page-rank")
