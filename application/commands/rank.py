"""``rca rank``: the root-cause ranking of one case, its top candidates explained."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import detectors
import rca
from application.commands.collect import time_arg
from application.commands.detect import parse_settings
from application.errors import UsageError
from chaos_scenarios.case_folder import is_case_folder, read_label
from chaos_scenarios.case_folder import read_spans as read_case_spans
from collectors import read_changes, read_spans
from collectors.metrics import read_pod_metrics
from core.times import to_timestamp

DEFAULT_SCORED = pd.Timedelta("3min")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rank",
        help="rank the root-cause services of one case and explain the top candidates",
        description="Rank one case: a case folder written by `rca suite run` (label.json + spans.parquet), "
        "or a span file/directory with --inject-time.",
    )
    p.add_argument("case", help="case folder, or a span file / directory of span files")
    p.add_argument(
        "--inject-time", help="injection start (Unix seconds or ISO time); required unless CASE is a case folder"
    )
    p.add_argument(
        "--end-time",
        help="end of the scored window (default: inject + 3 min for "
        "span input, the recorded recovery for a case folder)",
    )
    p.add_argument(
        "--method",
        default=rca.DEFAULT_METHOD,
        choices=sorted(rca.METHODS),
        help="ranking method (default: %(default)s)",
    )
    add_detection_options(p)
    p.add_argument(
        "--changes",
        type=Path,
        default=None,
        metavar="FILE",
        help="change events (changes.csv or JSON: service,time[,kind,detail,version,pods]); a change in the "
        "look-back window before the onset raises its service's prior (docs/changes.md)",
    )
    add_change_options(p)
    add_pod_options(p, "compare each pod with its siblings of the same service; diverging pods raise their service")
    p.add_argument(
        "--metrics",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder of per-pod metric files (<pod>_metric.csv[.gz], the Nezha layout); a service whose pods' "
        "metrics rose after the onset gets a prior (docs/changes.md); pods are mapped to services by the spans",
    )
    add_metric_options(p)
    p.add_argument("--top", type=int, default=5, help="candidates to show (default: %(default)s)")
    p.set_defaults(func=run)


def add_detection_options(p: argparse.ArgumentParser) -> None:
    """``--detector``, ``--set``, ``--bucket``, ``--train-window`` (shared with evaluate)."""
    p.add_argument(
        "--detector",
        default=None,
        choices=detectors.available(),
        help="detector run on every series (default: fluxev with short-window settings)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="settings",
        help="a detector parameter (repeatable), e.g. --set q=0.01",
    )
    p.add_argument("--bucket", default="30s", help="time bucket of the series (default: %(default)s)")
    p.add_argument(
        "--train-window", default="10min", help="training history before the injection (default: %(default)s)"
    )


def add_change_options(p: argparse.ArgumentParser) -> None:
    """``--change-window``, ``--change-boost`` (shared with evaluate)."""
    p.add_argument(
        "--change-window",
        default="30min",
        help="look-back window before the onset in which a change counts (default: %(default)s)",
    )
    p.add_argument(
        "--change-boost",
        type=float,
        default=1.0,
        help="a changed service's score is multiplied by 1 + this (default: %(default)s)",
    )


def add_pod_options(p: argparse.ArgumentParser, flag_help: str) -> None:
    """``--pods``, ``--pod-threshold``, ``--pod-weight`` (shared with evaluate)."""
    p.add_argument("--pods", action="store_true", help=flag_help)
    p.add_argument(
        "--pod-threshold",
        type=float,
        default=3.0,
        help="noise units by which a pod must exceed its siblings to diverge (default: %(default)s)",
    )
    p.add_argument(
        "--pod-weight",
        type=float,
        default=1.0,
        help="added to a service's score per noise unit of its most divergent pod (default: %(default)s)",
    )


def add_metric_options(p: argparse.ArgumentParser) -> None:
    """``--metric-mode``, ``--metric-boost``, ``--metric-threshold`` (shared with evaluate)."""
    p.add_argument(
        "--metric-mode",
        choices=("multiply", "add"),
        default="multiply",
        help="multiply: score x (1 + boost x min(z, 10)/10); add: score + min(z, 10) (default: %(default)s)",
    )
    p.add_argument(
        "--metric-boost",
        type=float,
        default=1.0,
        help="boost of the multiplicative metric prior (default: %(default)s)",
    )
    p.add_argument(
        "--metric-threshold",
        type=float,
        default=3.0,
        help="robust z by which a pod metric must rise over its training level to count (default: %(default)s)",
    )
    p.add_argument(
        "--metric-exclude",
        action="append",
        default=[],
        metavar="TEXT",
        help="leave out the metric columns whose name contains TEXT, case-insensitive (repeatable; default: node "
        "and latency: host-level metrics, and the latencies the traces already measure)",
    )


def metric_evidence(args: argparse.Namespace) -> rca.MetricEvidence:
    exclude = tuple(args.metric_exclude) if args.metric_exclude else rca.MetricEvidence().exclude
    return rca.MetricEvidence(
        mode=args.metric_mode, boost=args.metric_boost, threshold=args.metric_threshold, exclude=exclude
    )


def pod_divergence(args: argparse.Namespace) -> rca.PodDivergence:
    return rca.PodDivergence(threshold=args.pod_threshold, weight=args.pod_weight)


def change_prior(args: argparse.Namespace) -> rca.ChangePrior:
    return rca.ChangePrior(window=args.change_window, boost=args.change_boost)


def detection_config(args: argparse.Namespace) -> rca.DetectionConfig:
    params = parse_settings(args.settings) if args.settings else None
    detector = args.detector or "fluxev"
    if params is not None and args.detector is None:
        params = {**rca.DEFAULT_DETECTOR_PARAMS.get("fluxev", {}), **params}
    return rca.DetectionConfig(detector=detector, params=params, bucket=args.bucket, train_window=args.train_window)


def _load(args: argparse.Namespace, config: rca.DetectionConfig):
    """(spans, inject_time, end_time, truth) from the command's arguments."""
    path = Path(args.case)
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if path.is_dir() and is_case_folder(path):
        label = read_label(path)
        inject = (
            time_arg(args.inject_time, "--inject-time")
            if args.inject_time is not None
            else to_timestamp(label.injected_at, f"{path / 'label.json'}: injected_at", error=UsageError, units=True)
        )
        if args.end_time is not None:
            end = time_arg(args.end_time, "--end-time")
        elif label.recovered_at is not None:
            end = to_timestamp(label.recovered_at, f"{path / 'label.json'}: recovered_at", error=UsageError, units=True)
        else:
            end = inject + DEFAULT_SCORED
        return read_case_spans(path), inject, end, list(label.root_cause)
    if args.inject_time is None:
        raise UsageError(
            f"{path}: not a case folder (no label.json of format rca-case/1); "
            "give --inject-time to rank a span file or directory"
        )
    inject = time_arg(args.inject_time, "--inject-time")
    end = time_arg(args.end_time, "--end-time") if args.end_time else inject + DEFAULT_SCORED
    start = inject - config.train_window if config.train_window is not None else None
    return read_spans(path, start=start, end=end), inject, end, None


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top: must be at least 1, got {args.top}")
    config = detection_config(args)
    prior = change_prior(args)
    changes = read_changes(args.changes) if args.changes is not None else None
    spans, inject, end, truth = _load(args, config)
    pods = pod_divergence(args) if args.pods else None
    metric_series = None
    if args.metrics is not None:
        known = spans[["pod", "service"]].dropna().drop_duplicates()
        services = {str(p): str(s) for p, s in zip(known["pod"], known["service"], strict=True) if str(p)}
        metric_series = rca.attach_services(read_pod_metrics(args.metrics), services)
        if not len(metric_series):
            raise UsageError(f"--metrics {args.metrics}: no pod of the metric files appears in the spans' pod column")
    result = rca.localize(
        spans,
        inject,
        end,
        detection=config,
        method=args.method,
        changes=changes,
        change_prior=prior,
        pods=pods,
        operations=True,
        metrics=metric_evidence(args) if metric_series is not None else None,
        metric_series=metric_series,
    )
    print(result.explain(top=args.top, truth=truth))
    return 0
