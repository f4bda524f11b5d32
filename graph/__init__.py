"""SpanFrame -> ServiceGraph (networkx DiGraph) and per-edge / per-service time series."""

from graph.callees import CalleeResolver
from graph.calls import calls
from graph.errors import GraphError
from graph.series import EDGE_SERIES_COLUMNS, SERVICE_SERIES_COLUMNS, edge_series, service_series
from graph.service_graph import build_service_graph

__all__ = [
    "EDGE_SERIES_COLUMNS",
    "SERVICE_SERIES_COLUMNS",
    "CalleeResolver",
    "GraphError",
    "build_service_graph",
    "calls",
    "edge_series",
    "service_series",
]
