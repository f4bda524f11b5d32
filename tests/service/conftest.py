"""A running service per test module (uvicorn on a free localhost port) and the official Azure SDK
client pointed at it."""

from __future__ import annotations

import pytest

from service import create_app
from service.server import BackgroundServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with BackgroundServer(create_app(tmp_path_factory.mktemp("data"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    from azure.ai.anomalydetector import AnomalyDetectorClient
    from azure.core.credentials import AzureKeyCredential

    with AnomalyDetectorClient(server.url, AzureKeyCredential("unused")) as c:
        yield c
