"""FluxEV: fast unsupervised time-series anomaly detection (Li et al., WSDM 2021).

Works on plain arrays and pandas objects; imports nothing else of this project.
"""
from fluxev.detector import DetectionResult, FluxEV
from fluxev.errors import DetectorError
from fluxev.preprocessing import RegularSeries, fill_missing, points_per_day, regular_grid
from fluxev.series import detect_frame, detect_series
from fluxev.spot import SPOT

__all__ = [
    "DetectionResult",
    "DetectorError",
    "FluxEV",
    "RegularSeries",
    "SPOT",
    "detect_frame",
    "detect_series",
    "fill_missing",
    "points_per_day",
    "regular_grid",
]
