"""Tencent Metis' HTTP API: ``PredictValue``/``PredictRate`` checks and answers, the sample library
and training (``docs/api_userguide.md``, ``app/service/time_series_detector/*`` of Metis; the
contract is in ``research/seed_systems.md`` section 1.5-1.6).

Envelope ``{"code", "msg", "data"}``; code 0 "操作成功" on success, 1002 "参数检查失败" with Metis'
detail string in ``data`` for a failed check, 1004 "非post请求" for another method, 2004 when a
training set lacks one class. Beyond the original: any window (taken from ``window`` or from
len(dataA) - 1, checked against the three lengths), decimals, ``p`` the model's probability
(:func:`detectors.metis.value_predict`), and a body that is not a JSON object is a 1002, not a 500.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detectors.metis import rate_predict, value_predict
from service.errors import MetisError

OK, THROW_EXP, CHECK_PARAM_FAILED, FILE_FORMAT_ERR, NOT_POST, NOT_GET, TRAIN_ERR, LACK_SAMPLE = (
    0,
    1000,
    1002,
    1003,
    1004,
    1005,
    2003,
    2004,
)
MESSAGES = {
    OK: "操作成功",
    THROW_EXP: "抛出异常",
    1001: "数据库操作失败",
    CHECK_PARAM_FAILED: "参数检查失败",
    FILE_FORMAT_ERR: "文件格式有误",
    NOT_POST: "非post请求",
    NOT_GET: "非get请求",
    TRAIN_ERR: "训练失败",
    LACK_SAMPLE: "缺少正样本或负样本",
}
REQUIRED = ("viewName", "viewId", "attrId", "attrName", "time", "dataC", "dataB", "dataA")


def envelope(code: int, data: Any = "") -> dict:
    """Metis' answer ``{"code", "msg", "data"}``."""
    return {"code": code, "msg": MESSAGES[code], "data": data}


def parse_values(text: Any, name: str) -> np.ndarray:
    """A comma-separated window as floats, with Metis' messages ("dataA can not be empty",
    "dataA contains illegal numbers")."""
    if isinstance(text, list):
        items = text
    elif isinstance(text, str):
        items = [v.strip() for v in text.split(",")] if text.strip() else []
    else:
        raise MetisError(CHECK_PARAM_FAILED, f"{name} contains illegal numbers")
    if not items:
        raise MetisError(CHECK_PARAM_FAILED, f"{name} can not be empty")
    out = np.empty(len(items))
    for i, item in enumerate(items):
        try:
            out[i] = float(item) if not isinstance(item, bool) else math.nan
        except (TypeError, ValueError):
            out[i] = math.nan
    if not np.isfinite(out).all():
        raise MetisError(CHECK_PARAM_FAILED, f"{name} contains illegal numbers")
    return out


def check_windows(body: dict, required: tuple[str, ...] = REQUIRED) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(dataA, dataB, dataC, window) of a checked body, or the Metis error (order of Metis' checks:
    missing, empty A/B/C, illegal A/B/C, lengths C/B/A)."""
    if any(body.get(key) is None for key in required):
        raise MetisError(CHECK_PARAM_FAILED, "missing parameter")
    for key in ("viewName", "viewId", "attrId", "attrName", "time", "taskId"):
        if key in body and body[key] is not None and not isinstance(body[key], (str, int)):
            raise MetisError(CHECK_PARAM_FAILED, f"{key} must be a string")
    for name in ("dataA", "dataB", "dataC"):
        if isinstance(body[name], str) and not body[name].strip():
            raise MetisError(CHECK_PARAM_FAILED, f"{name} can not be empty")
    a, b, c = (parse_values(body[name], name) for name in ("dataA", "dataB", "dataC"))
    window = body.get("window")
    if window is None:
        window = len(a) - 1
    if isinstance(window, str) and window.strip().isdigit():
        window = int(window)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise MetisError(CHECK_PARAM_FAILED, "window must be a positive integer")
    for name, values, size in (("dataC", c, 2 * window + 1), ("dataB", b, 2 * window + 1), ("dataA", a, window + 1)):
        if len(values) != size:
            raise MetisError(CHECK_PARAM_FAILED, f"{name} length does not match")
    return a, b, c, window


def p_text(p: float) -> str:
    """p as Metis writes it (a string), rounded to 6 significant digits."""
    return f"{p:.6g}"


def predict_value(body: dict, model: str = "default") -> dict:
    """``data`` of a successful PredictValue: ``{"ret", "p"}``."""
    a, b, c, window = check_windows(body)
    ret, p = value_predict(a, b, c, window, model=model)
    return {"ret": int(ret), "p": p_text(p)}


def predict_rate(body: dict) -> dict:
    """``data`` of a successful PredictRate: ``{"ret", "p"}``."""
    a, b, c, window = check_windows(body)
    ret, p = rate_predict(a, b, c, window)
    return {"ret": int(ret), "p": p_text(p)}


SAMPLE_FIELDS = (
    "viewName",
    "viewId",
    "attrName",
    "attrId",
    "source",
    "trainOrTest",
    "positiveOrNegative",
    "window",
    "dataC",
    "dataB",
    "dataA",
    "dataTime",
)
"""The columns of Metis' sample template (``uweb/custom/file/SampleTemplate.csv``)."""


def check_sample(sample: Any, where: str) -> dict:
    """One sample of the library, checked: template fields; ``positiveOrNegative`` "positive"
    (normal, Metis' label 1) or "negative" (anomaly, 0); ``trainOrTest`` "train" or "test"."""
    if not isinstance(sample, dict):
        raise MetisError(FILE_FORMAT_ERR, f"{where}: a sample must be an object of the template's fields")
    missing = [k for k in SAMPLE_FIELDS if sample.get(k) in (None, "")]
    if missing:
        raise MetisError(FILE_FORMAT_ERR, f"{where}: missing {', '.join(missing)}")
    if sample["positiveOrNegative"] not in ("positive", "negative"):
        raise MetisError(FILE_FORMAT_ERR, f"{where}: positiveOrNegative must be positive or negative")
    if sample["trainOrTest"] not in ("train", "test"):
        raise MetisError(FILE_FORMAT_ERR, f"{where}: trainOrTest must be train or test")
    try:
        window = int(sample["window"])
        data_time = int(sample["dataTime"])
    except (TypeError, ValueError):
        raise MetisError(FILE_FORMAT_ERR, f"{where}: window and dataTime must be integers") from None
    body: dict[str, Any] = {k: str(sample[k]) for k in SAMPLE_FIELDS}
    body.update(window=window, time=str(data_time))
    try:
        check_windows(body)
    except MetisError as exc:
        raise MetisError(FILE_FORMAT_ERR, f"{where}: {exc.detail}") from None
    out: dict[str, Any] = {k: str(sample[k]) for k in SAMPLE_FIELDS}
    out.update(window=window, dataTime=data_time)
    return out
