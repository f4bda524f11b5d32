"""Synthetic EdgeSeries/ServiceSeries with known faults, and a stand-in detector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.detector import DetectionResult, Detector

START = pd.Timestamp("2024-01-01 00:00:00", tz="UTC")
BUCKET = pd.Timedelta("30s")
N_TRAIN, N_TEST = 20, 6
INJECT = START + N_TRAIN * BUCKET


class ZDetector(Detector):
    """Stand-in detector of the protocol: score |x - median| in the series' units (as FluxEV's
    FSE is), threshold 3 x 1.4826 MAD."""

    def fit(self, train):
        train = np.asarray(train, dtype=float)
        self.center_ = float(np.median(train))
        self.spread_ = max(1.4826 * float(np.median(np.abs(train - self.center_))), 1e-9)
        return self

    def detect(self, test):
        score = np.abs(np.asarray(test, dtype=float) - self.center_)
        threshold = np.full(len(score), 3.0 * self.spread_)
        return DetectionResult(score=score, threshold=threshold, alarm=score > threshold)


def build_series(edges, *, calls=None, fault=None, seed=0, services=None):
    """EdgeSeries + ServiceSeries for ``edges`` [(caller, callee)] with a fault after INJECT.

    Each edge: latency (caller waited) = server time of the callee + 1 ms gap; the callee's
    server time = 5 ms own work + what it waits for its callees (sequential calls).
    ``fault``: dict with any of ``slow`` {service: extra ms of own work},
    ``gap`` {(caller, callee): extra ms between them}, ``ratio`` {(caller, callee): factor on calls},
    ``errors`` {service: error rate of its own}; a service's error rate is its own plus those of
    its callees (a failed call fails the request), capped at 1.
    """
    rng = np.random.default_rng(seed)
    fault = fault or {}
    nodes = sorted({n for e in edges for n in e} | set(services or ()))
    children = {n: [x for c, x in edges if c == n] for n in nodes}
    calls = calls or {}
    times = [START + i * BUCKET for i in range(N_TRAIN + N_TEST)]
    edge_rows, service_rows = [], []
    for i, t in enumerate(times):
        after = i >= N_TRAIN
        memo: dict[str, float] = {}

        def server_time(n):
            if n not in memo:
                own = 5.0 * (1 + 0.02 * rng.standard_normal())
                if after:
                    own += fault.get("slow", {}).get(n, 0.0)
                memo[n] = own + sum(waited(n, x) for x in children[n])
            return memo[n]

        def waited(c, x):
            g = 1.0 * (1 + 0.02 * rng.standard_normal())
            if after:
                g += fault.get("gap", {}).get((c, x), 0.0)
            return server_time(x) + g

        err_memo: dict[str, float] = {}

        def error_rate(n):
            if n not in err_memo:
                own = fault.get("errors", {}).get(n, 0.0) if after else 0.0
                err_memo[n] = min(1.0, own + sum(error_rate(x) for x in children[n]))
            return err_memo[n]

        roots = [n for n in nodes if not any(x == n for _, x in edges)]
        incoming = dict.fromkeys(nodes, 0)
        for r in roots:
            incoming[r] = 100
        ordered = list(nx_topological(nodes, edges))
        edge_calls = {}
        for c in ordered:
            for x in children[c]:
                per_request = calls.get((c, x), 1.0)
                if after:
                    per_request *= fault.get("ratio", {}).get((c, x), 1.0)
                n_calls = round(incoming[c] * per_request)
                edge_calls[(c, x)] = n_calls
                incoming[x] += n_calls
        for c, x in edges:
            w = waited(c, x)
            s = server_time(x)
            edge_rows.append(
                {
                    "time": t,
                    "caller": c,
                    "callee": x,
                    "calls": edge_calls[(c, x)],
                    "errors": round(error_rate(x) * edge_calls[(c, x)]),
                    "error_rate": error_rate(x),
                    "latency_mean_ms": w,
                    "latency_p50_ms": w,
                    "latency_p90_ms": w * 1.5,
                    "latency_p99_ms": w * 2,
                    "server_mean_ms": s,
                    "server_p50_ms": s,
                    "server_p90_ms": s * 1.5,
                    "server_p99_ms": s * 2,
                }
            )
        for n in nodes:
            s = server_time(n)
            service_rows.append(
                {
                    "time": t,
                    "service": n,
                    "calls": incoming[n],
                    "errors": round(error_rate(n) * incoming[n]),
                    "error_rate": error_rate(n),
                    "latency_mean_ms": s,
                    "latency_p50_ms": s,
                    "latency_p90_ms": s * 1.5,
                    "latency_p99_ms": s * 2,
                }
            )
    es = pd.DataFrame(edge_rows).set_index(["time", "caller", "callee"])
    ss = pd.DataFrame(service_rows).set_index(["time", "service"])
    es.attrs["bucket"] = BUCKET
    ss.attrs["bucket"] = BUCKET
    return es, ss


def nx_topological(nodes, edges):
    import networkx as nx

    g = nx.DiGraph(edges)
    g.add_nodes_from(nodes)
    return nx.topological_sort(g)


@pytest.fixture
def series():
    return build_series


@pytest.fixture
def zdetector():
    return ZDetector
