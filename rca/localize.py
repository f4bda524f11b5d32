"""``rca.localize``: spans or edge series in, ranked root causes out."""

from __future__ import annotations

import time
from collections.abc import Iterable

import networkx as nx
import numpy as np
import pandas as pd

import graph as graph_pkg
from collectors.spanframe import SPAN_COLUMNS
from core.changes import Change, as_changes
from core.detector import Detector
from core.times import bucket_floor, format_duration, format_time, optional_timestamp, to_timestamp
from rca.changes import ChangePrior, apply_changes, in_window
from rca.detection import DetectionConfig, detect_evidence
from rca.errors import RCAError
from rca.metrics import MetricEvidence, MetricFinding, apply_metrics, metric_evidence
from rca.operations import rank_operations
from rca.pods import PodDivergence, PodFinding, apply_pod_divergence, pod_divergence
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


def check_spans(spans) -> None:
    """RCAError unless ``spans`` is a SpanFrame as :func:`collectors.make_spanframe` makes it."""
    if not isinstance(spans, pd.DataFrame):
        raise RCAError(f"spans: expected a SpanFrame (pandas DataFrame), got {type(spans).__name__}")
    missing = [c for c in SPAN_COLUMNS if c not in spans.columns]
    if missing:
        raise RCAError(f"spans: missing column(s) {missing}; build the frame with collectors.make_spanframe")
    if not len(spans):
        raise RCAError("spans: empty SpanFrame, nothing to localize")
    for column in ("start_us", "duration_us"):
        if spans[column].dtype != np.int64:
            raise RCAError(
                f"spans: column {column!r} must be int64 microseconds, got {spans[column].dtype}; "
                "build the frame with collectors.make_spanframe"
            )
    for column in ("trace_id", "span_id", "service"):
        missing_values = spans[column].isna().to_numpy()
        if missing_values.any():
            row = int(np.flatnonzero(missing_values)[0])
            raise RCAError(
                f"spans: column {column!r} has {int(missing_values.sum())} missing value(s), first at row {row}; "
                "collectors.make_spanframe drops and counts such spans"
            )


def check_windows(times_us: np.ndarray, t0: pd.Timestamp, t1: pd.Timestamp | None, start, what: str) -> None:
    """RCAError when the data holds nothing to train on before ``t0`` or nothing to score after it
    (an injection time in another time zone, or a case whose data was lost)."""
    lo = None if start is None else start.value // 1000
    mid, hi = t0.value // 1000, None if t1 is None else t1.value // 1000
    train = (times_us < mid) if lo is None else ((times_us >= lo) & (times_us < mid))
    test = (times_us >= mid) if hi is None else ((times_us >= mid) & (times_us < hi))
    if train.any() and test.any():
        return
    first, last = format_time(int(times_us.min()) / 1e6), format_time(int(times_us.max()) / 1e6)
    window = f"[{format_time(lo / 1e6)}, {format_time(t0)})" if lo is not None else f"before {format_time(t0)}"
    scored = f"[{format_time(t0)}, {format_time(t1)})" if t1 is not None else f"from {format_time(t0)} on"
    problem = f"no training data in {window}" if not train.any() else f"no data to score {scored}"
    raise RCAError(
        f"inject_time {format_time(t0)}: {problem}; the {what} cover {first} to {last} "
        "(is the injection time in another time zone or unit?)"
    )


MAX_BUCKETS = 100_000
"""Most buckets a series may have (a 1 ns bucket over minutes, or an end time years away, would
exhaust memory)."""


def check_buckets(start: pd.Timestamp, end: pd.Timestamp, bucket: pd.Timedelta) -> None:
    n = (end - start) / bucket
    if n > MAX_BUCKETS:
        raise RCAError(
            f"bucket {bucket} over [{format_time(start)}, {format_time(end)}) makes {n:.3g} "
            f"buckets; at most {MAX_BUCKETS:,}: use a wider bucket or a shorter window"
        )


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
    changes: Iterable[Change] | None = None,
    change_prior: ChangePrior | None = None,
    pods: PodDivergence | None = None,
    pod_series: pd.DataFrame | None = None,
    operations: bool = False,
    metrics: MetricEvidence | None = None,
    metric_series: pd.DataFrame | None = None,
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

    ``changes``: change events (:class:`rca.Change` or mappings with ``service`` and ``time``);
    those in the look-back window of ``change_prior`` (:class:`rca.ChangePrior`, default 30
    minutes before ``inject_time``) raise the prior of their service (:mod:`rca.changes`). Without
    ``changes`` the ranking is the method's own.

    ``pods``: a :class:`rca.PodDivergence` to compare each pod with its siblings in the scored
    window (:mod:`rca.pods`) on ``pod_series`` (default: built from ``spans``); a service whose
    pods diverge gains score. Without ``pods`` no pod comparison is made. Pod divergence is
    applied before the change prior.

    ``metrics``: a :class:`rca.MetricEvidence` to use per-pod metrics (``metric_series``, indexed
    by ``(time, service, pod)``; :func:`rca.attach_services` on
    :func:`collectors.metrics.read_pod_metrics`) as a prior on the score of each service whose
    pods' metrics moved after the onset (:mod:`rca.metrics`). Without ``metrics`` the ranking is
    trace-only. Applied after pod divergence, before the change prior.

    ``operations=True`` also ranks (service, operation) pairs from the spans' per-operation series
    (:func:`rca.rank_operations`) into ``Result.operations``; it needs ``spans``.
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
    change_list = None if changes is None else as_changes(changes, RCAError)
    if change_prior is not None and not isinstance(change_prior, ChangePrior):
        raise RCAError(f"change_prior: expected rca.ChangePrior, got {type(change_prior).__name__}")
    prior = change_prior or ChangePrior()
    if pods is not None and not isinstance(pods, PodDivergence):
        raise RCAError(f"pods: expected rca.PodDivergence, got {type(pods).__name__}")
    if operations and spans is None:
        raise RCAError("operations: operation-level ranking needs spans (their operation column)")
    if pods is not None and pod_series is None and spans is None:
        raise RCAError("pods: pod divergence needs spans (with their pod column) or pod_series")
    if metrics is not None and not isinstance(metrics, MetricEvidence):
        raise RCAError(f"metrics: expected rca.MetricEvidence, got {type(metrics).__name__}")
    if metrics is not None and metric_series is None:
        raise RCAError("metrics: metric evidence needs metric_series (time, service, pod) with the pods' metrics")
    if spans is None and edge_series is None:
        raise RCAError("localize needs spans or edge_series")
    if t1 is not None and t1 <= t0:
        raise RCAError(f"end_time {format_time(t1)} must be after inject_time {format_time(t0)}")
    start = None if detection.train_window is None else t0 - detection.train_window
    if spans is not None:
        check_spans(spans)
        times_us = spans["start_us"].to_numpy()
    else:
        if not isinstance(edge_series, pd.DataFrame) or "time" not in (edge_series.index.names or []):
            raise RCAError("edge_series: expected a DataFrame indexed by (time, caller, callee)")
        times = edge_series.index.get_level_values("time")
        reporting = times[edge_series["calls"].to_numpy() > 0] if "calls" in edge_series else times
        times_us = pd.DatetimeIndex(reporting).as_unit("us").asi8
    check_windows(times_us, t0, t1, start, "spans" if spans is not None else "edge_series")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if spans is not None:
        if start is None:
            first = pd.Timestamp(int(spans["start_us"].min()), unit="us", tz="UTC")
            start = bucket_floor(first, detection.bucket, origin=t0)
        t1_series = t1
        last = pd.Timestamp(int(times_us.max()), unit="us", tz="UTC") + detection.bucket
        if t1_series is not None and t1_series > last:
            t1_series = last  # buckets after the last span hold nothing (and are dropped as collection gaps)
        check_buckets(start, t1_series if t1_series is not None else last, detection.bucket)
        table = graph_pkg.calls(spans) if edge_series is None or graph is None else None
        if edge_series is None:
            edge_series = graph_pkg.edge_series(table, bucket=detection.bucket, start=start, end=t1_series, origin=t0)
        if service_series is None:
            service_series = graph_pkg.service_series(
                spans, bucket=detection.bucket, start=start, end=t1_series, origin=t0
            )
        if graph is None:
            graph = graph_pkg.build_service_graph(spans, call_table=table)
    if graph is None:
        graph = graph_from_edge_series(edge_series)
    timings["series"] = time.perf_counter() - started
    started = time.perf_counter()
    evidence = detect_evidence(edge_series, service_series, t0, end_time=t1, train_start=start, config=detection)
    timings["detect"] = time.perf_counter() - started
    if evidence.table.empty:
        reasons = evidence.unmodelled["reason"].str.split(":").str[0].value_counts()
        why = ", ".join(f"{n} {r}" for r, n in reasons.items()) or "no series at all"
        window = "all" if detection.train_window is None else format_duration(detection.train_window)
        raise RCAError(
            f"no series could be modelled ({why}; min_train={detection.min_train}, bucket "
            f"{format_duration(detection.bucket)}, train_window {window}): nothing to rank on"
        )
    started = time.perf_counter()
    ranking = rank(graph, evidence, ranking_config)
    findings: list[PodFinding] = []
    if pods is not None:
        if pod_series is None:
            pod_series = graph_pkg.pod_series(spans, bucket=detection.bucket, start=start, end=t1, origin=t0)
        findings = pod_divergence(pod_series, t0, t1, pods)
        ranking = apply_pod_divergence(ranking, findings, pods, change_list or ())
    metric_findings: list[MetricFinding] = []
    if metrics is not None:
        metric_findings = metric_evidence(metric_series, t0, t1, metrics)
        ranking = apply_metrics(ranking, metric_findings, metrics)
    operation_ranking = None
    if operations:
        series = graph_pkg.operation_series(spans, bucket=detection.bucket, start=start, end=t1, origin=t0)
        operation_ranking = rank_operations(series, t0, t1, min_train=detection.min_train)
    considered: list[Change] = []
    if change_list is not None:
        ranking = apply_changes(ranking, change_list, t0, prior)
        considered = in_window(change_list, t0, prior)
    timings["rank"] = time.perf_counter() - started
    return Result(
        ranking=ranking,
        evidence=evidence,
        graph=graph,
        ranking_config=ranking_config,
        timings=timings,
        changes=considered,
        change_prior=prior if change_list is not None else None,
        pod_findings=findings,
        operations=operation_ranking,
        metric_findings=metric_findings,
    )
