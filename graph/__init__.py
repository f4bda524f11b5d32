"""SpanFrame -> ServiceGraph (networkx DiGraph) and per-edge / per-service time series."""

from graph.callees import CalleeResolver
from graph.calls import calls
from graph.errors import GraphError
from graph.series import edge_series, service_series
from graph.service_graph import build_service_graph

__all__ = ["CalleeResolver", "GraphError", "build_service_graph", "calls", "edge_series", "service_series"]
