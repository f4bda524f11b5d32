import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation import EvaluationError
from evaluation.datasets import load_cases
from evaluation.nezha import service_of_pod

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "online-boutique-2022-08-22"
T0 = 1_661_140_000


def _trace_rows(trace, t, front_ms=20, cart_ms=5):
    t_ns = int(t * 1e9)
    return [
        f"{trace},{trace}a,root,frontend-579b9bff58-t2dbm,hipstershop.Frontend/Recv.,{t_ns},{t_ns + front_ms * 10**6},{front_ms * 1000}",
        f"{trace},{trace}b,{trace}a,frontend-579b9bff58-t2dbm,hipstershop.CartService/GetCart,{t_ns + 10**6},{t_ns + (1 + cart_ms) * 10**6},{cart_ms * 1000}",
        f"{trace},{trace}c,{trace}b,cartservice-579f59597d-wc2lz,hipstershop.CartService/GetCart,{t_ns + 10**6},{t_ns + (1 + cart_ms) * 10**6},{cart_ms * 1000}",
    ]


def _minute_file(folder, name, times):
    header = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"
    rows = [r for i, t in enumerate(times) for r in _trace_rows(f"{name.replace('_', '')}{i:04d}", t)]
    with gzip.open(folder / f"{name}_trace.csv.gz", "wt") as fh:
        fh.write("\n".join([header, *rows]) + "\n")


def _day(root, faults):
    (root / "trace").mkdir(parents=True)
    (root / "label.json").write_text(
        json.dumps(
            {
                "03": [
                    {"inject_time": "wall clock", "inject_timestamp": str(ts), "inject_pod": pod, "inject_type": kind}
                    for ts, pod, kind in faults
                ]
            }
        )
    )
    return root


def test_nezha_windows_and_skips(tmp_path):
    day = _day(
        tmp_path,
        [
            (T0, "cartservice-579f59597d-wc2lz", "network_delay"),
            (T0 + 3000, "frontend-579b9bff58-t2dbm", "cpu_contention"),
        ],
    )
    _minute_file(day / "trace", "03_01", [T0 - 700, T0 - 300, T0 - 290])
    _minute_file(day / "trace", "03_02", [T0 + 30, T0 + 170, T0 + 200])
    _minute_file(day / "trace", "03_03", [T0 + 3000 - 100])
    cases, skipped = load_cases(f"nezha:{day}")
    assert [c.case_id for c in cases] == [
        pd.Timestamp(T0, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S") + "_cartservice_network_delay"
    ]
    case = cases[0]
    assert case.root_causes == ["cartservice"] and case.fault_type == "network_delay"
    assert case.end_time - case.inject_time == pd.Timedelta(minutes=3)
    starts = case.spans["start_us"] // 10**6
    # spans of the traces at T0-300, T0-290, T0+30, T0+170 (3 each); T0-700 and T0+200 fall outside
    assert len(case.spans) == 12
    assert starts.min() >= T0 - 600 and starts.max() < T0 + 180
    assert set(case.spans["service"]) == {"frontend", "cartservice"}
    assert skipped == [
        (
            pd.Timestamp(T0 + 3000, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S") + "_frontend_cpu_contention",
            "0 spans in the 3 minutes after injection",
        )
    ]
    # wider windows are parameters
    cases, skipped = load_cases(f"nezha:{day}", before="15min", after="5min")
    assert len(cases[0].spans) == 18 and skipped[0][1] == "0 spans in the 5 minutes after injection"


def test_nezha_bare_path_and_label_errors(tmp_path):
    day = _day(tmp_path, [(T0, "cartservice-579f59597d-wc2lz", "network_delay")])
    _minute_file(day / "trace", "03_01", [T0 - 300, T0 + 30])
    cases, _ = load_cases(day)
    assert cases[0].metadata["layout"] == "nezha"
    (day / "label.json").write_text(
        json.dumps({"03": [{"inject_timestamp": "x", "inject_pod": "a-b-c", "inject_type": "cpu"}]})
    )
    with pytest.raises(
        EvaluationError, match=r"label.json: entry '03'\[0\]: inject_timestamp: cannot read 'x' as a time"
    ):
        load_cases(f"nezha:{day}")
    (day / "label.json").write_text(json.dumps({"03": [{"inject_timestamp": T0}]}))
    with pytest.raises(EvaluationError, match=r"missing field\(s\) \['inject_pod', 'inject_type'\]"):
        load_cases(f"nezha:{day}")
    (day / "label.json").write_text("{not json")
    with pytest.raises(EvaluationError, match="label.json: not valid JSON"):
        load_cases(f"nezha:{day}")


def test_nezha_without_trace_folder(tmp_path):
    (tmp_path / "label.json").write_text("{}")
    with pytest.raises(EvaluationError, match="no trace/ folder"):
        load_cases(f"nezha:{tmp_path}")


def test_service_of_pod():
    assert service_of_pod("cartservice-579f59597d-wc2lz") == "cartservice"
    assert service_of_pod("ts-auth-service-5d8f-abcde") == "ts-auth-service"
    assert service_of_pod("redis") == "redis"


def _rcaeval_case(root, group, n, inject, times):
    folder = root / group / str(n)
    folder.mkdir(parents=True)
    (folder / "inject_time.txt").write_text(f"{inject}\n")
    rows = ["traceID,spanID,parentSpanID,serviceName,operationName,startTime,duration,statusCode"]
    for i, t in enumerate(times):
        rows.append(f"t{i},a{i},,frontend,GET /,{int(t * 1e6)},20000,200")
        rows.append(f"t{i},b{i},a{i},ts-auth-service,POST /login,{int(t * 1e6) + 1000},5000,200")
    (folder / "traces.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_rcaeval_layout(tmp_path):
    _rcaeval_case(tmp_path, "ts-auth-service_delay", 1, T0, [T0 - 60, T0 + 60])
    _rcaeval_case(tmp_path, "ts-auth-service_delay", 2, T0, [T0 - 60])
    cases, skipped = load_cases(tmp_path)
    assert [(c.case_id, c.root_causes, c.fault_type) for c in cases] == [
        ("ts-auth-service_delay/1", ["ts-auth-service"], "delay")
    ]
    assert cases[0].metadata["layout"] == "rcaeval" and len(cases[0].spans) == 4
    assert cases[0].end_time is None
    assert skipped == [("ts-auth-service_delay/2", "0 spans in the 3 minutes after injection")]


def test_rcaeval_bad_inject_time(tmp_path):
    folder = _rcaeval_case(tmp_path, "cart_cpu", 1, T0, [T0])
    (folder / "inject_time.txt").write_text("soon\n")
    with pytest.raises(EvaluationError, match="inject_time.txt: inject_time: cannot read 'soon' as a time"):
        load_cases(f"rcaeval:{tmp_path}")


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")
def test_shared_nezha_day_usable_cases():
    cases, skipped = load_cases(f"nezha:{SHARED}")
    assert len(cases) + len(skipped) == 24
    assert dict(skipped) == {
        "2022-08-22T05:01:13_checkoutservice_exception": "0 spans in the 3 minutes after injection",
        "2022-08-22T06:01:18_paymentservice_cpu_contention": "0 spans in the 3 minutes after injection",
    }
    for case in cases:
        starts = case.spans["start_us"].to_numpy()
        t0 = case.inject_time.value // 1000
        assert (starts < t0).any() and (starts >= t0).any()
        assert starts.min() >= t0 - 600 * 10**6 and starts.max() < t0 + 180 * 10**6


def test_nezha_root_with_day_folders(tmp_path):
    for n, (day, pod) in enumerate([("2022-08-22", "cartservice-579f59597d-wc2lz"), ("2022-08-23", "frontend-5-x")]):
        t = T0 + n * 86_400
        folder = _day(tmp_path / "rca_data" / day, [(t, pod, "cpu_contention")])
        _minute_file(folder / "trace", "03_01", [t - 300, t + 30])
    (tmp_path / "rca_data" / "broken").mkdir()
    (tmp_path / "rca_data" / "broken" / "label.json").write_text("{}")  # no trace/
    cases, skipped = load_cases(tmp_path)  # detected by content from the root
    assert [c.root_causes[0] for c in cases] == ["cartservice", "frontend"]
    assert [c.metadata["day"] for c in cases] == [
        pd.Timestamp(T0 + n * 86_400, unit="s", tz="UTC").strftime("%Y-%m-%d") for n in range(2)
    ]
    assert skipped == [("rca_data/broken", "label.json but no trace/ folder of minute trace files")]


def test_rcaeval_root_of_systems_lists_cases_without_inject_time(tmp_path):
    _rcaeval_case(tmp_path / "RE2-TT", "ts-auth-service_delay", 1, T0, [T0 - 60, T0 + 60])
    _rcaeval_case(tmp_path / "RE2-OB", "cartservice_cpu", 1, T0, [T0 - 60, T0 + 60])
    _rcaeval_case(tmp_path / "RE2-TT2", "ts-auth-service_delay", 1, T0, [T0 - 60, T0 + 60])
    lost = tmp_path / "RE2-OB" / "cartservice_cpu" / "2"
    lost.mkdir()
    (lost / "traces.csv").write_text("x\n")
    cases, skipped = load_cases(f"rcaeval:{tmp_path}")
    assert sorted(c.case_id for c in cases) == [
        "RE2-TT/ts-auth-service_delay/1",
        "RE2-TT2/ts-auth-service_delay/1",
        "cartservice_cpu/1",
    ]
    assert skipped == [("RE2-OB/cartservice_cpu/2", f"no inject_time.txt (the injection time) in {lost}")]


def test_nezha_metric_folder_becomes_the_cases_metric_series(tmp_path):
    day = _day(tmp_path, [(T0, "cartservice-579f59597d-wc2lz", "cpu_contention")])
    _minute_file(day / "trace", "03_01", [T0 - 300, T0 - 290])
    _minute_file(day / "trace", "03_02", [T0 + 30, T0 + 170])
    (cases,), _ = load_cases(f"nezha:{day}")
    assert cases.metric_series is None and cases.metadata["metrics_skipped"] == [("metric", "no metric/ folder")]
    (day / "metric").mkdir()
    header = "Time,TimeStamp,PodName,CpuUsageRate(%),PodSuccessRate(%)\n"
    for pod in ("cartservice-579f59597d-wc2lz", "redis-cart-7d8f9-abcde"):
        rows = [
            f"{pd.Timestamp(T0 + 60 * m, unit='s', tz='UTC').strftime('%Y-%m-%d %H:%M:%S')}.5 +0000 UTC m=+1.0,1,{pod},{m},0"
            for m in range(-5, 3)
        ]
        with gzip.open(day / "metric" / f"{pod}_metric.csv.gz", "wt") as fh:
            fh.write(header + "\n".join(rows) + "\n")
    (day / "metric" / "dependency.csv").write_text("a,b\n")
    (case,), _ = load_cases(f"nezha:{day}")
    series = case.metric_series
    assert series.index.names == ["time", "service", "pod"] and list(series.columns) == ["CpuUsageRate(%)"]
    # cartservice's pod is named by the spans; the other by its name minus the two last parts
    assert set(series.index.droplevel("time")) == {
        ("cartservice", "cartservice-579f59597d-wc2lz"),
        ("redis-cart", "redis-cart-7d8f9-abcde"),
    }
    assert ("dependency.csv", "not a <pod>_metric.csv file") in case.metadata["metrics_skipped"]
    assert ("cartservice-579f59597d-wc2lz_metric.csv.gz: PodSuccessRate(%)", "constant throughout the file") in (
        case.metadata["metrics_skipped"]
    )


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")
def test_shared_nezha_day_metrics():
    from collectors.metrics import read_pod_metrics

    frame = read_pod_metrics(SHARED / "metric")
    assert frame.index.get_level_values("pod").nunique() == 10
    assert "PodSuccessRate(%)" not in frame.columns and "CpuUsageRate(%)" in frame.columns
    times = frame.index.get_level_values("time")
    # the Time string, not the TimeStamp column that is off by 2e8 s for one pod
    assert times.min() >= pd.Timestamp("2022-08-22", tz="UTC") and times.max() < pd.Timestamp("2022-08-23", tz="UTC")
