"""Fault suites -> ChaosMesh manifests; runners (Kubernetes, embedded simulator) that write case folders."""

from chaos_scenarios.errors import ScenarioError

__all__ = ["ScenarioError"]
