import base64
import json
import re
from dataclasses import dataclass

import networkx as nx
import pandas as pd
import pytest

from application.cli import main
from evaluation.cases import Case
from evaluation.report import write_report
from evaluation.runner import evaluate

T0 = 1_700_000_000 - 1_700_000_000 % 60


def _csv(path, rows):
    path.write_text(
        "\n".join(["Time,Timestamp,SuccessRate,Latency"] + [f"t,{ts},{sr},{lat}" for ts, sr, lat in rows]) + "\n"
    )


def _changerca(root, name="c1", t0=T0, plan=None):
    """front calls back and other; back's answers fail from the injection on (minute 20)."""
    folder = root / name
    folder.mkdir(parents=True)
    label = {"fault": "exception", "fault_release_service": "back", "detect_timestamp": t0 + 20 * 60}
    if plan is not None:
        label["plan"] = plan
    (folder / f"{name}.json").write_text(json.dumps(label))
    minutes = range(30)
    wobble = [0.0, 0.3, -0.2, 0.1, -0.1]
    for callee in ("back", "other"):
        _csv(folder / f"front-a-1_front_{callee}.csv", [(t0 + 60 * m, 100, 10 + wobble[m % 5]) for m in minutes])
        _csv(
            folder / f"{callee}-b-2_front_{callee}.csv",
            [(t0 + 60 * m, 40 if callee == "back" and m >= 20 else 100, 3 + wobble[m % 5]) for m in minutes],
        )
    return root


def test_rca_evaluate_command(tmp_path, capsys):
    data = _changerca(tmp_path / "data")
    out = tmp_path / "report"
    rc = main(["evaluate", f"changerca:{data}", "--json", str(tmp_path / "results.json"), "--out", str(out), "-q"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "AC@1" in printed and f"report: {out / 'report.html'}" in printed
    results = json.loads((tmp_path / "results.json").read_text())
    methods = results["methods"]
    assert results["default"] in methods and "random" in methods
    for method in methods:
        entry = results[method]
        assert entry["cases"] == 1 and entry["skipped"] == 0
        assert {"AC@1", "AC@3", "AC@5", "Avg@5"} <= set(entry)
        assert entry["per_case"][0]["root_causes"] == ["back"]
    default = results[results["default"]]
    assert default["per_case"][0]["rank"] == 1 and default["AC@1"] == 1.0
    html = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 4  # accuracy, 2 fault-type bars, graph + series of the case
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    md = (out / "report.md").read_text()
    for name in re.findall(r"\(figures/([^)]+\.png)\)", md):
        assert (out / "figures" / name).is_file()
    accuracy = md.split("## Accuracy", 1)[1]
    row = next(line for line in accuracy.splitlines() if line.startswith(f"| {results['default']} (default)"))
    assert row.split("|")[2].strip() == f"{default['AC@1']:.2f}"
    assert json.loads((out / "results.json").read_text()) == results
    assert "<thead><tr><th></th><th></th></tr></thead>" not in html  # key/value tables have no empty header
    assert "## Misses of explain-upstream" in md and "None: every root cause was ranked first." in md


def test_rca_evaluate_reports_bad_input(tmp_path, capsys):
    assert main(["evaluate", f"nezha:{tmp_path / 'absent'}"]) == 1
    assert "no such file or directory" in capsys.readouterr().err


@dataclass
class _Cand:
    service: str
    score: float
    why: str


@dataclass
class _Result:
    ranking: list
    evidence: object
    graph: nx.DiGraph


def _fake(spans=None, inject_time=None, end_time=None, *, edge_series=None, method="m"):
    return _Result(
        [_Cand("db", 2.0, "errors into db 2.0"), _Cand("api", 1.0, "latency api->db")],
        None,
        nx.DiGraph([("api", "db")]),
    )


def test_report_explains_each_case(tmp_path):
    index = pd.MultiIndex.from_tuples(
        [(pd.Timestamp(T0, unit="s", tz="UTC"), "api", "db")], names=["time", "caller", "callee"]
    )
    cases = [
        Case(
            "case-1",
            ["db"],
            "exception",
            T0,
            edge_series=pd.DataFrame({"calls": [1]}, index=index),
            metadata={"inject_pod": "db-7f-x"},
        )
    ]
    evaluation = evaluate(
        cases,
        ["m"],
        localize=_fake,
        skipped=[("case-0", "0 spans in the 3 minutes after")],
        progress=False,
        share_evidence=False,
    )
    md_path, html_path = write_report(evaluation, tmp_path, dataset="hand-made", parameters={"before": "10min"})
    md = md_path.read_text()
    assert "| case-0 | 0 spans in the 3 minutes after |" in md
    assert "| 1 | db ✔ | 2.000 | errors into db 2.0 |" in md
    assert "| **inject_pod** | db-7f-x |" in md
    assert "| before | 10min | history a case needs before its injection to be usable |" in md
    assert "code version" in md
    injected = pd.Timestamp(T0, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"| **injected** | {injected} |" in md  # times are dates, not epoch seconds
    html = html_path.read_text()
    assert "case-1 — exception on db: <span class='hit'>rank 1</span>" in html
    assert (tmp_path / "figures" / "case-1-graph.png").is_file()


def test_rca_evaluate_unknown_method(tmp_path, capsys):
    data = _changerca(tmp_path / "data")
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", f"changerca:{data}", "-m", "no-such-method", "--out", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "invalid choice: 'no-such-method'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_shared_evidence_gives_the_same_rankings(tmp_path):
    from evaluation.datasets import load_cases

    cases, _ = load_cases(f"changerca:{_changerca(tmp_path / 'data')}")
    separate = evaluate(cases, progress=False, share_evidence=False).results()
    shared_run = evaluate(cases, progress=False, share_evidence=True)
    shared = shared_run.results()
    assert shared["default"] == separate["default"] and shared["methods"] == separate["methods"]
    timings = ("seconds", "detect_seconds", "rank_seconds")
    for method in separate["methods"]:
        strip = [{k: v for k, v in c.items() if k not in timings} for c in separate[method]["per_case"]]
        assert strip == [{k: v for k, v in c.items() if k not in timings} for c in shared[method]["per_case"]]
    assert set(shared_run.kept) == {"c1"}


def test_a_method_registered_in_user_code_is_evaluated_and_reported(tmp_path, capsys):
    import rca

    @rca.ranking_method("alphabetical-test")
    def alphabetical(graph, evidence, *, reverse=False):
        """Test method: services in alphabetical order."""
        names = sorted(graph.nodes, reverse=reverse)
        return rca.Ranking([rca.Candidate(n, float(len(names) - i), "alphabet") for i, n in enumerate(names)])

    try:
        data = _changerca(tmp_path / "data")
        out = tmp_path / "report"
        assert (
            main(
                [
                    "evaluate",
                    f"changerca:{data}",
                    "-m",
                    "alphabetical-test",
                    "-m",
                    rca.DEFAULT_METHOD,
                    "--out",
                    str(out),
                    "-q",
                ]
            )
            == 0
        )
        results = json.loads((out / "results.json").read_text())
        assert results["methods"] == ["alphabetical-test", rca.DEFAULT_METHOD]
        assert results["alphabetical-test"]["per_case"][0]["top5"] == ["back", "front", "other"]
        md = (out / "report.md").read_text()
        assert "| alphabetical-test | Test method: services in alphabetical order. | reverse=False |" in md
        assert "| alphabetical-test | 1.00 |" in md
    finally:
        rca.METHODS.pop("alphabetical-test")


def test_plugin_module_registers_a_method_for_the_cli(tmp_path, capsys, monkeypatch):
    import rca

    (tmp_path / "my_rca_plugin.py").write_text(
        "import rca\n\n"
        "@rca.ranking_method('reverse-test')\n"
        "def reverse(graph, evidence):\n"
        "    names = sorted(graph.nodes, reverse=True)\n"
        "    return rca.Ranking([rca.Candidate(n, float(i), '') for i, n in enumerate(names)])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        data = _changerca(tmp_path / "data")
        out = tmp_path / "report"
        assert (
            main(
                [
                    "--plugin",
                    "my_rca_plugin",
                    "evaluate",
                    f"changerca:{data}",
                    "-m",
                    "reverse-test",
                    "--out",
                    str(out),
                    "-q",
                ]
            )
            == 0
        )
        assert json.loads((out / "results.json").read_text())["methods"] == ["reverse-test"]
    finally:
        rca.METHODS.pop("reverse-test", None)
    assert main(["--plugin", "no_such_plugin_module", "evaluate", "x"]) == 1
    assert "--plugin no_such_plugin_module: cannot import it" in capsys.readouterr().err


def test_misses_list_what_was_ranked_first_instead(tmp_path):
    index = pd.MultiIndex.from_tuples(
        [(pd.Timestamp(T0, unit="s", tz="UTC"), "api", "db")], names=["time", "caller", "callee"]
    )
    cases = [Case("case-2", ["api"], "delay", T0, edge_series=pd.DataFrame({"calls": [1]}, index=index))]
    evaluation = evaluate(cases, ["m"], localize=_fake, progress=False, share_evidence=False)
    md_path, _ = write_report(evaluation, tmp_path, dataset="hand-made")
    md = md_path.read_text()
    assert "1 of 1 case(s) where the default method did not rank the root cause first." in md
    assert "| case-2 | delay | api | 2 | db | errors into db 2.0 |" in md


def test_evaluate_a_published_root_by_day_with_changes(tmp_path, capsys):
    day = 86_400
    for n in range(2):
        release = T0 + n * day + 18 * 60
        plan = {
            "back": {"release_time": release, "process": {}},
            "other": {"release_time": release - 60, "process": {}},
        }
        _changerca(tmp_path / "data" / f"day{n}", f"case{n}", T0 + n * day, plan)
    out = tmp_path / "report"
    argv = ["evaluate", f"changerca:{tmp_path / 'data'}", "-m", "max-score", "--changes", "--pods", "--out", str(out)]
    assert main([*argv, "-q", "--no-case-figures"]) == 0
    printed = capsys.readouterr()
    assert "2 usable case(s), 0 skipped" in printed.err and "2 case(s) with change events" in printed.err
    for name in ("max-score", "max-score+changes", "max-score+pods", "max-score+pods+changes"):
        assert re.search(rf"^{re.escape(name)}\s", printed.out, re.M), name
    results = json.loads((out / "results.json").read_text())
    assert list(results["max-score+changes"]["by_day"]) == [
        pd.Timestamp(T0 + n * day + 1200, unit="s", tz="UTC").strftime("%Y-%m-%d") for n in range(2)
    ]
    md = (out / "report.md").read_text()
    assert "## By day" in md and "## By fault type" in md
