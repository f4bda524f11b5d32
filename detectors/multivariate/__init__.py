"""Multivariate detectors (a DataFrame in, one column per variable): PCA T^2 + Q, Isolation
Forest, per-variable FluxEV combined, MTAD-GAT and Anomaly Transformer (PyTorch, imported on
first use). The input rules and the MVAD-shaped output are in :mod:`detectors.multivariate.base`."""

from detectors.multivariate.base import (
    ALIGN_MODES,
    FILL_METHODS,
    MultivariateDetector,
    MultivariateResult,
    states_from,
    threshold_from,
)
from detectors.multivariate.pca import PCADetector

__all__ = [
    "ALIGN_MODES",
    "FILL_METHODS",
    "MultivariateDetector",
    "MultivariateResult",
    "PCADetector",
    "states_from",
    "threshold_from",
]
