"""Properties of simulated traces that must hold under any fault, any seed (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos_scenarios.simulator import SimBackend

SERVICES = [
    "frontend",
    "cartservice",
    "productcatalogservice",
    "currencyservice",
    "paymentservice",
    "shippingservice",
    "emailservice",
    "checkoutservice",
    "recommendationservice",
    "adservice",
    "redis-cart",
]
SPECS = [
    {"kind": "PodChaos", "spec": {"action": "pod-kill"}},
    {"kind": "PodChaos", "spec": {"action": "pod-failure"}},
    {"kind": "PodChaos", "spec": {"action": "container-kill", "containerNames": ["server"]}},
    {"kind": "NetworkChaos", "spec": {"action": "delay", "delay": {"latency": "300ms", "jitter": "50ms"}}},
    {"kind": "NetworkChaos", "spec": {"action": "loss", "loss": {"loss": "40"}}},
    {"kind": "NetworkChaos", "spec": {"action": "partition", "direction": "both"}},
    {"kind": "StressChaos", "spec": {"stressors": {"cpu": {"workers": 4, "load": 100}}}},
    {"kind": "StressChaos", "spec": {"stressors": {"memory": {"workers": 1, "size": "1GB"}}}},
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), fault=st.sampled_from(SPECS), service=st.sampled_from(SERVICES))
def test_trace_structure_holds_under_any_fault(seed, fault, service):
    b = SimBackend(seed=seed, users=40)
    m = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": fault["kind"],
        "metadata": {"name": "p"},
        "spec": {"mode": "all", "selector": {"labelSelectors": {"app": service}}, **fault["spec"]},
    }
    inj = b.inject(m)
    b.wait(8)
    spans = b.collect_spans(inj.injected_at, inj.injected_at + 8)
    assert (spans["duration_us"] >= 0).all()
    indexed = spans.set_index(["trace_id", "span_id"])
    child = spans[spans["parent_id"].notna()]
    parent = indexed.loc[list(zip(child["trace_id"], child["parent_id"]))]
    p_start, p_end = parent["start_us"].to_numpy(), (parent["start_us"] + parent["duration_us"]).to_numpy()
    c_start, c_end = child["start_us"].to_numpy(), (child["start_us"] + child["duration_us"]).to_numpy()
    assert (c_start >= p_start).all()
    # a client span holds its callers' later work; only a server span may outlive its timed-out client
    outlives = c_end > p_end + 1
    assert (child["kind"].to_numpy()[outlives] == "server").all()
    assert (parent["status"].to_numpy()[outlives] == "error").all()
    assert (parent["grpc_status"].to_numpy()[outlives] == 4).all()
    errors = spans[spans["status"] == "error"]
    grpc = errors["grpc_status"].dropna().astype(int)
    assert set(grpc) <= {4, 13, 14}
    assert np.isin(errors.loc[errors["http_status"].notna(), "http_status"], [500]).all()
