"""Root-cause ranking from edge anomalies: EdgeEvidence in, Ranking out."""
from rca.errors import RCAError

__all__ = ["RCAError"]
