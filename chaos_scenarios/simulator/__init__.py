"""An embedded Online-Boutique: a vectorized discrete-event model that runs the same ChaosMesh
fault suites as the Kubernetes backend and returns SpanFrames (see ``docs/simulator.md``)."""

from chaos_scenarios.simulator.backend import EPOCH, SimBackend
from chaos_scenarios.simulator.faults import FaultSpec, parse_manifest

__all__ = ["EPOCH", "FaultSpec", "SimBackend", "parse_manifest"]
