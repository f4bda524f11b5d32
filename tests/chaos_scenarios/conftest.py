import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from k8s_double import FakeKubernetes

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO.parent / "shared" / "chaos-mesh-crds"


class FakeClock:
    """Simulated time for the backend: ``sleep`` advances it instantly; ``on_sleep`` may raise."""

    def __init__(self, start: float = 1_790_000_000.0):
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep = None

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.t += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake_k8s(clock):
    """The Kubernetes API TEST DOUBLE (see k8s_double.py), serving on 127.0.0.1."""
    double = FakeKubernetes(clock=clock)
    double.url = double.start()
    yield double
    double.stop()


@pytest.fixture
def api_client(fake_k8s):
    from kubernetes import client

    configuration = client.Configuration(host=fake_k8s.url)
    configuration.retries = 0
    api = client.ApiClient(configuration)
    yield api
    api.close()
