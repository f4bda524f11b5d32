"""End-to-end collector path: simulated traces served by the Jaeger Query API *test double*
(tests/doubles/jaeger_double.py, not a Jaeger server) and read back with collectors.JaegerClient."""

from __future__ import annotations

import pandas as pd
import pytest

from chaos_scenarios.simulator import SimBackend

collectors = pytest.importorskip("collectors")
JaegerDouble = pytest.importorskip("jaeger_double").JaegerDouble


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_simulated_traces_round_trip_through_the_jaeger_api_double(api):
    backend = SimBackend(seed=21)
    start = backend.now()
    m = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodChaos",
        "metadata": {"name": "pf"},
        "spec": {"action": "pod-failure", "mode": "all", "selector": {"labelSelectors": {"app": "currencyservice"}}},
    }
    backend.wait(2)
    backend.inject(m)
    backend.wait(2)
    backend.recover(m)
    sent = backend.collect_spans(start, start + 3)
    traces = backend.jaeger_traces(start, start + 3)
    assert len(traces) == sent["trace_id"].nunique()
    with JaegerDouble(traces, api=api) as jaeger:
        got = collectors.JaegerClient(jaeger.url).collect(start - 1, start + 60)
    key = ["trace_id", "span_id"]
    a = sent.sort_values(key).reset_index(drop=True)
    b = got.sort_values(key).reset_index(drop=True)
    assert len(b) == len(a)
    for column in ("trace_id", "span_id", "parent_id", "start_us", "duration_us"):
        assert (a[column].astype(object).fillna("-") == b[column].astype(object).fillna("-")).all(), column
    for column in ("service", "operation", "kind", "status", "pod"):
        assert (a[column].astype(str) == b[column].astype(str)).all(), column
    assert (a["status"] == "error").any()
    assert pd.Series(b["grpc_status"]).eq(14).sum() == pd.Series(a["grpc_status"]).eq(14).sum()
