"""``rca.localize``: spans or edge series in, ranked root causes out."""

from __future__ import annotations

import time

import networkx as nx
import pandas as pd

import graph as graph_pkg
from core.detector import Detector
from core.times import bucket_floor, optional_timestamp, to_timestamp
from rca.detection import DetectionConfig, detect_evidence
from rca.errors import RCAError
from rca.ranking import DEFAULT_METHOD, RankingConfig, rank
from rca.types import Result


def graph_from_edge_series(edge_series: pd.DataFrame) -> nx.DiGraph:
    """A service graph from the caller/callee pairs of an EdgeSeries (for inputs without spans).

    Edges carry ``calls`` and ``errors`` summed over the series; every node is marked
    ``instrumented`` when it appears as a callee with server-side times.
    """
    if (
        not isinstance(edge_series, pd.DataFrame)
        or not isinstance(edge_series.index, pd.MultiIndex)
        or "caller" not in edge_series.index.names
        or "callee" not in edge_series.index.names
    ):
        raise RCAError("edge_series: expected a DataFrame indexed by (time, caller, callee)")
    g = nx.DiGraph()
    sums = (
        edge_series[[c for c in ("calls", "errors") if c in edge_series]]
        .groupby(level=["caller", "callee"], observed=True)
        .sum()
    )
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
    inject_time=None,
    end_time=None,
    *,
    edge_series: pd.DataFrame | None = None,
    service_series: pd.DataFrame | None = None,
    graph: nx.DiGraph | None = None,
    detection: DetectionConfig | None = None,
    detector: str | type[Detector] | Detector | None = None,
    method: str | RankingConfig = DEFAULT_METHOD,
) -> Result:
    """Localize the root cause of a fault that started at ``inject_time``.

    Give ``spans`` (a SpanFrame; graph and series are built from it with
    ``detection.bucket``-wide buckets aligned on ``inject_time``, so that no bucket mixes data
    from before and after it), or ready-made ``edge_series`` (plus optionally
    ``service_series`` and ``graph``; without a graph it is built from the edge series'
    caller/callee pairs). The detector is trained on [inject_time - ``detection.train_window``,
    inject_time) (all earlier data when it is None) and scores [inject_time, ``end_time``)
    (all later data when ``end_time`` is None).

    ``detection``: a :class:`rca.DetectionConfig` (default: FluxEV with short-window settings);
    ``detector``: shorthand for ``DetectionConfig(detector=...)`` (a registered name, class or
    instance). ``method``: a ranking method name or a :class:`rca.RankingConfig` with parameters.
    """
    t0 = to_timestamp(inject_time, "inject_time", error=RCAError)
    t1 = optional_timestamp(end_time, "end_time", error=RCAError)
    if detection is not None and detector is not None:
        raise RCAError(
            "localize: give the detector inside detection=DetectionConfig(detector=...), or detector= alone, not both"
        )
    if detection is None:
        detection = DetectionConfig() if detector is None else DetectionConfig(detector=detector)
    elif not isinstance(detection, DetectionConfig):
        raise RCAError(f"detection: expected rca.DetectionConfig, got {type(detection).__name__}")
    ranking_config = method if isinstance(method, RankingConfig) else RankingConfig(method)
    if spans is None and edge_series is None:
        raise RCAError("localize needs spans or edge_series")
    start = None if detection.train_window is None else t0 - detection.train_window
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if spans is not None:
        if len(spans) == 0:
            raise RCAError("spans: empty SpanFrame, nothing to localize")
        if start is None:
            first = pd.Timestamp(int(spans["start_us"].min()), unit="us", tz="UTC")
            start = bucket_floor(first, detection.bucket, origin=t0)
        table = graph_pkg.calls(spans) if edge_series is None or graph is None else None
        if edge_series is None:
            edge_series = graph_pkg.edge_series(table, bucket=detection.bucket, start=start, end=t1, origin=t0)
        if service_series is None:
            service_series = graph_pkg.service_series(spans, bucket=detection.bucket, start=start, end=t1, origin=t0)
        if graph is None:
            graph = graph_pkg.build_service_graph(spans, call_table=table)
    if graph is None:
        graph = graph_from_edge_series(edge_series)
    timings["series"] = time.perf_counter() - started
    started = time.perf_counter()
    evidence = detect_evidence(edge_series, service_series, t0, end_time=t1, train_start=start, config=detection)
    timings["detect"] = time.perf_counter() - started
    started = time.perf_counter()
    ranking = rank(graph, evidence, ranking_config)
    timings["rank"] = time.perf_counter() - started
    return Result(ranking=ranking, evidence=evidence, graph=graph, ranking_config=ranking_config, timings=timings)
