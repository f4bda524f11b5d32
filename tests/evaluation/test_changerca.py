import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import EvaluationError
from evaluation.datasets import load_cases

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "changerca-sample"
T0 = 1_700_000_000 - 1_700_000_000 % 60  # a whole minute


def _edge_csv(path, rows):
    lines = ["Time,Timestamp,SuccessRate,Latency,CPUUsageRate(%)"]
    lines += [f"t,{ts},{sr},{lat},1.0" for ts, sr, lat in rows]
    path.write_text("\n".join(lines) + "\n")


def _case(root, name="case_a", detect=T0 + 300, service="back"):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}.json").write_text(
        json.dumps(
            {
                "fault": "exception",
                "fault_release_service": service,
                "detect_timestamp": detect,
                "plan": {service: {"release_time": detect - 120}},
            }
        )
    )
    (folder / "dependency.csv").write_text("Source,Target,Weight\nfront,back,1\n")
    minutes = range(10)
    # caller side: one front pod; server side: two back pods, one of them failing from minute 5
    _edge_csv(
        folder / "front-abc-1_front_back.csv", [(T0 + 60 * m + 1, 60 if m == 9 else 100, 10.0 + m) for m in minutes]
    )
    _edge_csv(folder / "back-v1-x-1_front_back.csv", [(T0 + 60 * m - 1, 100, 2.0) for m in minutes])
    _edge_csv(
        folder / "back-v2-y-2_front_back.csv", [(T0 + 60 * m, 50 if m >= 5 else 100, 4.0) for m in minutes if m != 7]
    )
    _edge_csv(folder / "other-z-3_front_back.csv", [(T0, 100, 1.0)])
    return folder


def test_edge_series_aggregation_by_hand(tmp_path):
    _case(tmp_path)
    cases, skipped = load_cases(f"changerca:{tmp_path}")
    assert skipped == [] and len(cases) == 1
    case = cases[0]
    assert case.root_causes == ["back"] and case.fault_type == "exception"
    assert case.inject_time == pd.Timestamp(T0 + 300, unit="s", tz="UTC")
    assert case.end_time is None and case.spans is None
    series = case.edge_series
    assert series.index.names == ["time", "caller", "callee"]
    assert str(series.index.levels[0].dtype) == "datetime64[ns, UTC]"
    assert series.attrs["bucket"] == pd.Timedelta(minutes=1)
    assert len(series) == 10
    row = series.xs(pd.Timestamp(T0 + 360, unit="s", tz="UTC"), level="time").loc[("front", "back")]
    assert row["calls"] == 3 and row["errors"] == 1
    assert row["error_rate"] == pytest.approx(1 - (100 + 50) / 2 / 100)  # server side; client saw none
    assert row["latency_mean_ms"] == pytest.approx(3.0)  # the callee pods' own Latency, not the caller's
    assert row["server_mean_ms"] == pytest.approx(3.0)
    minute9 = series.xs(pd.Timestamp(T0 + 540, unit="s", tz="UTC"), level="time").loc[("front", "back")]
    assert minute9["error_rate"] == pytest.approx(0.4)  # max of client 0.4 and server 0.25
    assert minute9["errors"] == 2
    minute7 = series.xs(pd.Timestamp(T0 + 420, unit="s", tz="UTC"), level="time").loc[("front", "back")]
    assert minute7["calls"] == 2 and minute7["error_rate"] == 0.0 and minute7["server_mean_ms"] == 2.0
    assert np.isnan(row["latency_p90_ms"])
    assert series["calls"].dtype == np.int64
    assert case.metadata["ignored_files"][0].startswith("other-z-3_front_back.csv")
    assert case.metadata["release_time"] == T0 + 180


def test_missing_minutes_are_explicit_and_case_without_before_data_is_skipped(tmp_path):
    _case(tmp_path, "late", detect=T0 + 1)  # nothing in the 10 minutes before? minute 0 only
    _case(tmp_path, "early", detect=T0 - 3600)
    cases, skipped = load_cases(f"changerca:{tmp_path}")
    assert [c.case_id for c in cases] == ["late"]
    assert skipped == [
        (
            "early",
            "0 reporting minutes in the 10 minutes before injection; "
            "0 reporting minutes in the 3 minutes after injection",
        )
    ]


def test_bare_path_is_detected(tmp_path):
    folder = _case(tmp_path)
    cases, _ = load_cases(folder)
    assert cases[0].metadata["layout"] == "changerca"


def test_bad_column_names_the_file(tmp_path):
    folder = _case(tmp_path)
    (folder / "front-abc-1_front_back.csv").write_text("Time,Timestamp,Latency\nt,1,2\n")
    with pytest.raises(EvaluationError, match=r"front-abc-1_front_back.csv: missing column\(s\) \['SuccessRate'\]"):
        load_cases(f"changerca:{tmp_path}")


def test_bad_value_names_the_row(tmp_path):
    folder = _case(tmp_path)
    (folder / "back-v1-x-1_front_back.csv").write_text("Time,Timestamp,SuccessRate,Latency\nt,1,abc,2\n")
    with pytest.raises(EvaluationError, match="'SuccessRate' row 2 has 'abc'"):
        load_cases(f"changerca:{tmp_path}")


def test_label_missing_field(tmp_path):
    folder = _case(tmp_path)
    (folder / f"{folder.name}.json").write_text(json.dumps({"fault_release_service": "back"}))
    with pytest.raises(EvaluationError, match=r"case_a.json: missing field\(s\) \['detect_timestamp'\]"):
        load_cases(f"changerca:{tmp_path}")


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")
def test_shared_sample():
    cases, skipped = load_cases(f"changerca:{SHARED}")
    assert skipped == []
    assert {c.case_id: c.root_causes[0] for c in cases} == {
        "2023-09-22_1": "adservice",
        "2023-09-22_10": "productcatalogservice",
    }
    for case in cases:
        assert case.metadata["ignored_files"] == []
        assert case.edge_series.index.droplevel("time").nunique() == 14
        first = {}
        for change in case.changes:
            first.setdefault(change.service, change)
        assert set(first) == {case.root_causes[0], *case.metadata["normal_services"]}
        faulty = first[case.root_causes[0]]
        assert faulty.time == pd.Timestamp(case.metadata["release_time"], unit="s", tz="UTC") < case.inject_time


def test_published_root_with_day_folders_is_searched_recursively(tmp_path):
    # the data set as published: data/<day>/<case>/, plus folders that are not cases
    _case(tmp_path / "2023-09-22", "2023-09-22_1")
    _case(tmp_path / "2023-09-23", "2023-09-23_4", detect=T0 + 240, service="front")
    inner = tmp_path / "2023-09-22" / "2023-09-22_1" / "gied"
    inner.mkdir()
    (inner / "gied.json").write_text("not even JSON")  # another tool's output inside a case: not searched
    stray = tmp_path / "2023-09-23" / "notes"
    stray.mkdir()
    (stray / "notes.json").write_text(json.dumps({"fault": "exception"}))
    orphan = tmp_path / "2023-09-23" / "orphan"
    orphan.mkdir()
    _edge_csv(orphan / "front-abc-1_front_back.csv", [(T0, 100, 1.0)])
    cases, skipped = load_cases(f"changerca:{tmp_path}")
    assert [(c.case_id, c.root_causes) for c in cases] == [("2023-09-22_1", ["back"]), ("2023-09-23_4", ["front"])]
    assert [c.metadata["folder"] for c in cases] == ["2023-09-22/2023-09-22_1", "2023-09-23/2023-09-23_4"]
    assert skipped == [
        ("2023-09-23/notes", "notes.json has no fault_release_service (not a ChangeRCA case label)"),
        ("2023-09-23/orphan", "1 edge CSV file(s) but no orphan.json label"),
    ]
    assert load_cases(tmp_path)[0][0].metadata["layout"] == "changerca"  # detected by content from the root


def test_same_case_name_on_two_days_gets_its_path(tmp_path):
    _case(tmp_path / "a", "case_x")
    _case(tmp_path / "b", "case_x")
    cases, _ = load_cases(f"changerca:{tmp_path}")
    assert [c.case_id for c in cases] == ["a/case_x", "b/case_x"]


def test_root_without_any_case_says_what_it_saw(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "x.json").write_text("[1]")
    with pytest.raises(EvaluationError, match=r"no case folder .* at or below it \(x: x.json is not a JSON object\)"):
        load_cases(f"changerca:{tmp_path}")


def test_release_plan_becomes_change_events(tmp_path):
    folder = _case(tmp_path)
    label = json.loads((folder / "case_a.json").read_text())
    release = T0 + 120
    label["plan"] = {
        "back": {
            "release_time": release,
            "target_replica": 2,
            "process": {  # keys out of time order, as in the data set: steps go by completion
                str(release + 900): {
                    "v1": 0,
                    "v2": 2,
                    "release_pod": ["back-v2-y-3"],
                    "delete_pod": ["back-v1-x-1"],
                    "release_complete_timestamp": release + 400,
                },
                str(release): {
                    "v1": 1,
                    "v2": 1,
                    "release_pod": ["back-v2-y-2"],
                    "delete_pod": ["back-v1-x-0"],
                    "release_complete_timestamp": release + 65,
                },
            },
        },
        "front": {"release_time": release - 60, "process": {}},
    }
    (folder / "case_a.json").write_text(json.dumps(label))
    (case,), _ = load_cases(f"changerca:{tmp_path}")
    stamp = pd.Timestamp
    assert [(c.service, c.time, c.version, c.pods) for c in case.changes] == [
        ("front", stamp(release - 60, unit="s", tz="UTC"), "", ()),
        ("back", stamp(release, unit="s", tz="UTC"), "v2", ("back-v2-y-2",)),
        ("back", stamp(release + 400, unit="s", tz="UTC"), "v2", ("back-v2-y-3",)),
    ]
    assert case.changes[1].detail == "back-v2-y-2 replaces back-v1-x-0, 1/2 pods on v2"
    assert case.changes[2].detail.startswith("step 2: back-v2-y-3 replaces back-v1-x-1")
    label["plan"]["back"]["process"][str(release)]["release_complete_timestamp"] = "later"
    (folder / "case_a.json").write_text(json.dumps(label))
    with pytest.raises(EvaluationError, match=rf"plan.back.process.{release}.release_complete_timestamp"):
        load_cases(f"changerca:{tmp_path}")


def test_a_root_holding_two_layouts_must_be_named(tmp_path):
    _case(tmp_path / "changerca")
    other = tmp_path / "rcaeval" / "cart_cpu" / "1"
    other.mkdir(parents=True)
    (other / "inject_time.txt").write_text(f"{T0}\n")
    with pytest.raises(EvaluationError, match=r"several layouts below it \(changerca, rcaeval\); name one"):
        load_cases(tmp_path)
    assert [c.case_id for c in load_cases(f"changerca:{tmp_path}")[0]] == ["case_a"]


def test_cpu_and_memory_columns_become_the_cases_metric_series(tmp_path):
    folder = _case(tmp_path)
    (case,), _ = load_cases(f"changerca:{tmp_path}")
    series = case.metric_series
    assert series.index.names == ["time", "service", "pod"] and list(series.columns) == ["CPUUsageRate(%)"]
    # each pod under the end of the edge it belongs to (the caller's pod under the caller)
    assert set(series.index.droplevel("time")) == {
        ("front", "front-abc-1"),
        ("back", "back-v1-x-1"),
        ("back", "back-v2-y-2"),
    }
    assert (series["CPUUsageRate(%)"] == 1.0).all()
    for file in folder.glob("*_front_back.csv"):  # files without the columns: no metric series
        lines = file.read_text().splitlines()
        file.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    (case,), _ = load_cases(f"changerca:{tmp_path}")
    assert case.metric_series is None
