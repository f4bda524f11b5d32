"""FluxEV: fast unsupervised time-series anomaly detection (Li et al., WSDM 2021).

Works on plain arrays and pandas objects. Of this project it imports only :mod:`core` (the
detector protocol, the error root and the time parser).
"""

from core.detector import DetectionResult, DetectorError, PointResult, UnmodelledSeries
from core.preprocessing import RegularSeries, fill_missing, points_per_day, regular_grid
from fluxev.detector import FluxEV
from fluxev.series import detect_frame, detect_series
from fluxev.spot import SPOT

__all__ = [
    "SPOT",
    "DetectionResult",
    "DetectorError",
    "FluxEV",
    "PointResult",
    "RegularSeries",
    "UnmodelledSeries",
    "detect_frame",
    "detect_series",
    "fill_missing",
    "points_per_day",
    "regular_grid",
]
