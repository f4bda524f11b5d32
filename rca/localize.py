"""``rca.localize``: spans or edge series in, ranked root causes out."""
from __future__ import annotations

from typing import Any

import networkx as nx
import pandas as pd

from rca.detection import _to_timestamp, detect_evidence
from rca.errors import RCAError
from rca.ranking import rank
from rca.types import Result

DEFAULT_BUCKET = "30s"
DEFAULT_TRAIN_WINDOW = "10min"


def graph_from_edge_series(edge_series: pd.DataFrame) -> nx.DiGraph:
    """A service graph from the caller/callee pairs of an EdgeSeries (for inputs without spans).

    Edges carry ``calls`` and ``errors`` summed over the series; every node is marked
    ``instrumented`` when it appears as a callee with server-side times.
    """
    if not isinstance(edge_series, pd.DataFrame) or not isinstance(edge_series.index, pd.MultiIndex) \
            or "caller" not in edge_series.index.names or "callee" not in edge_series.index.names:
        raise RCAError("edge_series: expected a DataFrame indexed by (time, caller, callee)")
    g = nx.DiGraph()
    sums = edge_series[[c for c in ("calls", "errors") if c in edge_series]].groupby(
        level=["caller", "callee"], observed=True).sum()
    served = set()
    if "server_mean_ms" in edge_series:
        has = edge_series["server_mean_ms"].notna().groupby(level="callee", observed=True).any()
        served = {str(k) for k, v in has.items() if v}
    for (caller, callee), row in sums.iterrows():
        g.add_edge(str(caller), str(callee), **{k: int(v) for k, v in row.items()})
    for n in g.nodes:
        g.nodes[n]["instrumented"] = n in served or g.out_degree(n) > 0
    return g


def localize(
    spans: pd.DataFrame | None = None,
    edge_series: pd.DataFrame | None = None,
    service_series: pd.DataFrame | None = None,
    graph: nx.DiGraph | None = None,
    inject_time=None,
    end_time=None,
    method: str = "default",
    *,
    bucket: str = DEFAULT_BUCKET,
    train_window: str | pd.Timedelta | None = DEFAULT_TRAIN_WINDOW,
    detector=None,
    detector_params: dict[str, Any] | None = None,
    detect_options: dict[str, Any] | None = None,
    **params,
) -> Result:
    """Localize the root cause of a fault that started at ``inject_time``.

    Give ``spans`` (a SpanFrame; graph and series are built from it with ``bucket``-wide
    buckets aligned on ``inject_time`` (graph's ``origin``), so that no bucket mixes data from
    before and after it), or ready-made ``edge_series`` (plus optionally
    ``service_series`` and ``graph``; without a graph it is built from the edge series'
    caller/callee pairs). The detector is trained on [inject_time - ``train_window``,
    inject_time) (all earlier data when ``train_window`` is None) and scores
    [inject_time, ``end_time``) (all later data when ``end_time`` is None).
    ``detector``/``detector_params``/``detect_options`` go to :func:`rca.detect_evidence`;
    remaining ``params`` go to the ranking ``method``.
    """
    t0 = _to_timestamp(inject_time, "inject_time")
    t1 = None if end_time is None else _to_timestamp(end_time, "end_time")
    start = None if train_window is None else t0 - pd.Timedelta(train_window)
    if spans is None and edge_series is None:
        raise RCAError("localize needs spans or edge_series")
    if spans is not None:
        if len(spans) == 0:
            raise RCAError("spans: empty SpanFrame, nothing to localize")
        import graph as graph_pkg

        width = pd.Timedelta(bucket)
        if start is None:
            first = pd.Timestamp(int(spans["start_us"].min()), unit="us", tz="UTC")
            start = t0 - width * int(-(-(t0 - first) // width))
        table = graph_pkg.calls(spans) if edge_series is None or graph is None else None
        if edge_series is None:
            edge_series = graph_pkg.edge_series(table, bucket=bucket, start=start, end=t1, origin=t0)
        if service_series is None:
            service_series = graph_pkg.service_series(spans, bucket=bucket, start=start, end=t1, origin=t0)
        if graph is None:
            graph = graph_pkg.build_service_graph(spans, call_table=table)
    if graph is None:
        graph = graph_from_edge_series(edge_series)
    evidence = detect_evidence(
        edge_series, service_series, t0, end_time=t1, train_start=start,
        detector=detector, detector_params=detector_params, **(detect_options or {}),
    )
    ranking = rank(graph, evidence, method=method, **params)
    return Result(ranking=ranking, evidence=evidence, graph=graph)
