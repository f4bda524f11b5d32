"""Anomaly detectors by name: the registry over the protocol of :mod:`core.detector`.

Registered here (docs/detectors.md has each one's contract): ``"fluxev"`` (:class:`fluxev.FluxEV`),
``"spot"`` and ``"dspot"`` (:mod:`detectors.spot`), ``"sr"`` (:mod:`detectors.sr`), the forecasters
``"sma"``, ``"arima"``, ``"sarima"``, ``"stl-arima"``, ``"xgboost"`` (:mod:`detectors.forecasters`;
xgboost loads on first use), ``"metis"`` and ``"metis-rate"`` (:mod:`detectors.metis`), and
``"auto"``, FreeWheel's model selection (:mod:`detectors.selection`).
The multivariate detectors of :mod:`detectors.multivariate` (a DataFrame in, one column per
variable): ``"pca"`` (T^2 + Q), ``"iforest"``, ``"fluxev-combined"``, and, imported with PyTorch on
first use, ``"mtad-gat"`` and ``"anomaly-transformer"``. Use :func:`make_detector` to build one:

>>> from detectors import make_detector
>>> make_detector("fluxev", s=3, smoothing=1)
FluxEV(s=3, smoothing=1)
"""

from core import series as _series
from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from detectors.forecasters.arima import ARIMA, SARIMA
from detectors.forecasters.sma import SMA
from detectors.forecasters.stl import STLARIMA
from detectors.metis.detector import MetisDetector, MetisRateDetector
from detectors.multivariate.fluxev_combined import FluxEVCombined
from detectors.multivariate.iforest import IsolationForestDetector
from detectors.multivariate.pca import PCADetector
from detectors.registry import (
    DETECTORS,
    LAZY,
    available,
    detector_class,
    make_detector,
    name_of,
    register,
    register_lazy,
)
from detectors.selection import AutoSelect
from detectors.spot import DSPOTDetector, SPOTDetector
from detectors.sr import SpectralResidual
from fluxev import FluxEV

register("fluxev")(FluxEV)
register("pca")(PCADetector)
register("iforest")(IsolationForestDetector)
register("fluxev-combined")(FluxEVCombined)
register_lazy("mtad-gat", "detectors.multivariate.mtad_gat:MTADGAT")
register_lazy("anomaly-transformer", "detectors.multivariate.anomaly_transformer:AnomalyTransformer")
register("spot")(SPOTDetector)
register("dspot")(DSPOTDetector)
register("sr")(SpectralResidual)
register("sma")(SMA)
register("arima")(ARIMA)
register("sarima")(SARIMA)
register("stl-arima")(STLARIMA)
register_lazy("xgboost", "detectors.forecasters.xgb:XGBoostForecaster")
register("metis")(MetisDetector)
register("metis-rate")(MetisRateDetector)
register("auto")(AutoSelect)


def detect_series(series, detector="fluxev", train_len=None, train_until=None, fill: bool = False, **params):
    """A registered detector (name, class or instance; ``params`` its parameters) on one pandas
    series; see :func:`core.series.detect_series`."""
    return _series.detect_series(series, make_detector(detector, **params), train_len, train_until, fill=fill)


def detect_frame(
    frame, detector="fluxev", train_len=None, train_until=None, errors: str = "skip", fill: bool = False, **params
):
    """A registered detector on every column of a DataFrame; see :func:`core.series.detect_frame`."""
    return _series.detect_frame(
        frame, make_detector(detector, **params), train_len, train_until, errors=errors, fill=fill
    )


__all__ = [
    "DETECTORS",
    "LAZY",
    "DetectionResult",
    "Detector",
    "DetectorError",
    "FluxEV",
    "FluxEVCombined",
    "IsolationForestDetector",
    "PCADetector",
    "PointResult",
    "UnmodelledSeries",
    "available",
    "detect_frame",
    "detect_series",
    "detector_class",
    "make_detector",
    "name_of",
    "register",
    "register_lazy",
]
