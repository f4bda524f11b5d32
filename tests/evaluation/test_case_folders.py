import json

import pandas as pd
import pytest

from chaos_scenarios.case_folder import CaseLabel, write_case, write_run
from chaos_scenarios.errors import ScenarioError
from collectors import make_spanframe
from evaluation import EvaluationError
from evaluation.cases import Case
from evaluation.datasets import load_cases

T0 = 1_700_000_000.0


def _spans(times_s):
    n = len(times_s)
    return make_spanframe(
        pd.DataFrame(
            {
                "trace_id": [f"t{i}" for i in range(n)],
                "span_id": [f"s{i}" for i in range(n)],
                "parent_id": [None] * n,
                "service": ["front"] * n,
                "operation": ["GET"] * n,
                "start_us": [int(t * 1e6) for t in times_s],
                "duration_us": [1000] * n,
                "kind": ["server"] * n,
                "status": ["ok"] * n,
                "pod": ["p"] * n,
            }
        )
    )


def _write(run, case_id, times, recovered=T0 + 120):
    label = CaseLabel(
        case_id=case_id,
        root_cause=["cart"],
        fault_type="network-delay",
        chaos_kind="NetworkChaos",
        action="delay",
        injected_at=T0,
        recovered_at=recovered,
        window_start=T0 - 600,
        window_end=T0 + 300,
        backend="sim",
        suite="smoke",
        seed=3,
    )
    write_case(run / case_id, label, [], _spans(times))


def test_run_directory(tmp_path):
    _write(tmp_path, "c1", [T0 - 300, T0 - 10, T0 + 10, T0 + 100])
    _write(tmp_path, "c2", [T0 - 300, T0 + 400])  # nothing in the 3 minutes after
    write_run(tmp_path, suite="smoke", backend="sim", seed=3, cases=["c1", "c2", "c3"])
    cases, skipped = load_cases(str(tmp_path))
    assert [c.case_id for c in cases] == ["c1"]
    case = cases[0]
    assert case.root_causes == ["cart"] and case.fault_type == "network-delay"
    assert case.inject_time == pd.Timestamp(T0, unit="s", tz="UTC")
    assert case.end_time == pd.Timestamp(T0 + 120, unit="s", tz="UTC")
    assert case.spans is None and case.source == "spans"  # read on demand, not held
    assert len(case.load_spans()) == 4 and case.metadata["spans"] == 4
    assert case.metadata["layout"] == "cases" and case.metadata["seed"] == 3
    assert dict(skipped) == {
        "c2": "0 spans in the 3 minutes after injection",
        "c3": f"listed in run.json but no case folder {tmp_path / 'c3'}",
    }


def test_spans_read_on_demand_report_a_broken_file(tmp_path):
    _write(tmp_path, "c1", [T0 - 300, T0 - 10, T0 + 10, T0 + 100])
    cases, _ = load_cases(str(tmp_path))
    (tmp_path / "c1" / "spans.parquet").write_bytes(b"not parquet")
    with pytest.raises(ScenarioError, match="spans.parquet: not a readable Parquet span file"):
        cases[0].load_spans()


def test_window_parameters_change_the_rule(tmp_path):
    _write(tmp_path, "c2", [T0 - 300, T0 + 400])
    cases, skipped = load_cases(f"cases:{tmp_path}", after=500)
    assert [c.case_id for c in cases] == ["c2"] and skipped == []
    cases, skipped = load_cases(f"cases:{tmp_path}", before="1min", after=500)
    assert skipped == [("c2", "0 spans in the 1 minute before injection")]


def test_bad_label_is_an_evaluation_error(tmp_path):
    _write(tmp_path, "c1", [T0 - 10, T0 + 10])
    data = json.loads((tmp_path / "c1" / "label.json").read_text())
    del data["injected_at"]
    (tmp_path / "c1" / "label.json").write_text(json.dumps(data))
    with pytest.raises(ScenarioError, match=r"label.json: missing field"):
        load_cases(f"cases:{tmp_path}")


def test_unknown_layout_and_missing_path(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(EvaluationError, match="cannot tell the data set's layout"):
        load_cases(tmp_path)
    with pytest.raises(EvaluationError, match="no such file"):
        load_cases(f"nezha:{tmp_path / 'absent'}")


def test_case_validation():
    spans = _spans([T0])
    with pytest.raises(EvaluationError, match="root_causes"):
        Case("c", [], "x", T0, spans=spans)
    with pytest.raises(EvaluationError, match="neither spans nor edge series"):
        Case("c", ["a"], "x", T0)
    with pytest.raises(EvaluationError, match="not after inject_time"):
        Case("c", ["a"], "x", T0, end_time=T0 - 1, spans=spans)
    case = Case("c", "a", "x", str(T0), spans=spans)
    assert case.root_causes == ["a"] and case.inject_time == pd.Timestamp(T0, unit="s", tz="UTC")


def test_recorded_changes_become_case_changes(tmp_path):
    from chaos_scenarios.case_folder import write_changes
    from core.changes import Change

    _write(tmp_path, "c1", [T0 - 60, T0 + 60])
    folder = tmp_path / "c1"
    recorded = [Change("cart", T0 - 120, "rollout", "ReplicaSet cart-2", "v2"), Change("front", T0 - 30, "restart")]
    write_changes(folder, recorded)
    (case,), _ = load_cases(f"cases:{tmp_path}")
    assert case.changes == recorded
    (folder / "changes.json").write_text(json.dumps([{"service": "cart", "time": T0, "kind": "deploy"}]))
    with pytest.raises(ScenarioError, match="changes.json: change 0: change of cart: kind 'deploy' is not one of"):
        load_cases(f"cases:{tmp_path}")
