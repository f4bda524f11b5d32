"""Azure Anomaly Detector univariate v1.1 through the official SDK (azure-ai-anomalydetector 3.0.0b6):
its typed models parse every answer; the errors carry Azure's codes and messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from service_series import hourly, seasonal

pytest.importorskip("azure.ai.anomalydetector")
from azure.ai.anomalydetector.models import (
    TimeSeriesPoint,
    UnivariateChangePointDetectionOptions,
    UnivariateDetectionOptions,
    UnivariateEntireDetectionResult,
    UnivariateLastDetectionResult,
)
from azure.core.exceptions import HttpResponseError

from detectors import make_detector
from service import create_app, univariate
from service.server import BackgroundServer

AZURE = "/anomalydetector/v1.1/timeseries"


def options(values, **kw):
    points = [TimeSeriesPoint(timestamp=p["timestamp"], value=p["value"]) for p in hourly(values)]
    kw.setdefault("granularity", "hourly")
    return UnivariateDetectionOptions(series=points, **kw)


def test_entire_detect_finds_the_spike_and_only_it(client):
    x = seasonal()  # point 219 is a 3.6-sigma noise value: sensitivity 99 flags it, 90 does not
    assert client.detect_univariate_entire_series(options(x)).is_anomaly[219]
    result = client.detect_univariate_entire_series(options(x, sensitivity=90))
    assert isinstance(result, UnivariateEntireDetectionResult)
    assert result.period == 24
    assert list(np.flatnonzero(result.is_anomaly)) == [150]
    assert result.is_positive_anomaly[150] and not result.is_negative_anomaly[150]
    n = len(x)
    for field in ("expected_values", "upper_margins", "lower_margins", "is_negative_anomaly", "severity"):
        assert len(getattr(result, field)) == n
    # the spike lies outside its band, its severity is 1 - margin / |residual|
    e, m = result.expected_values[150], result.upper_margins[150]
    assert x[150] > e + m
    assert result.severity[150] == pytest.approx(1 - m / (x[150] - e))
    assert all(s == 0 for i, s in enumerate(result.severity) if i != 150)


def test_negative_anomaly(client):
    x = seasonal(spike=-5.0)
    result = client.detect_univariate_entire_series(options(x, sensitivity=90))
    assert result.is_negative_anomaly[150] and not result.is_positive_anomaly[150]


def test_last_detect(client):
    x = seasonal()
    result = client.detect_univariate_last_point(options(x[:151]))
    assert isinstance(result, UnivariateLastDetectionResult)
    assert result.is_anomaly and result.is_positive_anomaly
    assert result.period == 24 and result.suggested_window == 4 * 24 + 1
    quiet = client.detect_univariate_last_point(options(x[:150]))
    assert not quiet.is_anomaly and quiet.severity == 0
    assert quiet.lower_margin == quiet.upper_margin > 0


def test_given_period_is_used(client):
    result = client.detect_univariate_entire_series(options(seasonal(), period=12))
    assert result.period == 12


def test_sensitivity_widens_margins_and_max_ratio_caps(client):
    x = seasonal(spike_at=(60, 100, 150, 200))
    high = client.detect_univariate_entire_series(options(x, sensitivity=99))
    low = client.detect_univariate_entire_series(options(x, sensitivity=0))
    assert low.upper_margins[0] == pytest.approx(4 * high.upper_margins[0])
    assert set(np.flatnonzero(low.is_anomaly)) <= set(np.flatnonzero(high.is_anomaly))
    assert {60, 100, 150, 200} <= set(np.flatnonzero(high.is_anomaly))
    capped = client.detect_univariate_entire_series(options(x, max_anomaly_ratio=0.01))
    assert sum(capped.is_anomaly) == 2  # floor(0.01 * 240)


def test_change_point(client):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(60), np.full(60, 3.0)] + rng.normal(0, 0.3, 120)
    points = [TimeSeriesPoint(timestamp=p["timestamp"], value=p["value"]) for p in hourly(y)]
    body = UnivariateChangePointDetectionOptions(series=points, granularity="hourly", stable_trend_window=10)
    result = client.detect_univariate_change_point(body)
    assert list(np.flatnonzero(result.is_change_point)) == [60]
    assert result.confidence_scores[60] > 0.99
    flat = [TimeSeriesPoint(timestamp=p["timestamp"], value=p["value"]) for p in hourly(rng.normal(0, 1, 120))]
    quiet = client.detect_univariate_change_point(
        UnivariateChangePointDetectionOptions(series=flat, granularity="hourly")
    )
    assert not any(quiet.is_change_point)


def _error(client, call, body):
    with pytest.raises(HttpResponseError) as info:
        call(body)
    assert info.value.status_code == 400
    return info.value.error.code, info.value.error.message


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (lambda s: s[:11], "InvalidSeries", "The 'series' field must have at least 12 points."),
        (lambda s: s * 37, "InvalidSeries", "The 'series' field cannot have more than 8640 points."),
        (lambda s: s[::-1], "InvalidSeries", "The 'series' field must be sorted by timestamp in ascending order."),
        (lambda s: [s[0], *s], "InvalidSeries", "The 'series' field cannot have duplicated timestamp."),
    ],
)
def test_series_errors(client, change, code, message):
    points = change([TimeSeriesPoint(timestamp=p["timestamp"], value=p["value"]) for p in hourly(seasonal())])
    body = UnivariateDetectionOptions(series=points, granularity="hourly")
    assert _error(client, client.detect_univariate_entire_series, body) == (code, message)


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"sensitivity": 100}, "InvalidModelArgument"),
        ({"max_anomaly_ratio": 0.5}, "InvalidModelArgument"),
        ({"max_anomaly_ratio": 0}, "InvalidModelArgument"),
        ({"period": -1}, "InvalidPeriod"),
        ({"custom_interval": 0}, "InvalidCustomInterval"),
        ({"impute_mode": "fixed"}, "InvalidImputeFixedValue"),
        ({"impute_mode": "guess"}, "InvalidImputeMode"),
        ({"granularity": "fortnightly"}, "InvalidGranularity"),
    ],
)
def test_argument_errors(client, kw, code):
    body = options(seasonal(), **kw)
    got, message = _error(client, client.detect_univariate_last_point, body)
    assert got == code and message


def test_off_grid_timestamp(client):
    points = hourly(seasonal())
    points[5]["timestamp"] = points[5]["timestamp"].replace(":00:00Z", ":30:00Z")
    body = UnivariateDetectionOptions(series=[TimeSeriesPoint(**p) for p in points], granularity="hourly")
    assert _error(client, client.detect_univariate_entire_series, body) == (
        "InvalidSeries",
        "The 'timestamp' at index 5 is invalid in hourly granularity.",
    )


def test_missing_points_are_imputed_and_answers_keep_the_input_length(client):
    x = seasonal()
    points = hourly(x)
    kept = [p for i, p in enumerate(points) if i not in (40, 41, 42)]
    body = UnivariateDetectionOptions(series=[TimeSeriesPoint(**p) for p in kept], granularity="hourly", sensitivity=90)
    result = client.detect_univariate_entire_series(body)
    assert len(result.is_anomaly) == len(kept)
    assert list(np.flatnonzero(result.is_anomaly)) == [150 - 3]
    # zero-filled, the hole is a negative dip the model sees but does not return
    zero = UnivariateDetectionOptions(
        series=[TimeSeriesPoint(**p) for p in kept], granularity="hourly", impute_mode="zero"
    )
    assert len(client.detect_univariate_entire_series(zero).expected_values) == len(kept)
    prep = univariate.prepare({"series": kept, "granularity": "hourly", "imputeMode": "zero"})
    assert list(prep.values[40:43]) == [0, 0, 0] and len(prep.values) == len(x)
    prep = univariate.prepare({"series": kept, "granularity": "hourly", "imputeMode": "linear"})
    assert prep.values[41] == pytest.approx((x[39] * 2 + x[43] * 2) / 4)


def test_raw_errors(server):
    url = server.url + AZURE
    r = requests.post(url + "/entire/detect", data=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidJsonFormat"
    assert r.headers["x-ms-error-code"] == "InvalidJsonFormat"
    r = requests.post(url + "/entire/detect", json={})
    assert r.status_code == 400 and r.json() == {
        "code": "RequiredSeries",
        "message": "The 'series' field is required in request.",
    }
    r = requests.post(url + "/changepoint/detect", json={"series": hourly(seasonal())})
    assert r.status_code == 400 and r.json()["code"] == "RequiredGranularity"
    r = requests.post(url + "/entire/detect", json={"series": [{"value": "x"}] * 12})
    assert r.status_code == 400 and r.json()["code"] == "InvalidSeries"


def test_http_alarms_equal_the_python_model_and_are_sr_alarms(server):
    x = seasonal(n=600, spike_at=(100, 333, 500), spike=2.0, seed=5)
    r = requests.post(server.url + AZURE + "/entire/detect", json={"series": hourly(x), "granularity": "hourly"})
    http = np.array(r.json()["isAnomaly"])
    model = univariate.detect_values(x)
    assert (http == model["anomaly"]).all()
    assert list(np.flatnonzero(http)) == [100, 333, 500]
    residual = x - model["expected"]
    sr = make_detector("sr", window=64, z=21).fit(residual[1:64][::-1]).detect(residual)
    assert not (http & ~sr.alarm).any()


KPI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kpi-aiops2018" / "test"


@pytest.mark.shared_data
@pytest.mark.skipif(not KPI.exists(), reason="../shared/data/kpi-aiops2018 absent")
def test_kpi_series_through_http_equals_python(server):
    frame = pd.read_csv(sorted(KPI.glob("*.csv.gz"))[0]).iloc[:2000]
    stamps = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    series = [{"timestamp": t.isoformat(), "value": float(v)} for t, v in zip(stamps, frame["value"])]
    body = {"series": series, "granularity": "minutely", "imputeMode": "notFill"}
    r = requests.post(server.url + AZURE + "/entire/detect", json=body)
    assert r.status_code == 200
    expected = univariate.detect_values(frame["value"].to_numpy(dtype=float))["anomaly"]
    assert (np.array(r.json()["isAnomaly"]) == expected).all()


def test_keys_and_body_limit(tmp_path):
    app = create_app(tmp_path, keys=["secret"], max_body_bytes=2000)
    with BackgroundServer(app) as srv:
        url = srv.url + AZURE + "/last/detect"
        body = {"series": hourly(seasonal(n=12, spike_at=()))}
        assert requests.post(url, json=body).status_code == 401
        assert requests.post(url, json=body, headers={"Ocp-Apim-Subscription-Key": "wrong"}).status_code == 401
        assert requests.post(url, json=body, headers={"Ocp-Apim-Subscription-Key": "secret"}).status_code == 200
        big = {"series": hourly(seasonal(n=100, spike_at=()))}
        assert requests.post(url, json=big, headers={"Ocp-Apim-Subscription-Key": "secret"}).status_code == 413
        assert requests.get(srv.url + "/openapi.json").status_code == 200
