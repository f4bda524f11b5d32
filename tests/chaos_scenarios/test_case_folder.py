import json

import pandas as pd
import pytest

from chaos_scenarios.case_folder import (
    CaseLabel,
    is_case_folder,
    list_cases,
    read_label,
    read_manifests,
    read_spans,
    write_case,
    write_run,
)
from chaos_scenarios.errors import ScenarioError
from collectors import make_spanframe


def _label(case_id="c1"):
    return CaseLabel(
        case_id=case_id,
        root_cause=["cart"],
        fault_type="network-delay",
        chaos_kind="NetworkChaos",
        action="delay",
        injected_at=100.0,
        recovered_at=280.0,
        window_start=0.0,
        window_end=400.0,
        backend="sim",
        parameters={"latency": "200ms"},
    )


def _spans():
    return make_spanframe(
        pd.DataFrame(
            {
                "trace_id": ["t"],
                "span_id": ["s"],
                "parent_id": [None],
                "service": ["front"],
                "operation": ["GET"],
                "start_us": [1],
                "duration_us": [2],
                "kind": ["server"],
                "status": ["ok"],
                "pod": ["p"],
            }
        )
    )


def test_round_trip(tmp_path):
    manifest = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos", "metadata": {"name": "x"}}
    write_case(tmp_path / "c1", _label(), [manifest], _spans())
    write_run(tmp_path, suite="s", backend="sim", seed=1, cases=["c1"])
    assert is_case_folder(tmp_path / "c1")
    assert list_cases(tmp_path) == [tmp_path / "c1"]
    assert read_label(tmp_path / "c1") == _label()
    assert read_manifests(tmp_path / "c1") == [manifest]
    assert len(read_spans(tmp_path / "c1")) == 1


def test_bad_label(tmp_path):
    (tmp_path / "label.json").write_text(json.dumps({"format": "rca-case/1", "case_id": "x"}))
    with pytest.raises(ScenarioError, match="missing field"):
        read_label(tmp_path)
    (tmp_path / "label.json").write_text("{nope")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        read_label(tmp_path)


def test_unreadable_spans(tmp_path):
    (tmp_path / "spans.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ScenarioError, match=r"spans.parquet: not a readable Parquet"):
        read_spans(tmp_path)
