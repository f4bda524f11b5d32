"""The contract of ``benchmarks/detectors.py`` (issue 11) on a tiny folder laid out like the KPI
set: the JSON schema, ``--alarms-out`` files for every observed test point, ``--set``, skipped
series with their reason, and the point-adjusted F1 recomputed by hand from the written alarms."""

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.detectors.conftest import PERIOD, daily_series

HOUR = 3600  # hourly points: the day is PERIOD = 24 points
SPIKE = 2 * PERIOD + 5  # in the test part
GAP = 3 * PERIOD + 2  # a missing test timestamp


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).parents[2] / "benchmarks" / "detectors.py"
    spec = importlib.util.spec_from_file_location("bench_detectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_detectors"] = module  # its dataclasses look their module up
    saved = list(sys.path)
    sys.path.insert(0, str(path.parent))  # its _benchpath, as when run as a script
    spec.loader.exec_module(module)
    sys.path[:] = saved
    return module


def _write(path: Path, values, labels, t0: int, drop=()) -> None:
    rows = [(t0 + i * HOUR, float(v), int(lab)) for i, (v, lab) in enumerate(zip(values, labels)) if i not in drop]
    text = "timestamp,value,label\n" + "".join(f"{t},{v!r},{lab}\n" for t, v, lab in rows)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kpi-like")
    (root / "train").mkdir()
    (root / "test").mkdir()
    x = daily_series(30, seed=21, spikes=((24 * PERIOD + SPIKE, 20.0), (24 * PERIOD + SPIKE + 1, 20.0)))
    labels = np.zeros(len(x), dtype=int)
    labels[24 * PERIOD + SPIKE : 24 * PERIOD + SPIKE + 2] = 1
    cut = 24 * PERIOD
    _write(root / "train" / "a.csv.gz", x[:cut], labels[:cut], 0)
    _write(root / "test" / "a.csv.gz", x[cut:], labels[cut:], cut * HOUR, drop={GAP})
    short = daily_series(1, seed=22)
    _write(root / "train" / "b.csv", short[:10], [0] * 10, 0)
    _write(root / "test" / "b.csv", short[10:], [0] * 14, 10 * HOUR)
    return root


def test_json_alarms_and_settings(bench, data, tmp_path):
    out, alarms = tmp_path / "out.json", tmp_path / "alarms"
    args = [str(data), "--detectors", "sma,spot", "--json", str(out), "--alarms-out", str(alarms)]
    assert bench.main([*args, "--set", "sma.alpha=0.25", "--set", "spot.side=both", "--set", "spot.period=None"]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["detectors"]}
    assert set(rows) == {"sma", "spot"}
    for row in rows.values():
        for key in ("f1", "precision", "recall", "f1_pointwise", "seconds", "points_per_second"):
            assert isinstance(row[key], float), key
        assert list(row["skipped"]) == ["b.csv"] and "train" in row["skipped"]["b.csv"]
        assert row["seconds"] == pytest.approx(row["fit_seconds"] + row["detect_seconds"])
        assert 0 < row["cpu_seconds"]

    written = np.loadtxt(alarms / "sma" / "a.csv", delimiter=",", skiprows=1)
    assert (alarms / "sma" / "a.csv").read_text().startswith("timestamp,alarm\n")
    expected_ts = [24 * PERIOD * HOUR + i * HOUR for i in range(6 * PERIOD) if i != GAP]
    assert written[:, 0].tolist() == expected_ts  # every observed test point, the gap left out
    alarm = written[:, 1].astype(bool)
    # point-adjusted by hand: the labelled pair counts whole if an alarm falls on it (delay 7)
    observed = [i for i in range(6 * PERIOD) if i != GAP]
    label = np.isin(observed, [SPIKE, SPIKE + 1])
    hit = alarm[label].any()
    tp = 2 * hit
    fp = int((alarm & ~label).sum())
    fn = 2 - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert hit and rows["sma"]["f1"] == pytest.approx(f1)
    assert rows["sma"]["notes"] == {}
    skipped = np.loadtxt(alarms / "sma" / "b.csv", delimiter=",", skiprows=1)
    assert len(skipped) == 14 and not skipped[:, 1].any()  # a skipped series: every point, no alarm


def test_set_changes_the_result_and_errors_are_named(bench, data, tmp_path, monkeypatch):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    bench.main(
        [str(data), "--detectors", "spot", "--json", str(a), "--set", "spot.side=upper", "--set", "spot.period=None"]
    )
    bench.main(
        [str(data), "--detectors", "spot", "--json", str(b), "--set", "spot.side=lower", "--set", "spot.period=None"]
    )
    upper, lower = (json.loads(p.read_text())["detectors"][0] for p in (a, b))
    assert upper["recall"] == 1.0 and lower["recall"] == 0.0
    with pytest.raises(SystemExit, match="bogus"):
        bench.main([str(data), "--detectors", "bogus"])
    with pytest.raises(SystemExit, match="multivariate"):
        bench.main([str(data), "--detectors", "pca"])
    with pytest.raises(SystemExit, match="detector.param=value"):
        bench.main([str(data), "--set", "q=1"])
    monkeypatch.setattr(bench, "available", lambda: ["auto", "pca", "sma"])  # "all" without torch's import
    assert bench.univariate() == ["auto", "sma"]
