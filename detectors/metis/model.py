"""Metis' second level: gradient-boosted trees (xgboost) on :func:`extract_features`, predicting
p = P(normal) (Metis' convention: label 1 = normal, 0 = anomaly; p < 0.15 is an anomaly).

The default model ships with the package (``models/default.ubj``, trained on the KPI data set's
training labels by ``python -m detectors.metis.train``); any other model file saved by
:func:`train_model` (or ``xgboost.Booster.save_model``) is loaded by path. xgboost is imported when
a model is first used, so importing the detectors stays fast.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorError
from detectors.metis.features import extract_features, feature_names

DEFAULT_MODEL = "default"
PARAMS: dict[str, Any] = {
    "max_depth": 10,
    "eta": 0.05,
    "gamma": 0.1,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 1.0,
    "booster": "gbtree",
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "tree_method": "hist",
}
"""Metis' ``XGBoosting`` settings (``tree_method`` hist added for speed)."""
ROUNDS = 300


def model_path(model: str | Path) -> Path:
    """The file of ``model``: "default" (the shipped one) or a path."""
    if isinstance(model, str) and model == DEFAULT_MODEL:
        path = Path(str(importlib.resources.files("detectors.metis") / "models" / "default.ubj"))
    else:
        path = Path(model)
    if not path.is_file():
        raise DetectorError(f"model: no model file at {path}")
    return path


@functools.lru_cache(maxsize=8)
def _booster(path: str):
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(path)
    except xgboost.core.XGBoostError as exc:
        raise DetectorError(f"model: {path} is not an xgboost model ({exc})") from exc
    if booster.num_features() != len(feature_names()):
        raise DetectorError(
            f"model: {path} expects {booster.num_features()} features, Metis has {len(feature_names())}"
        )
    return booster


def predict_normal(rows: np.ndarray, model: str | Path = DEFAULT_MODEL) -> np.ndarray:
    """p = P(normal) for each Metis row (5w + 3 values)."""
    import xgboost

    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    if len(rows) == 0:
        return np.empty(0)
    booster = _booster(str(model_path(model)))
    out = np.empty(len(rows))
    for start in range(0, len(rows), 8192):
        block = extract_features(rows[start : start + 8192])
        out[start : start + len(block)] = booster.predict(xgboost.DMatrix(block))
    return out


def train_model(
    features: np.ndarray, normal: np.ndarray, out: str | Path, rounds: int = ROUNDS, seed: int = 0, threads: int = 0
):
    """Train on (features, normal: 1 normal / 0 anomaly) with Metis' settings; save to ``out``."""
    import xgboost

    normal = np.asarray(normal)
    if len(np.unique(normal)) < 2:
        raise DetectorError(
            "train: need both normal (1) and anomalous (0) samples (Metis: 'lack of positive or negative samples')"
        )
    params = dict(PARAMS, seed=seed, nthread=threads)
    booster = xgboost.train(params, xgboost.DMatrix(features, label=normal), num_boost_round=rounds)
    booster.save_model(str(out))
    _booster.cache_clear()
    return booster
