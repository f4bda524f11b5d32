"""SpanFrame -> ServiceGraph (networkx DiGraph) and per-edge / per-service time series."""
from graph.errors import GraphError

__all__ = ["GraphError"]
