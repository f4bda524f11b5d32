"""Metis' HTTP API: the request and envelope of its API guide, its validation messages and codes,
the sample library and training by taskId, and a restart that keeps them."""

from __future__ import annotations

import csv
import io
import math
import time

import numpy as np
import pytest
import requests

from detectors.metis import rate_predict, value_predict
from service import create_app
from service.server import BackgroundServer


def text(values):
    return ",".join(f"{v:g}" for v in values)


def body(window=180, last=None, seed=0, level=100.0, **extra):
    """The API guide's request (its example's ids and names), windows of level + noise."""
    rng = np.random.default_rng(seed)
    a = level + rng.normal(0, 1, window + 1)
    if last is not None:
        a[-1] = last
    out = {
        "viewId": "2012",
        "viewName": "登陆功能",
        "attrId": "19201",
        "attrName": "ptlogin登陆请求总量",
        "window": window,
        "time": "2018-10-17 17:28:00",
        "dataC": text(level + rng.normal(0, 1, 2 * window + 1)),
        "dataB": text(level + rng.normal(0, 1, 2 * window + 1)),
        "dataA": text(a),
    }
    out.update(extra)
    return out


def post(server, path, payload=None, **kw):
    r = (
        requests.post(server.url + path, json=payload, **kw)
        if payload is not None
        else requests.post(server.url + path, **kw)
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_predict_value_envelope_matches_the_python_api(server):
    b = body()
    answer = post(server, "/PredictValue", b)
    assert set(answer) == {"code", "msg", "data"} and set(answer["data"]) == {"ret", "p"}
    assert answer["code"] == 0 and answer["msg"] == "操作成功"
    ret, p = value_predict(b["dataA"], b["dataB"], b["dataC"], 180)
    assert answer["data"] == {"ret": ret, "p": f"{p:.6g}"}
    assert isinstance(answer["data"]["p"], str) and 0 <= float(answer["data"]["p"]) <= 1


def test_predict_rate_is_three_sigma_with_a_tail_probability(server):
    b = body(window=60, last=100.0 - 10.0, seed=3, taskId=None)
    b.pop("taskId")
    answer = post(server, "/PredictRate", b)
    assert answer["code"] == 0 and answer["data"]["ret"] == 0
    ret, p = rate_predict(b["dataA"], b["dataB"], b["dataC"], 60)
    assert answer["data"] == {"ret": ret, "p": f"{p:.6g}"}
    values = np.array([float(v) for v in ",".join((b["dataC"], b["dataB"], b["dataA"])).split(",")])
    z = abs(values[-1] - values[:-1].mean()) / values[:-1].std()
    assert float(answer["data"]["p"]) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-5)
    quiet = post(server, "/PredictRate", body(window=60, seed=3))
    assert quiet["data"]["ret"] == 1 and float(quiet["data"]["p"]) > 0.003


def test_any_window_and_decimals(server):
    answer = post(server, "/PredictValue", body(window=12, level=3.25))
    assert answer["code"] == 0
    without = body(window=12)
    without.pop("window")  # taken from len(dataA) - 1
    assert post(server, "/PredictValue", without)["code"] == 0


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda b: b.pop("viewId"), "missing parameter"),
        (lambda b: b.pop("dataB"), "missing parameter"),
        (lambda b: b.update(dataA=""), "dataA can not be empty"),
        (lambda b: b.update(dataC="  "), "dataC can not be empty"),
        (lambda b: b.update(dataB=b["dataB"] + ",x"), "dataB contains illegal numbers"),
        (lambda b: b.update(dataA=b["dataA"] + ",nan"), "dataA contains illegal numbers"),
        (lambda b: b.update(dataC=b["dataC"] + ",1"), "dataC length does not match"),
        (lambda b: b.update(dataB=b["dataB"].rsplit(",", 1)[0]), "dataB length does not match"),
        (lambda b: b.update(dataA=b["dataA"].rsplit(",", 1)[0]), "dataA length does not match"),
        (lambda b: b.update(window=60), "dataC length does not match"),
    ],
)
def test_validation_messages(server, change, detail):
    b = body()
    change(b)
    for path in ("/PredictValue", "/PredictRate"):
        assert post(server, path, b) == {"code": 1002, "msg": "参数检查失败", "data": detail}


def test_not_post_and_bad_json(server):
    r = requests.get(server.url + "/PredictValue")
    assert r.status_code == 200 and r.json() == {"code": 1004, "msg": "非post请求", "data": ""}
    answer = post(server, "/PredictRate", data=b"{oops", headers={"content-type": "application/json"})
    assert answer["code"] == 1002 and answer["data"].startswith("request body is not valid JSON")
    assert post(server, "/PredictValue", ["not", "an", "object"])["code"] == 1002


def sample_csv(n_each=6, window=10, seed=0):
    """Metis' sample template: normal ("positive") windows and ones ending in a spike ("negative")."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    fields = ["viewName", "viewId", "attrName", "attrId", "source", "trainOrTest", "positiveOrNegative"]
    fields += ["window", "dataC", "dataB", "dataA", "dataTime"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for i in range(2 * n_each):
        a = 50 + rng.normal(0, 1, window + 1)
        label = "positive" if i % 2 == 0 else "negative"
        if label == "negative":
            a[-1] += 30
        writer.writerow(
            {
                "viewName": "login",
                "viewId": "2012",
                "attrName": "requests",
                "attrId": "19201",
                "source": "test-set",
                "trainOrTest": "train",
                "positiveOrNegative": label,
                "window": window,
                "dataC": text(50 + rng.normal(0, 1, 2 * window + 1)),
                "dataB": text(50 + rng.normal(0, 1, 2 * window + 1)),
                "dataA": text(a),
                "dataTime": 1539768480 + 60 * i,
            }
        )
    return out.getvalue()


def wait_for(server, task_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = post(server, "/QueryTrain", {"taskId": task_id})["data"]["tasks"]
        if tasks and tasks[0]["status"] != "running":
            return tasks[0]
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} still running")


def test_sample_library_training_and_restart(tmp_path):
    with BackgroundServer(create_app(tmp_path)) as server:
        imported = post(server, "/ImportSample", data=sample_csv().encode(), headers={"content-type": "text/csv"})
        assert imported["code"] == 0
        counts = {k: imported["data"][k] for k in ("positiveCount", "negativeCount", "totalCount")}
        assert counts == {"positiveCount": 6, "negativeCount": 6, "totalCount": 12}
        found = post(server, "/QuerySample", {"positiveOrNegative": "negative"})["data"]
        assert found["count"] == 6 and {s["positiveOrNegative"] for s in found["samples"]} == {"negative"}
        first = found["samples"][0]
        updated = post(server, "/UpdateSample", {"id": first["id"], "source": "relabelled"})["data"]
        assert updated["source"] == "relabelled" and updated["dataA"] == first["dataA"]
        assert post(server, "/CountSample", {"source": "relabelled"})["data"]["totalCount"] == 1
        assert post(server, "/DeleteSample", {"id": first["id"]})["data"] == {"deleted": 1}
        assert post(server, "/CountSample", {})["data"]["totalCount"] == 11
        lacking = post(server, "/Train", {"positiveOrNegative": "positive"})
        assert lacking["code"] == 2004 and lacking["msg"] == "缺少正样本或负样本"
        task_id = post(server, "/Train", {"source": "test-set"})["data"]["taskId"]
        task = wait_for(server, task_id)
        assert task["status"] == "complete", task
        assert (task["positiveCount"], task["negativeCount"]) == (6, 5)
        spike = body(window=10, last=80.0, level=50.0, taskId=task_id)
        trained = post(server, "/PredictValue", spike)
        model = tmp_path / "models" / "metis" / f"{task_id}.ubj"
        ret, p = value_predict(spike["dataA"], spike["dataB"], spike["dataC"], 10, model=model)
        assert trained["data"] == {"ret": ret, "p": f"{p:.6g}"}
        default = post(server, "/PredictValue", dict(spike, taskId=None))
        assert default["code"] == 0
        assert post(server, "/SearchAnomaly", {})["data"]["count"] == (ret == 0) + (default["data"]["ret"] == 0)
    # a restart on the same folder keeps the samples, the task and its model
    with BackgroundServer(create_app(tmp_path)) as server:
        assert post(server, "/CountSample", {})["data"]["totalCount"] == 11
        assert post(server, "/QueryTrain", {"taskId": task_id})["data"]["tasks"][0]["status"] == "complete"
        assert post(server, "/PredictValue", spike)["data"] == trained["data"]
        assert post(server, "/DeleteTrain", {"taskId": task_id})["data"] == {"deleted": 1}
        assert not model.exists()
        gone = post(server, "/PredictValue", spike)
        assert gone["code"] == 1002 and "has no trained model" in gone["data"]


@pytest.mark.parametrize("task_id", ["../../etc/passwd", "1/../../x", "abc", "12 34"])
def test_task_ids_never_reach_a_path(server, task_id):
    answer = post(server, "/PredictValue", body(taskId=task_id))
    assert answer == {"code": 1002, "msg": "参数检查失败", "data": "taskId must be the id of a training task"}


def test_import_errors(server):
    bad = sample_csv(n_each=1).replace(",train,", ",both,")
    answer = post(server, "/ImportSample", data=bad.encode(), headers={"content-type": "text/csv"})
    assert answer["code"] == 1003 and answer["data"] == "sample 1: trainOrTest must be train or test"
    answer = post(server, "/ImportSample", {"samples": [{"viewName": "x"}]})
    assert answer["code"] == 1003 and answer["data"].startswith("sample 1: missing viewId")
