"""The detection service (``rca serve``): Azure Anomaly Detector (univariate v1.1) and Tencent
Metis compatible HTTP APIs on the framework's detectors, with a SQLite store (docs/service.md)."""

from service.errors import AzureError, MetisError, ServiceError

__all__ = ["AzureError", "MetisError", "ServiceError", "create_app"]


def create_app(*args, **kwargs):
    """:func:`service.app.create_app` (FastAPI is imported on first use)."""
    from service.app import create_app as make

    return make(*args, **kwargs)
