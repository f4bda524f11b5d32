"""Azure MVAD (v1.1) through the official SDK on the "pca" detector (tiny data): train, get, list,
detect-batch with polling, detect-last, delete; data-source rules; restart keeps the models."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pandas as pd
import pytest
import requests

pytest.importorskip("azure.ai.anomalydetector")
from azure.ai.anomalydetector import AnomalyDetectorClient
from azure.ai.anomalydetector.models import (
    AlignPolicy,
    ModelInfo,
    MultivariateBatchDetectionOptions,
    MultivariateLastDetectionOptions,
    VariableValues,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from service import create_app
from service.server import BackgroundServer

START = pd.Timestamp("2026-01-01T00:00:00Z")
N = 400


def frame(seed=0, anomaly_at=350):
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    base = np.sin(2 * np.pi * t / 50)
    data = pd.DataFrame(
        {
            "a": base + rng.normal(0, 0.05, N),
            "b": 2 * base + rng.normal(0, 0.05, N),
            "c": -base + rng.normal(0, 0.05, N),
        },
        index=pd.date_range(START, periods=N, freq="min", name="timestamp"),
    )
    data.iloc[anomaly_at, 1] += 3.0  # b breaks its relation to a and c
    return data


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvdata")
    data = frame()
    one = data.reset_index()
    one["timestamp"] = one["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    one.to_csv(root / "one.csv", index=False)
    with zipfile.ZipFile(root / "multi.zip", "w") as archive:
        for name in data.columns:
            archive.writestr(
                f"{name}.csv", one[["timestamp", name]].rename(columns={name: "value"}).to_csv(index=False)
            )
    app = create_app(root, mv_detector="pca")
    with BackgroundServer(app) as srv, AnomalyDetectorClient(srv.url, AzureKeyCredential("k")) as client:
        yield srv, client, root, data


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def wait(get, done, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if done(value):
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def train(client, source, **kw):
    info = ModelInfo(
        data_source=source,
        start_time=START.to_pydatetime(),
        end_time=(START + pd.Timedelta(minutes=299)).to_pydatetime(),
        sliding_window=28,
        display_name="tiny",
        **kw,
    )
    model = client.train_multivariate_model(info)
    ready = wait(
        lambda: client.get_multivariate_model(model.model_id), lambda m: m.model_info.status in ("READY", "FAILED")
    )
    return ready


def test_train_get_list_detect_delete(mv):
    srv, client, root, data = mv
    model = train(client, str(root / "one.csv"), align_policy=AlignPolicy(align_mode="Inner", fill_n_a_method="Linear"))
    assert model.model_info.status == "READY", model.model_info.errors
    states = model.model_info.diagnostics_info.variable_states
    assert [s.variable for s in states] == ["a", "b", "c"] and all(s.effective_count == 300 for s in states)
    listed = [m.model_id for m in client.list_multivariate_models()]
    assert model.model_id in listed
    # batch: asynchronous, polled by result id
    options = MultivariateBatchDetectionOptions(
        data_source="file://" + str(root / "one.csv"),
        top_contributor_count=2,
        start_time=(START + pd.Timedelta(minutes=300)).to_pydatetime(),
        end_time=(START + pd.Timedelta(minutes=N - 1)).to_pydatetime(),
    )
    started = client.detect_multivariate_batch_anomaly(model.model_id, options)
    result = wait(
        lambda: client.get_multivariate_batch_detection_result(started.result_id),
        lambda r: r.summary.status in ("READY", "FAILED"),
    )
    assert result.summary.status == "READY", result.summary.errors
    assert len(result.results) == 100
    flagged = [r for r in result.results if r.value.is_anomaly]
    assert pd.Timestamp(flagged[0].timestamp) == START + pd.Timedelta(minutes=350)
    top = flagged[0].value.interpretation
    assert len(top) == 2 and top[0].variable == "b"
    # last: synchronous, variables inline
    window = data.iloc[300:351]
    variables = [
        VariableValues(variable=c, timestamps=[iso(t) for t in window.index], values=window[c].tolist()) for c in data
    ]
    last = client.detect_multivariate_last_anomaly(
        model.model_id, MultivariateLastDetectionOptions(variables=variables, top_contributor_count=1)
    )
    assert len(last.results) == 1 and last.results[0].value.is_anomaly
    assert last.results[0].value.interpretation[0].variable == "b"
    client.delete_multivariate_model(model.model_id)
    with pytest.raises(ResourceNotFoundError):
        client.get_multivariate_model(model.model_id)


def test_multitable_zip_and_outer_alignment(mv):
    srv, client, root, data = mv
    model = train(client, str(root / "multi.zip"), data_schema="MultiTable")
    assert model.model_info.status == "READY", model.model_info.errors
    assert sorted(s.variable for s in model.model_info.diagnostics_info.variable_states) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("../../etc/passwd", "InvalidBlobURL"),
        ("file:///etc/passwd", "InvalidBlobURL"),
        ("ftp://example.com/data.csv", "InvalidBlobURL"),
        ("missing.csv", "FileNotExist"),
    ],
)
def test_data_sources_stay_in_the_data_dir(mv, source, code):
    srv, client, root, data = mv
    with pytest.raises(HttpResponseError) as info:
        train(client, source)
    assert info.value.status_code == 400 and info.value.error.code == code


def test_training_errors(mv):
    srv, client, root, data = mv
    url = srv.url + "/anomalydetector/v1.1/multivariate/models"
    base = {"dataSource": str(root / "one.csv"), "startTime": iso(START), "endTime": iso(START + pd.Timedelta(hours=1))}
    cases = [
        ({"slidingWindow": 27}, "InvalidSlidingWindow"),
        ({"alignPolicy": {"alignMode": "Sideways"}}, "InvalidAlignMode"),
        ({"alignPolicy": {"fillNAMethod": "NotFill", "alignMode": "Outer"}}, "InvalidFillNAMethod"),
        ({"alignPolicy": {"fillNAMethod": "Fixed"}}, "RequiredPaddingValue"),
        ({"startTime": None}, "RequiredStartTime"),
    ]
    for change, code in cases:
        r = requests.post(url, json={**base, **change})
        assert r.status_code == 400 and r.json()["code"] == code, (change, r.text)
    for bad in ("x", "a..b", "00000000-0000-0000-0000-000000000000"):
        r = requests.get(f"{url}/{bad}")
        assert r.status_code == 404 and r.json()["code"] == "ModelNotExist"
    r = requests.delete(f"{url}/..%2F..%2Fservice.db")  # decoded to a path no route has
    assert r.status_code == 404 and (root / "service.db").exists()
    r = requests.get(srv.url + "/anomalydetector/v1.1/multivariate/detect-batch/nope")
    assert r.status_code == 404 and r.json()["code"] == "ResultNotExist"
    r = requests.get(srv.url + "/anomalydetector/v1.1/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


def test_models_survive_a_restart(tmp_path):
    data = frame().reset_index()
    data["timestamp"] = data["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    data.to_csv(tmp_path / "one.csv", index=False)
    with BackgroundServer(create_app(tmp_path, mv_detector="pca")) as srv:
        with AnomalyDetectorClient(srv.url, AzureKeyCredential("k")) as client:
            model = train(client, "one.csv")
            assert model.model_info.status == "READY"
    with BackgroundServer(create_app(tmp_path, mv_detector="pca")) as srv:
        with AnomalyDetectorClient(srv.url, AzureKeyCredential("k")) as client:
            again = client.get_multivariate_model(model.model_id)
            assert again.model_info.status == "READY" and again.model_info.display_name == "tiny"
            window = frame().iloc[300:351]
            variables = [
                VariableValues(variable=c, timestamps=[iso(t) for t in window.index], values=window[c].tolist())
                for c in window
            ]
            last = client.detect_multivariate_last_anomaly(
                model.model_id, MultivariateLastDetectionOptions(variables=variables, top_contributor_count=1)
            )
            assert last.results[0].value.is_anomaly


@pytest.mark.parametrize(("mode", "rows", "filled"), [("Inner", 3, [0.0, 0.0]), ("Outer", 5, [0.2, 0.2])])
def test_the_best_practice_alignment_example(mv, mode, rows, filled):
    """MVAD best practices (seed 004): variable 1 on 11-01, 02, 04, 05, variable 2 on 11-01..04;
    Inner joins 3 timestamps, Outer 5, each variable then missing one (filled)."""
    srv, client, root, data = mv
    folder = root / f"align-{mode}"
    folder.mkdir()
    pd.DataFrame({"timestamp": ["2020-11-01", "2020-11-02", "2020-11-04", "2020-11-05"], "value": [1, 2, 4, 5]}).to_csv(
        folder / "variable-1.csv", index=False
    )
    pd.DataFrame({"timestamp": ["2020-11-01", "2020-11-02", "2020-11-03", "2020-11-04"], "value": [1, 2, 3, 4]}).to_csv(
        folder / "variable-2.csv", index=False
    )
    info = ModelInfo(
        data_source=str(folder),
        data_schema="MultiTable",
        start_time=pd.Timestamp("2020-11-01T00:00:00Z").to_pydatetime(),
        end_time=pd.Timestamp("2020-11-05T00:00:00Z").to_pydatetime(),
        sliding_window=28,
        align_policy=AlignPolicy(align_mode=mode, fill_n_a_method="Previous"),
    )
    model = client.train_multivariate_model(info)
    done = wait(
        lambda: client.get_multivariate_model(model.model_id),
        lambda m: m.model_info.status != "RUNNING" and m.model_info.status != "CREATED",
    )
    assert done.model_info.status == "READY", done.model_info.errors
    states = done.model_info.diagnostics_info.variable_states
    assert [s.variable for s in states] == ["variable-1", "variable-2"]
    assert [s.filled_n_a_ratio for s in states] == pytest.approx(filled)
    assert [s.effective_count for s in states] == [rows - round(f * rows) for f in filled]


def test_list_pages_follow_next_link(mv):
    srv, client, root, data = mv
    for _ in range(2):
        train(client, "one.csv")
    first = requests.get(srv.url + "/anomalydetector/v1.1/multivariate/models", params={"top": 1}).json()
    assert len(first["models"]) == 1 and first["nextLink"] and first["maxCount"] == 300
    everything = [m.model_id for m in client.list_multivariate_models(top=1)]  # the SDK follows nextLink
    assert len(everything) == len(set(everything)) == first["currentCount"] >= 2


def test_a_failing_training_job_leaves_the_pool_working(mv):
    srv, client, root, data = mv
    bad = data.reset_index()
    bad["timestamp"] = bad["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    bad["b"] = "not a number"
    bad.to_csv(root / "bad.csv", index=False)
    failed = train(client, "bad.csv")
    assert failed.model_info.status == "FAILED"
    assert failed.model_info.errors[0].code == "InvalidInput" and "'b'" in failed.model_info.errors[0].message
    with pytest.raises(HttpResponseError) as info:
        client.detect_multivariate_last_anomaly(
            failed.model_id, MultivariateLastDetectionOptions(variables=[], top_contributor_count=1)
        )
    assert info.value.error.code == "ModelFailed"
    assert train(client, "one.csv").model_info.status == "READY"


def test_openapi_lists_every_route(mv):
    srv, *_ = mv
    paths = requests.get(srv.url + "/openapi.json").json()["paths"]
    mvad = "/anomalydetector/v1.1/multivariate"
    assert set(paths[f"{mvad}/models"]) == {"get", "post"}
    assert set(paths[f"{mvad}/models/{{model_id}}"]) == {"get", "delete"}
    for path in (f"{mvad}/models/{{model_id}}:detect-batch", f"{mvad}/models/{{model_id}}:detect-last"):
        assert set(paths[path]) == {"post"}
    assert f"{mvad}/detect-batch/{{result_id}}" in paths
    for route in ("entire", "last", "changepoint"):
        assert set(paths[f"/anomalydetector/v1.1/timeseries/{route}/detect"]) == {"post"}
    for route in ("/PredictValue", "/PredictRate", "/ImportSample", "/QuerySample", "/Train", "/QueryTrain"):
        assert set(paths[route]) == {"post"}


@pytest.fixture(scope="module")
def http_files(mv, tmp_path_factory):
    """A local HTTP server (http.server on 127.0.0.1) serving the fixture's CSV and zip, and a 403."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    _, _, root, _ = mv
    served = tmp_path_factory.mktemp("served")
    for name in ("one.csv", "multi.zip"):
        (served / name).write_bytes((root / name).read_bytes())

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/secret"):
                self.send_error(403)
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_http_data_sources_are_fetched_into_the_data_dir(mv, http_files, no_proxy):
    srv, client, root, data = mv
    one = train(client, f"{http_files}/one.csv")
    assert one.model_info.status == "READY", one.model_info.errors
    multi = train(client, f"{http_files}/multi.zip", data_schema="MultiTable")
    assert multi.model_info.status == "READY", multi.model_info.errors
    assert sorted(p.suffix for p in (root / "downloads").iterdir()) == [".csv", ".zip"]
    for source, code in (
        (f"{http_files}/missing.csv", "FileNotExist"),
        (f"{http_files}/secret.csv", "StorageReadError"),
    ):
        with pytest.raises(HttpResponseError) as info:
            train(client, source)
        assert info.value.error.code == code


def test_a_download_beyond_the_limit_is_refused(mv, http_files, no_proxy, tmp_path):
    from service.errors import AzureError
    from service.multivariate import download

    with pytest.raises(AzureError) as info:
        download(f"{http_files}/one.csv", tmp_path, limit=100)
    assert info.value.code == "FileSizeTooLarge" and not list(tmp_path.iterdir())
    with pytest.raises(AzureError) as info:
        download("http://127.0.0.1:9/nothing.csv", tmp_path, timeout_s=2)
    assert info.value.code == "ReadingFileError"
