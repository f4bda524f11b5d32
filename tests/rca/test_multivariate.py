"""The per-service multivariate view and the "multivariate" ranking method on faults with a known cause."""

from __future__ import annotations

import numpy as np
import pytest
from tests_rca_helpers import INJECT, build_series

import rca
from rca.detection import robust_shift
from rca.multivariate import callee_shares, service_variables

EDGES = [("frontend", "cart"), ("frontend", "catalog"), ("cart", "redis"), ("catalog", "db")]


def _evidence(fault, keep_scores=True):
    es, ss = build_series(EDGES, fault=fault)
    config = rca.DetectionConfig(keep_scores=keep_scores)
    return rca.localize(edge_series=es, service_series=ss, inject_time=INJECT, detection=config)


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ({"slow": {"redis": 20.0}}, "redis"),
        ({"slow": {"catalog": 20.0}}, "catalog"),
        ({"errors": {"db": 0.3}}, "db"),
        ({"ratio": {("cart", "redis"): 3.0}}, "cart"),
    ],
)
def test_the_cause_ranks_first(fault, cause):
    result = _evidence(fault)
    ranking = rca.rank(result.graph, result.evidence, "multivariate")
    assert ranking.method == "multivariate"
    assert ranking[0].service == cause
    assert "moved most:" in ranking[0].why and "own share" in ranking[0].why


def test_a_victim_keeps_little_of_its_joint_anomaly():
    result = _evidence({"slow": {"redis": 20.0}})
    cart = rca.detect_service(rca.service_view(result.evidence, "cart"))
    redis = rca.detect_service(rca.service_view(result.evidence, "redis"))
    # cart waited for redis: its joint anomaly is mostly what it waited for, not its own
    assert cart.joint > 0 and cart.own_share < 0.7 < redis.own_share
    assert cart.contributions.sum() == pytest.approx(1.0)


def test_caller_side_times_go_to_the_end_whose_other_edges_moved_too():
    # a starved caller: the gap grows on both of frontend's calls
    result = _evidence({"gap": {("frontend", "cart"): 15.0, ("frontend", "catalog"): 15.0}})
    shares = callee_shares(result.evidence)
    # cart has no other caller (unknown: 1/2); frontend's other call moved fully (1): 0.5 / 1.5
    assert shares[("frontend", "cart")] == pytest.approx(1 / 3)
    assert shares[("cart", "redis")] == pytest.approx(0.5)


def test_the_view_names_and_owns_the_variables():
    evidence = _evidence(None).evidence
    owned = dict(service_variables(evidence)["cart"])
    assert owned[("edge", "frontend", "cart", "server_mean_ms")] == 1.0
    assert owned[("edge", "frontend", "cart", "call_ratio")] == 0.0
    assert owned[("edge", "cart", "redis", "call_ratio")] == 1.0
    assert owned[("service", "cart", None, "latency_mean_ms")] == 1.0
    # nothing moved and neither end has another edge: the caller-side time is split evenly
    assert owned[("edge", "cart", "redis", "latency_mean_ms")] == 0.5
    view = rca.service_view(evidence, "cart")
    name = "frontend->cart server_mean_ms"
    assert view.own[name] == 1.0
    raw = evidence.series[("edge", "frontend", "cart", "server_mean_ms")]
    train = raw[raw.index < INJECT].to_numpy()
    _, noise, baseline = robust_shift(train, train[-1:], 0.05, 0.0, 5)
    assert np.allclose(view.train[name].to_numpy(), (train - baseline) / noise)
    assert len(view.test) == len(raw) - len(train)


def test_errors_name_what_is_missing():
    result = _evidence(None, keep_scores=False)
    with pytest.raises(rca.RCAError, match="keep_scores=True"):
        rca.rank(result.graph, result.evidence, "multivariate")
    with pytest.raises(rca.RCAError, match="'pca' is multivariate"):
        rca.DetectionConfig(detector="pca")
