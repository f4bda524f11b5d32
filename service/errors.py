"""The service's error family: :class:`ServiceError` under :class:`core.FrameworkError`.

:class:`AzureError` carries Azure Anomaly Detector's error body (``{"code", "message"}``, the
``x-ms-error-code`` header and an HTTP status; codes from the v1.1 REST specification,
docs/service.md); :class:`MetisError` carries a Metis return code (``app/common/errorcode.py``) and
the detail string Metis puts in ``data``.
"""

from __future__ import annotations

from core.errors import FrameworkError


class ServiceError(FrameworkError):
    """A request or a stored object of the detection service is not usable."""


class AzureError(ServiceError):
    """An error answered in Azure's format: ``code`` (e.g. ``InvalidSeries``), ``message``, ``status``."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class MetisError(ServiceError):
    """An error answered in Metis' envelope: ``code`` (1002 ...), ``detail`` (the ``data`` string)."""

    def __init__(self, code: int, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
