"""Root-cause ranking from edge anomalies: EdgeEvidence in, Ranking out (a library; no files, no CLI).

- :func:`detect_evidence` / :class:`DetectionConfig`: a registered detector (FluxEV by default)
  on every edge's and service's series;
- :func:`rank` / :data:`METHODS` / :func:`ranking_method`: rank candidate services from the
  evidence over the graph; :data:`DEFAULT_METHOD` names the default;
- :mod:`rca.multivariate`: each service's series detected jointly (:func:`service_view`,
  :func:`detect_service`) and the ranking method ``"multivariate"`` that uses them;
- :mod:`rca.changes`: change events (:class:`Change`) as a prior (:class:`ChangePrior`,
  :func:`apply_changes`);
- :mod:`rca.pods`: each pod against its siblings (:class:`PodDivergence`, :func:`pod_divergence`);
- :mod:`rca.metrics`: per-pod metrics as a prior (:class:`MetricEvidence`, :func:`metric_evidence`);
- :mod:`rca.operations`: (service, operation) pairs ranked beside the services (:func:`rank_operations`);
- :func:`localize`: spans or edge series in, :class:`Result` (ranking, evidence, graph) out.
"""

from core import __version__
from core.changes import Change
from rca.changes import ChangePrior, apply_changes
from rca.detection import (
    DEFAULT_DETECTOR_PARAMS,
    EDGE_METRICS,
    SERVICE_METRICS,
    SHORT_WINDOW_FLUXEV,
    DetectionConfig,
    detect_evidence,
)
from rca.errors import RCAError
from rca.localize import graph_from_edge_series, localize
from rca.metrics import MetricEvidence, MetricFinding, apply_metrics, attach_services, metric_evidence
from rca.multivariate import ServiceView, detect_service, multivariate_ranking, service_view
from rca.operations import OperationCandidate, OperationRanking, rank_operations
from rca.pods import PodDivergence, PodFinding, apply_pod_divergence, pod_divergence
from rca.ranking import (
    DEFAULT_METHOD,
    METHODS,
    RankingConfig,
    explain_upstream,
    max_score,
    method_parameters,
    pagerank,
    random_ranking,
    rank,
    ranking_method,
)
from rca.types import Candidate, EdgeEvidence, Ranking, Result, explain

__all__ = [
    "DEFAULT_DETECTOR_PARAMS",
    "DEFAULT_METHOD",
    "EDGE_METRICS",
    "METHODS",
    "SERVICE_METRICS",
    "SHORT_WINDOW_FLUXEV",
    "Candidate",
    "Change",
    "ChangePrior",
    "DetectionConfig",
    "EdgeEvidence",
    "MetricEvidence",
    "MetricFinding",
    "OperationCandidate",
    "OperationRanking",
    "PodDivergence",
    "PodFinding",
    "RCAError",
    "Ranking",
    "RankingConfig",
    "Result",
    "ServiceView",
    "__version__",
    "apply_changes",
    "apply_metrics",
    "apply_pod_divergence",
    "attach_services",
    "detect_evidence",
    "detect_service",
    "explain",
    "explain_upstream",
    "graph_from_edge_series",
    "localize",
    "max_score",
    "method_parameters",
    "metric_evidence",
    "multivariate_ranking",
    "pagerank",
    "pod_divergence",
    "random_ranking",
    "rank",
    "rank_operations",
    "ranking_method",
    "service_view",
]
