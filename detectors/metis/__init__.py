"""Tencent Metis' time-series detector: a first level of three statistical rules, a second level
of gradient-boosted trees on 307 features, Metis' Python API and two streaming detectors."""

from detectors.metis.api import rate_predict, value_predict
from detectors.metis.detector import MetisDetector, MetisRateDetector
from detectors.metis.features import extract_features, feature_names
from detectors.metis.first_level import ewma_chart, first_level, polynomial_fit, three_sigma
from detectors.metis.model import predict_normal, train_model
from detectors.metis.windows import metis_series, rows_from_series

__all__ = [
    "MetisDetector",
    "MetisRateDetector",
    "ewma_chart",
    "extract_features",
    "feature_names",
    "first_level",
    "metis_series",
    "polynomial_fit",
    "predict_normal",
    "rate_predict",
    "rows_from_series",
    "three_sigma",
    "train_model",
    "value_predict",
]
