"""What a runner backend must offer; the suite runner drives any backend through this.

The Kubernetes backend applies manifests with the ``kubernetes`` client and pulls
spans from Jaeger; the simulator backend interprets the same manifests on a
simulated clock. The runner never knows which one it drives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd


@dataclass
class Injection:
    """What the backend recorded when a fault took effect."""

    injected_at: float
    pods: list[str] = field(default_factory=list)


class Backend(Protocol):
    name: str

    def preflight(self, suite) -> None:
        """Raise ScenarioError with an actionable message if the suite cannot run here."""

    def now(self) -> float:
        """Current time on this backend's clock (Unix seconds)."""

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass (real sleep on a cluster, clock advance in the simulator)."""

    def inject(self, manifest: dict) -> Injection:
        """Create the chaos object and return once it is in effect."""

    def recover(self, manifest: dict) -> float:
        """Remove the chaos object; return the recovery time once the target is healthy again."""

    def collect_spans(self, start: float, end: float) -> pd.DataFrame:
        """Spans that started in [start, end] (Unix seconds), as a SpanFrame."""

    def cleanup(self) -> None:
        """Remove every chaos object this tool created (idempotent; called on error and Ctrl-C)."""
