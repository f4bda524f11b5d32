"""SpanFrame -> ServiceGraph (networkx DiGraph) and per-edge / per-service time series."""

from graph.callees import CalleeResolver
from graph.calls import calls
from graph.errors import GraphError
from graph.pods import PART_SERIES_COLUMNS, operation_series, pod_series
from graph.series import EDGE_SERIES_COLUMNS, SERVICE_SERIES_COLUMNS, edge_series, service_series
from graph.service_graph import build_service_graph

__all__ = [
    "EDGE_SERIES_COLUMNS",
    "PART_SERIES_COLUMNS",
    "SERVICE_SERIES_COLUMNS",
    "CalleeResolver",
    "GraphError",
    "build_service_graph",
    "calls",
    "edge_series",
    "operation_series",
    "pod_series",
    "service_series",
]
