"""detect_series / detect_frame on pandas objects, the CLI and the built-in example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluxev import DetectorError, FluxEV, detect_frame, detect_series

PARAMS = dict(s=4, smoothing=1, q=0.01, level=0.9)


def make_series(n=300, seed=0, name="latency"):
    rng = np.random.default_rng(seed)
    values = 20 + rng.normal(0, 0.5, n)
    values[250] += 10
    index = pd.date_range("2026-03-01", periods=n, freq="30s", tz="UTC")
    return pd.Series(values, index=index, name=name)


def test_detect_series_matches_fit_detect_and_keeps_the_index():
    series = make_series()
    out = detect_series(series, train_len=200, **PARAMS)
    assert list(out.columns) == ["score", "threshold", "alarm"] and out.index.equals(series.index)
    expected = FluxEV(**PARAMS).fit(series.to_numpy()[:200]).detect(series.to_numpy()[200:])
    assert np.array_equal(out["alarm"].to_numpy()[200:], expected.alarm)
    assert np.array_equal(out["threshold"].to_numpy()[200:], expected.threshold)
    assert out["threshold"].iloc[:200].isna().all() and not out["alarm"].iloc[:200].any()
    assert out["score"].iloc[:8].isna().all() and out["score"].iloc[8:200].notna().all()
    assert bool(out["alarm"].iloc[250])


def test_train_until_accepts_timestamps_and_unix_seconds():
    series = make_series()
    last_train = series.index[199]
    a = detect_series(series, train_until=last_train, **PARAMS)
    b = detect_series(series, train_until=last_train.timestamp(), **PARAMS)
    c = detect_series(series, train_len=200, **PARAMS)
    pd.testing.assert_frame_equal(a, c)
    pd.testing.assert_frame_equal(b, c)


def test_split_errors():
    series = make_series()
    with pytest.raises(DetectorError, match="exactly one"):
        detect_series(series, **PARAMS)
    with pytest.raises(DetectorError, match="exactly one"):
        detect_series(series, train_len=10, train_until=series.index[5], **PARAMS)
    with pytest.raises(DetectorError, match="no point to detect"):
        detect_series(series, train_len=300, **PARAMS)
    with pytest.raises(DetectorError, match="not sorted"):
        detect_series(series.iloc[::-1], train_len=100, **PARAMS)
    with pytest.raises(DetectorError, match="duplicate timestamp"):
        detect_series(pd.concat([series.iloc[:5], series.iloc[4:]]), train_len=100, **PARAMS)
    with pytest.raises(DetectorError, match="sorted"):
        detect_series(pd.Series(series.to_numpy(), index=np.arange(300)[::-1]), train_until=100, **PARAMS)
    with pytest.raises(DetectorError, match="FluxEV: unknown parameter 'window'; valid parameters: s, p, h"):
        detect_series(series, train_len=200, window=3)
    naive, aware = pd.Timestamp("2026-03-01 01:00"), pd.Timestamp("2026-03-01 01:00", tz="UTC")
    pd.testing.assert_frame_equal(
        detect_series(series, train_until=naive, **PARAMS), detect_series(series, train_until=aware, **PARAMS)
    )  # naive times are UTC
    with pytest.raises(DetectorError, match="train_until: True is a boolean"):
        detect_series(series, train_until=True, **PARAMS)


def test_missing_values_fail_unless_filled_and_filled_points_never_alarm():
    series = make_series()
    series.iloc[250] = np.nan  # the anomaly itself goes missing
    series.iloc[100] = np.nan
    with pytest.raises(DetectorError, match="NaN"):
        detect_series(series, train_len=200, **PARAMS)
    out = detect_series(series, train_len=200, fill=True, **PARAMS)
    assert out.attrs["filled"] == 2 and not out["alarm"].iloc[250]


def test_detect_frame_skips_what_it_cannot_model():
    a, b = make_series(seed=1), make_series(seed=2)
    gappy = make_series(seed=3)
    gappy.iloc[220] = np.nan
    frame = pd.DataFrame({"a": a, "b": b, "gappy": gappy, "text": ["x"] * len(a)})
    out = detect_frame(frame, train_len=200, **PARAMS)
    assert set(out.columns.get_level_values(0)) == {"a", "b"}
    assert set(out.attrs["skipped"]) == {"gappy", "text"}
    assert "NaN" in out.attrs["skipped"]["gappy"] and "numeric" in out.attrs["skipped"]["text"]
    pd.testing.assert_frame_equal(out["a"], detect_series(a, train_len=200, **PARAMS), check_names=False)
    with pytest.raises(DetectorError, match="NaN"):
        detect_frame(frame, train_len=200, errors="raise", **PARAMS)
    filled = detect_frame(frame[["gappy"]], train_len=200, fill=True, **PARAMS)
    assert filled.attrs["skipped"] == {}


def test_rca_detect_command(tmp_path, capsys):
    from application.cli import main

    series = make_series()
    path = tmp_path / "edge.csv"
    pd.DataFrame({"timestamp": series.index.as_unit("s").asi8, "value": series.to_numpy()}).to_csv(path, index=False)
    code = main(
        [
            "detect",
            str(path),
            "--time-column",
            "timestamp",
            "--train-len",
            "200",
            "--set",
            "s=4",
            "--set",
            "smoothing=1",
            "--set",
            "q=0.01",
            "--set",
            "level=0.9",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert series.index[250].strftime("%Y-%m-%d %H:%M:%S") in captured.out
    assert "in 100 detected points (200 training points, 0 filled)" in captured.err
    assert main(["detect", str(path), "--column", "nope", "--train-len", "200"]) == 1
    assert "no column 'nope'" in capsys.readouterr().err
    assert main(["detect", str(path), "--train-len", "20"]) == 1
    assert "needs at least" in capsys.readouterr().err
    assert main(["detect", str(path), "--train-len", "200", "--set", "smoothin=1"]) == 1
    assert "unknown parameter 'smoothin' (did you mean 'smoothing'?)" in capsys.readouterr().err


def test_example_finds_every_injected_anomaly(capsys):
    from application.detector_example import run_example

    assert run_example() == 0
    assert "4 of 4 anomalies detected" in capsys.readouterr().out
