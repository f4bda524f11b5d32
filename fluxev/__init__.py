"""FluxEV: fast unsupervised time-series anomaly detection (Li et al., WSDM 2021).

Works on plain arrays and pandas objects; imports nothing else of this project.
"""
from fluxev.errors import DetectorError

__all__ = ["DetectorError"]
