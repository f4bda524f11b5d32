"""SpanFrame -> ServiceGraph: a networkx DiGraph of services, edges caller -> callee."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np
import pandas as pd

from graph.calls import calls as build_calls
from graph.calls import is_calls_table
from graph.series import SERVER_KINDS, group_quantiles


def _summary(values_us: np.ndarray, prefix: str) -> dict[str, float]:
    values = values_us[~np.isnan(values_us)]
    if not len(values):
        return {
            f"{prefix}_mean_ms": float("nan"),
            f"{prefix}_p50_ms": float("nan"),
            f"{prefix}_p90_ms": float("nan"),
            f"{prefix}_p99_ms": float("nan"),
        }
    q = np.quantile(values, [0.5, 0.9, 0.99]) / 1000.0
    return {
        f"{prefix}_mean_ms": float(values.mean() / 1000.0),
        f"{prefix}_p50_ms": float(q[0]),
        f"{prefix}_p90_ms": float(q[1]),
        f"{prefix}_p99_ms": float(q[2]),
    }


def build_service_graph(
    spans: pd.DataFrame, callee_map: Mapping[str, str] | None = None, call_table: pd.DataFrame | None = None
) -> nx.DiGraph:
    """The service dependency graph of a SpanFrame.

    Edge attributes: ``calls``, ``errors``, ``latency_{mean,p50,p90,p99}_ms`` (what the caller
    waited), ``server_{mean,p50,p90,p99}_ms`` (what the callee spent; NaN when it emits no
    span), ``callee_from`` (how the callee was found: span / attribute / operation).
    Node attributes: ``instrumented`` (emits server spans), ``calls``, ``errors`` and
    ``latency_*_ms`` of its own server spans. Graph attributes (``G.graph``): ``roots``,
    ``orphans``, ``trees``, ``unplaced``, ``extra_children``, ``spans`` (see :func:`graph.calls`).
    ``call_table`` may pass a table already built by :func:`graph.calls`.
    """
    table = (
        call_table if call_table is not None else (spans if is_calls_table(spans) else build_calls(spans, callee_map))
    )
    graph = nx.DiGraph()
    graph.graph.update(table.attrs)
    if not is_calls_table(spans):
        server = spans["kind"].isin(SERVER_KINDS).to_numpy()
        for service in spans["service"].cat.categories:
            graph.add_node(str(service), instrumented=False, calls=0, errors=0, **_summary(np.zeros(0), "latency"))
        if server.any():
            sub = spans.loc[server, ["service", "duration_us", "status"]]
            for service, group in sub.groupby("service", observed=True):
                graph.add_node(
                    str(service),
                    instrumented=True,
                    calls=len(group),
                    errors=int((group["status"] == "error").sum()),
                    **_summary(group["duration_us"].to_numpy(np.float64), "latency"),
                )
    if not len(table):
        return graph
    edges = table.groupby(["caller", "callee"], observed=True, sort=True)
    codes = edges.ngroup().to_numpy()
    n = int(codes.max()) + 1
    latency = group_quantiles(codes, table["latency_us"].to_numpy(np.float64), n) / 1000.0
    server_ok = ~np.isnan(table["server_us"].to_numpy())
    server = group_quantiles(codes[server_ok], table["server_us"].to_numpy()[server_ok], n) / 1000.0
    agg = edges.agg(
        calls=("latency_us", "size"),
        errors=("error", "sum"),
        latency_mean=("latency_us", "mean"),
        server_mean=("server_us", "mean"),
        callee_from=("callee_from", lambda s: s.value_counts().idxmax()),
    )
    for i, ((caller, callee), row) in enumerate(agg.iterrows()):
        for node in (str(caller), str(callee)):
            if node not in graph:
                graph.add_node(node, instrumented=False, calls=0, errors=0, **_summary(np.zeros(0), "latency"))
        graph.add_edge(
            str(caller),
            str(callee),
            calls=int(row["calls"]),
            errors=int(row["errors"]),
            latency_mean_ms=float(row["latency_mean"]) / 1000.0,
            latency_p50_ms=float(latency[i, 0]),
            latency_p90_ms=float(latency[i, 1]),
            latency_p99_ms=float(latency[i, 2]),
            server_mean_ms=float(row["server_mean"]) / 1000.0,
            server_p50_ms=float(server[i, 0]),
            server_p90_ms=float(server[i, 1]),
            server_p99_ms=float(server[i, 2]),
            callee_from=str(row["callee_from"]),
        )
    return graph
