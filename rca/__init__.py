"""Root-cause ranking from edge anomalies: EdgeEvidence in, Ranking out.

- :func:`detect_evidence`: a detector (FluxEV by default) on every edge's and service's series;
- :func:`rank` / :data:`METHODS`: rank candidate services from the evidence over the graph;
- :func:`localize`: spans or edge series in, :class:`Result` (ranking, evidence, graph) out.
"""
from rca.detection import EDGE_METRICS, SERVICE_METRICS, SHORT_WINDOW_FLUXEV, detect_evidence
from rca.errors import RCAError
from rca.localize import graph_from_edge_series, localize
from rca.ranking import DEFAULT_METHOD, METHODS, explain_upstream, max_score, pagerank, random_ranking, rank
from rca.types import Candidate, EdgeEvidence, Ranking, Result

__all__ = [
    "Candidate", "DEFAULT_METHOD", "EDGE_METRICS", "EdgeEvidence", "METHODS", "RCAError", "Ranking", "Result",
    "SERVICE_METRICS", "SHORT_WINDOW_FLUXEV", "detect_evidence", "explain_upstream",
    "graph_from_edge_series", "localize", "max_score", "pagerank", "random_ranking", "rank",
]
