"""Per-pod metrics as a second source: the reader of a ``<pod>_metric.csv`` folder, rca.metric_evidence
by hand, and localize(metrics=) where the traces leave two services equally suspect and one pod's
CPU decides, or where the metrics are flat and the ranking stays the trace-only one."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest

import rca
from collectors import CollectError, make_spanframe
from collectors.metrics import read_pod_metrics
from collectors.spanframe import SPAN_COLUMNS

T0 = pd.Timestamp("2024-01-01 00:10:00", tz="UTC")
END = T0 + pd.Timedelta("3min")
PODS = {"a": "a-1", "b": "b-1", "front": "front-1"}


def go_time(t: pd.Timestamp) -> str:
    """A time string as the Nezha metric files write it."""
    return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "123 +0000 UTC m=+12.5"


def metric_series(jump: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """(time, service, pod) -> CpuUsageRate(%) and MemoryUsageRate(%), one row a minute from
    T0 - 10 min to T0 + 3 min; after T0 the CPU of each pod in ``jump`` is multiplied by its factor."""
    rng = np.random.default_rng(seed)
    rows = []
    for minute in range(-10, 3):
        t = T0 + pd.Timedelta(minutes=minute) + pd.Timedelta(seconds=19)
        for service, pod in PODS.items():
            cpu = 10.0 + rng.normal(0, 0.3)
            if minute >= 0 and pod in jump:
                cpu *= jump[pod]
            rows.append((t, service, pod, cpu, 40.0 + rng.normal(0, 0.2), 5.0))
    frame = pd.DataFrame(
        rows, columns=["time", "service", "pod", "CpuUsageRate(%)", "MemoryUsageRate(%)", "NodeCpuUsageRate(%)"]
    )
    return frame.set_index(["time", "service", "pod"]).sort_index()


def twin_spans(seed: int = 0) -> pd.DataFrame:
    """front -> a and front -> b, each call 2 ms; after T0 both a and b are 20 ms slower alike."""
    rng = np.random.default_rng(seed)
    rows = []
    start_s, end_s = (T0 - pd.Timedelta("10min")).timestamp(), END.timestamp()
    for i, t in enumerate(np.arange(start_s, end_s, 1.0)):
        base = int(t * 1e6)
        trace = f"t{i}"
        rows.append((trace, "r", None, "front", "GET /", base, 60_000, "server", "ok", "front-1"))
        for k, service in enumerate(("a", "b")):
            duration = int(2000 + rng.normal(0, 100)) + (20_000 if t >= T0.timestamp() else 0)
            start = base + 100 + k * 25_000
            rows.append(
                (trace, f"c{k}", "r", "front", f"{service}.Get", start, duration + 300, "client", "ok", "front-1")
            )
            rows.append(
                (
                    trace,
                    f"s{k}",
                    f"c{k}",
                    service,
                    f"{service}.Get",
                    start + 150,
                    duration,
                    "server",
                    "ok",
                    PODS[service],
                )
            )
    return make_spanframe(pd.DataFrame(rows, columns=list(SPAN_COLUMNS)), source="synthetic twins")


def test_evidence_by_hand():
    series = metric_series({"a-1": 3.0})
    findings = rca.metric_evidence(series, T0, END)
    # only a-1's CPU rose; memory is flat, the node metric is excluded by default (and constant)
    assert [(f.service, f.pod, f.metric) for f in findings] == [("a", "a-1", "CpuUsageRate(%)")]
    (finding,) = findings
    assert finding.level / finding.baseline == pytest.approx(3.0, rel=0.1)
    assert finding.z > 10
    assert re.match(r"CpuUsageRate\(%\) 3(\.\d)?x its training level on pod a-1 \(z \d+\.\d\)$", finding.describe())
    # a window that ends before the onset scores nothing; a drop does not count upward
    assert rca.metric_evidence(series, T0, T0) == []
    dropped = metric_series({"a-1": 0.3})
    assert rca.metric_evidence(dropped, T0, END) == []
    assert [f.pod for f in rca.metric_evidence(dropped, T0, END, rca.MetricEvidence(direction="both"))] == ["a-1"]


def test_prior_modes():
    ranking = rca.Ranking(
        [rca.Candidate("b", 4.0, "b slow"), rca.Candidate("a", 3.0, "a slow"), rca.Candidate("c", 0.0, "")]
    )
    findings = [
        rca.MetricFinding("a", "a-1", "cpu", 30.0, 10.0, 20.0),
        rca.MetricFinding("c", "c-1", "cpu", 2.0, 1.0, 5.0),
    ]
    multiplied = rca.apply_metrics(ranking, findings)
    # z capped at 10: a x2 -> 6 > 4; c has no trace evidence and stays at 0
    assert [(c.service, c.score) for c in multiplied] == [("a", 6.0), ("b", 4.0), ("c", 0.0)]
    assert multiplied[0].why == "cpu 3x its training level on pod a-1 (z 20.0) (prior x2); a slow"
    added = rca.apply_metrics(ranking, findings, rca.MetricEvidence(mode="add", weight=0.5))
    assert [(c.service, c.score) for c in added] == [("a", 8.0), ("b", 4.0), ("c", 2.5)]
    assert [c.service for c in ranking] == ["b", "a", "c"]  # not modified in place


@pytest.fixture(scope="module")
def twins():
    spans = twin_spans()
    return spans, rca.localize(spans, T0, END)


def test_metrics_decide_where_the_traces_are_ambiguous(twins):
    spans, plain = twins
    scores = {c.service: c.score for c in plain.ranking}
    assert scores["a"] > 0 and scores["b"] > 0
    assert max(scores["a"], scores["b"]) < 1.5 * min(scores["a"], scores["b"])  # ambiguous: within 50 %
    second = "b" if plain.ranking.rank_of("a") < plain.ranking.rank_of("b") else "a"
    result = rca.localize(
        spans, T0, END, metrics=rca.MetricEvidence(), metric_series=metric_series({PODS[second]: 4.0})
    )
    assert result.ranking[0].service == second
    assert re.match(
        rf"CpuUsageRate\(%\) 4(\.\d)?x its training level on pod {PODS[second]} \(z ", result.ranking[0].why
    )
    assert [f.pod for f in result.metric_findings] == [PODS[second]]
    assert f"metric {second}: CpuUsageRate(%)" in result.explain()


def test_flat_metrics_leave_the_ranking_unchanged(twins):
    spans, plain = twins
    result = rca.localize(spans, T0, END, metrics=rca.MetricEvidence(), metric_series=metric_series({}))
    assert result.metric_findings == []
    assert [(c.service, c.score, c.why) for c in result.ranking] == [(c.service, c.score, c.why) for c in plain.ranking]


def test_settings_and_inputs_are_checked(twins):
    with pytest.raises(rca.RCAError, match="MetricEvidence.mode: must be one of"):
        rca.MetricEvidence(mode="max")
    with pytest.raises(rca.RCAError, match="MetricEvidence.cap: must be a number > 0"):
        rca.MetricEvidence(cap=0)
    with pytest.raises(rca.RCAError, match=r"indexed by \(time, service, pod\)"):
        rca.metric_evidence(pd.DataFrame({"cpu": [1.0]}), T0)
    with pytest.raises(rca.RCAError, match=r"no column\(s\) \['gpu'\]"):
        rca.metric_evidence(metric_series({}), T0, None, rca.MetricEvidence(metrics=("gpu",)))
    with pytest.raises(rca.RCAError, match="metric evidence needs metric_series"):
        rca.localize(twins[0], T0, END, metrics=rca.MetricEvidence())


def _write(path, text: str, gz: bool = False) -> None:
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)


def test_reader_reads_times_pods_and_reports_what_it_skipped(tmp_path):
    t = [T0 + pd.Timedelta(minutes=i) for i in range(3)]
    header = "Time,TimeStamp,PodName,CpuUsageRate(%),PodSuccessRate(%),Note\n"
    _write(
        tmp_path / "a-5f-x_metric.csv.gz",
        header
        + f"{go_time(t[0])},1861140279,a-5f-x,1.5,0,ok\n"
        + f"{go_time(t[1])},1,a-5f-x,2.5,0,ok\n"
        + "garbage,1,a-5f-x,3.5,0,ok\n"
        + f"{go_time(t[1])},1,a-5f-x,9.5,0,ok\n",
        gz=True,
    )
    _write(
        tmp_path / "b-6c-y_metric.csv",
        "Time,MemoryUsage(Mi)\n" + "".join(f"{x.isoformat()},{i}\n" for i, x in enumerate(t)),
    )
    _write(tmp_path / "dependency.csv", "source,destination\n")
    frame = read_pod_metrics(tmp_path)
    assert frame.index.names == ["time", "pod"]
    assert sorted(frame.columns) == ["CpuUsageRate(%)", "MemoryUsage(Mi)"]
    a = frame.xs("a-5f-x", level="pod")["CpuUsageRate(%)"]
    # the Time string wins over the wrong TimeStamp; the duplicate minute keeps its first row
    assert list(a.index) == [t[0] + pd.Timedelta("123ns"), t[1] + pd.Timedelta("123ns")] and list(a) == [1.5, 2.5]
    assert frame.xs("b-6c-y", level="pod")["MemoryUsage(Mi)"].tolist() == [0.0, 1.0, 2.0]  # pod from the file name
    skipped = dict(frame.attrs["skipped"])
    assert skipped["dependency.csv"] == "not a <pod>_metric.csv file"
    assert skipped["a-5f-x_metric.csv.gz: PodSuccessRate(%)"] == "constant throughout the file"
    assert skipped["a-5f-x_metric.csv.gz: Note"] == "not numeric"
    assert skipped["a-5f-x_metric.csv.gz: 1 row(s)"] == "unreadable Time, first at row 4"
    assert skipped["a-5f-x_metric.csv.gz: 1 duplicate row(s)"] == "same (time, pod) as an earlier row, first kept"
    series = rca.attach_services(frame, {"a-5f-x": "a"})
    assert series.index.names == ["time", "service", "pod"]
    assert set(series.index.get_level_values("service")) == {"a"}
    assert ("b-6c-y", "no service known for this pod") in series.attrs["skipped"]


def test_reader_errors_name_the_input(tmp_path):
    with pytest.raises(CollectError, match="not a folder of <pod>_metric.csv files"):
        read_pod_metrics(tmp_path / "missing")
    with pytest.raises(CollectError, match="no <pod>_metric.csv or <pod>_metric.csv.gz file"):
        read_pod_metrics(tmp_path)
    (tmp_path / "a_metric.csv").write_text("TimeStamp,cpu\n1,2\n")
    with pytest.raises(CollectError, match=r"a_metric.csv: no 'Time' column; has \['TimeStamp', 'cpu'\]"):
        read_pod_metrics(tmp_path)
    (tmp_path / "a_metric.csv").write_text(f"Time,cpu\n{go_time(T0)},2\n{go_time(T0 + pd.Timedelta('1min'))},2\n")
    with pytest.raises(CollectError, match="a_metric.csv: no numeric metric column that varies"):
        read_pod_metrics(tmp_path)
    with pytest.raises(CollectError, match="expected a folder of <pod>_metric.csv files, got 3"):
        read_pod_metrics(3)
    with pytest.raises(rca.RCAError, match=r"indexed by \(time, pod\)"):
        rca.attach_services(metric_series({}), {})


def test_evaluate_reports_metric_variants_beside_each_method(twins):
    from evaluation.cases import Case
    from evaluation.runner import evaluate

    spans = twins[0]
    case = Case("twins", ["a"], "cpu", T0, END, spans=spans, metric_series=metric_series({"a-1": 4.0}))
    ev = evaluate([case], ["max-score"], progress=False, metrics=rca.MetricEvidence(), strict=True)
    assert ev.methods == ["max-score", "max-score+metrics"]
    assert ev.outcomes["max-score+metrics"][0].rank == 1
    assert ev.results()["settings"]["metric threshold"] == "3"


def test_rank_command_with_metrics(tmp_path, capsys, twins):
    from application.cli import main

    spans = twins[0]
    spans.to_parquet(tmp_path / "spans.parquet", index=False)
    folder = tmp_path / "metric"
    folder.mkdir()
    series = metric_series({"b-1": 4.0})
    for pod, frame in series.groupby(level="pod"):
        rows = "".join(f"{go_time(t)},{pod},{v}\n" for (t, _s, _p), v in frame["CpuUsageRate(%)"].items())
        (folder / f"{pod}_metric.csv").write_text("Time,PodName,CpuUsageRate(%)\n" + rows)
    argv = ["rank", str(tmp_path / "spans.parquet"), "--inject-time", T0.isoformat(), "--metrics", str(folder)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert " 1. b " in out
    assert re.search(r"CpuUsageRate\(%\) 4(\.\d)?x its training level on pod b-1", out)
