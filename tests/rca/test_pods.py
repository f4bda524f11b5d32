"""Pod-level divergence: graph.pod_series, rca.pod_divergence by hand, and localize(pods=) on a
synthetic rollout where one of three changed services is faulty and only its new pod diverges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import graph
import rca
from collectors import make_spanframe
from core.changes import Change

T0 = pd.Timestamp("2024-01-01 00:10:00", tz="UTC")
TRAIN_START = T0 - pd.Timedelta("5min")


def _pod_frame(values: dict[str, list[float]], start=TRAIN_START, metric="error_rate"):
    """A PodSeries of service ``s``: one value a minute per pod (NaN: the pod did not serve)."""
    rows = []
    for pod, series in values.items():
        for i, v in enumerate(series):
            if not np.isnan(v):
                rows.append((start + pd.Timedelta(minutes=i), "s", pod, v))
    frame = pd.DataFrame(rows, columns=["time", "service", "pod", metric]).set_index(["time", "service", "pod"])
    return frame.sort_index()


def test_divergence_by_hand():
    nan = np.nan
    frame = _pod_frame(
        {
            "p1": [0, 0, 0, 0, 0, 0.5, 0.5, 0.5],  # 5 training minutes, then errors
            "p2": [0, 0, 0, 0, 0, 0, 0, 0],
            "p3": [0, 0, 0, 0, 0, 0, 0, 0.1],
            "p4": [nan] * 5 + [0, 0, 0],  # a new pod, healthy
        }
    )
    config = rca.PodDivergence(metrics=("error_rate",))
    (finding,) = rca.pod_divergence(frame, T0, None, config)
    # noise: training deviations are all 0 -> floor max(0.02, 0.1 x siblings' level 0) = 0.02
    assert (finding.pod, finding.level, finding.siblings) == ("p1", 0.5, 0.0)
    assert finding.z == pytest.approx(0.5 / 0.02)
    assert not finding.new
    # a scored window that ends before the errors: nothing
    assert rca.pod_divergence(frame, T0, T0, config) == []


def test_a_pod_that_was_always_slower_is_not_news():
    frame = _pod_frame(
        {"p1": [10.0] * 8, "p2": [10.0] * 8, "p3": [20.0] * 8, "new": [np.nan] * 5 + [30.0] * 3},
        metric="latency_mean_ms",
    )
    findings = rca.pod_divergence(frame, T0, None, rca.PodDivergence(metrics=("latency_mean_ms",)))
    # p3: 20 vs siblings' median 10 in the window, but it was 10 ms slower before too; the new pod
    # (30 vs median(10, 10, 20) = 10) with noise floor max(0.5, 0.1 x 10) = 1 ms: z = 20
    assert [(f.pod, f.new, round(f.z, 6)) for f in findings] == [("new", True, 20.0)]


def test_settings_and_input_are_checked():
    with pytest.raises(rca.RCAError, match="PodDivergence.threshold: must be a finite number >= 0"):
        rca.PodDivergence(threshold=-1)
    with pytest.raises(rca.RCAError, match=r"expected a DataFrame indexed by \(time, service, pod\)"):
        rca.pod_divergence(pd.DataFrame({"error_rate": [0.1]}), T0)
    with pytest.raises(rca.RCAError, match=r"no column\(s\) \['latency_mean_ms'\]"):
        rca.pod_divergence(_pod_frame({"a": [0.0]}), T0)


def rollout_spans(faulty: str | None, seed: int = 0) -> tuple[pd.DataFrame, list[Change]]:
    """front -> {a, b, c}, three pods each; 2 min before T0 each of a, b, c rolls out one v2 pod
    (replacing a v1 pod). After T0 the new pod of ``faulty`` fails 60 % of its calls and is 30 ms slower."""
    rng = np.random.default_rng(seed)
    rollout = T0 - pd.Timedelta("2min")
    changes = [Change(s, rollout, "rollout", version="v2", pods=(f"{s}-v2-new",)) for s in ("a", "b", "c")]
    rows = []
    start_s, end_s = (T0 - pd.Timedelta("10min")).timestamp(), (T0 + pd.Timedelta("3min")).timestamp()
    for i, t in enumerate(np.arange(start_s, end_s, 0.25)):
        base = int(t * 1e6)
        trace = f"t{i}"
        rows.append((trace, "r", None, "front", "GET /", base, 40_000, "server", "ok", "front-1"))
        for k, service in enumerate(("a", "b", "c")):
            pods = [f"{service}-v1-0", f"{service}-v1-1", f"{service}-v1-2"]
            if t >= rollout.timestamp():
                pods[2] = f"{service}-v2-new"
            pod = pods[i % 3]
            duration = int(2000 + rng.normal(0, 100))
            status = "ok"
            if service == faulty and pod.endswith("v2-new") and t >= T0.timestamp():
                duration += 30_000
                status = "error" if rng.random() < 0.6 else "ok"
            start = base + 100 + k * 10_000
            rows.append(
                (trace, f"c{k}", "r", "front", f"{service}.Get", start, duration + 400, "client", status, "front-1")
            )
            rows.append(
                (trace, f"s{k}", f"c{k}", service, f"{service}.Get", start + 200, duration, "server", status, pod)
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "trace_id",
            "span_id",
            "parent_id",
            "service",
            "operation",
            "start_us",
            "duration_us",
            "kind",
            "status",
            "pod",
        ],
    )
    return make_spanframe(frame, source="synthetic rollout"), changes


def test_pod_series_counts_by_pod():
    spans, _ = rollout_spans("a")
    series = graph.pod_series(spans, bucket="1min", start=T0, end=T0 + pd.Timedelta("1min"), origin=T0)
    assert series.index.names == ["time", "service", "pod"]
    assert set(series.xs("a", level="service").index.get_level_values("pod")) == {"a-v1-0", "a-v1-1", "a-v2-new"}
    # 240 traces a minute, one server span of a per trace, round-robin over its three pods
    assert series.xs(("a", "a-v1-0"), level=("service", "pod"))["calls"].tolist() == [80]
    assert series.xs(("a", "a-v1-0"), level=("service", "pod"))["errors"].tolist() == [0]


def test_only_the_faulty_services_new_pod_diverges_and_is_named():
    spans, changes = rollout_spans("a")
    end = T0 + pd.Timedelta("3min")
    result = rca.localize(spans, T0, end, changes=changes, pods=rca.PodDivergence())
    assert {f.service for f in result.pod_findings} == {"a"}
    assert {f.pod for f in result.pod_findings} == {"a-v2-new"}
    top = result.ranking[0]
    assert top.service == "a"
    assert "1 pod(s) diverge from their siblings: a-v2-new (new v2)" in top.why
    assert top.why.startswith("rolled out v2 at 2024-01-01 00:08:00 UTC, 2.0 min before the onset (prior x2)")
    plain = rca.localize(spans, T0, end)
    assert result.ranking[0].score > plain.ranking[0].score
    assert "pod a-v2-new (a) error_rate" in result.explain()


def test_an_innocent_rollout_does_not_diverge():
    spans, changes = rollout_spans(None)
    findings = rca.pod_divergence(
        graph.pod_series(spans, bucket="30s", origin=T0), T0, T0 + pd.Timedelta("3min"), rca.PodDivergence()
    )
    assert findings == []
    with pytest.raises(rca.RCAError, match="pod divergence needs spans"):
        rca.localize(inject_time=T0, edge_series=graph.edge_series(spans), pods=rca.PodDivergence())


def test_rank_command_with_changes_and_pods(tmp_path, capsys):
    from application.cli import main

    spans, changes = rollout_spans("a")
    path = tmp_path / "spans.parquet"
    spans.to_parquet(path, index=False)
    (tmp_path / "changes.csv").write_text(
        "service,time,kind,version,pods\n"
        + "".join(f"{c.service},{c.time.isoformat()},rollout,v2,{c.pods[0]}\n" for c in changes)
    )
    argv = ["rank", str(path), "--inject-time", T0.isoformat(), "--changes", str(tmp_path / "changes.csv"), "--pods"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert " 1. a " in out and "a-v2-new (new v2)" in out
    assert "changes in the 30min before the onset: a rolled out v2" in out
    assert main([*argv, "--pod-threshold", "-1"]) == 1
    assert "PodDivergence.threshold" in capsys.readouterr().err


def test_evaluate_reports_pod_aware_variants_beside_each_method():
    from evaluation.cases import Case
    from evaluation.runner import evaluate

    spans, changes = rollout_spans("a")
    case = Case("rollout", ["a"], "exception", T0, T0 + pd.Timedelta("3min"), spans=spans, changes=changes)
    ev = evaluate(
        [case], ["max-score"], progress=False, change_prior=rca.ChangePrior(), pods=rca.PodDivergence(), strict=True
    )
    assert ev.methods == ["max-score", "max-score+changes", "max-score+pods", "max-score+pods+changes"]
    assert all(ev.outcomes[m][0].rank == 1 for m in ev.methods)
    assert ev.results()["settings"]["pod threshold"] == "3"
