"""``rca evaluate``: every ranking method on every usable case of a data set; AC@k table and report."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from application.commands.rank import (
    add_change_options,
    add_detection_options,
    add_metric_options,
    add_pod_options,
    change_prior,
    detection_config,
    metric_evidence,
    pod_divergence,
)
from application.commands.watch import add_monitor_options, monitor_config
from application.errors import UsageError
from core.times import to_timedelta
from evaluation.datasets import load_cases, parse_spec
from evaluation.end_to_end import evaluate_stream, format_detection, write_detection_report
from evaluation.errors import EvaluationError
from evaluation.report import text_table, write_report
from evaluation.runner import available_methods, evaluate, json_safe
from evaluation.streams import open_stream

RUNS = Path("runs")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="rank the root cause of every case of a data set with every method; accuracy table and report",
        description="Load the cases of DATASET (nezha:PATH, changerca:PATH, rcaeval:PATH, cases:PATH or a "
        "bare PATH detected by content), detect once per case, rank with each method, print AC@k "
        "per method and write a Markdown + HTML report.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument(
        "--method",
        "-m",
        action="append",
        dest="methods",
        metavar="M",
        choices=available_methods(),
        help=f"a registered ranking method (repeatable; default: all of {', '.join(available_methods())})",
    )
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="report folder (default: runs/evaluate-<data set name>)"
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help='also write {"<method>": {"AC@1", "AC@3", "AC@5", "Avg@5", "cases", "skipped", ...}, '
        '"default": <method>, ...} here (the report folder always gets results.json)',
    )
    p.add_argument("--before", default="10min", help="history a case needs before its injection (default 10min)")
    p.add_argument("--after", default="3min", help="data a case needs after its injection (default 3min)")
    p.add_argument(
        "--min-spans",
        type=int,
        default=1,
        help="spans (or reporting buckets) needed in each of the two windows (default 1)",
    )
    add_detection_options(p)
    p.add_argument(
        "--changes",
        action="store_true",
        help="also rank every case with the change events its data set records (ChangeRCA's release plan), "
        "reported as <method>+changes beside each method (docs/changes.md)",
    )
    add_change_options(p)
    add_pod_options(
        p,
        "also rank every case with each pod compared with its siblings (<method>+pods, and "
        "<method>+pods+changes with --changes) beside each method",
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help="also rank every case with its pods' metrics as a prior where the data set records them (Nezha's "
        "metric/ folder, ChangeRCA's CPU and memory columns), reported as <method>+metrics beside each method",
    )
    add_metric_options(p)
    p.add_argument(
        "--operations",
        action="store_true",
        help="also rank (service, operation) pairs of every span case; the top ones go into the report",
    )
    p.add_argument("--no-case-figures", action="store_true", help="leave the per-case figures out of the report")
    p.add_argument(
        "--share-evidence",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="detect once per case and rank every method on that evidence (the default; the same "
        "rankings as one rca.localize call per method, which --no-share-evidence makes)",
    )
    p.add_argument(
        "--onset",
        choices=("labelled", "detected"),
        default="labelled",
        help="labelled (default): split each case at its labelled injection time; detected: replay the whole "
        "data set through the monitor with no label in sight, match the incidents it opens to the labelled "
        "faults, and score detection (recall, precision, delay) and the rankings made at incident open and close "
        "(--detector/--set then apply to the labelled-onset comparison; the monitor's own detector is "
        "--monitor-set detector=NAME)",
    )
    add_monitor_options(p)
    p.add_argument(
        "--labelled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --onset detected, also run the labelled-onset evaluation and print its AC@k beside (default on)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first case a method fails on")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def format_table(results: dict, methods: list[str], default: str) -> str:
    """The AC@k table printed by ``rca evaluate``."""
    header = ["method", "AC@1", "AC@3", "AC@5", "Avg@5", "mean rank", "cases", "failed", "detect s/case", "rank s/case"]
    rows = []
    for m in methods:
        r = results[m]
        rows.append(
            [
                m + (" *" if m == default else ""),
                *(_num(r[k]) for k in ("AC@1", "AC@3", "AC@5", "Avg@5")),
                _num(r["mean_rank"]),
                str(r["cases"]),
                str(r["failed"]),
                _num(r.get("detect_seconds_per_case"), 3),
                _num(r.get("rank_seconds_per_case"), 4),
            ]
        )
    if methods:
        chance = results[methods[0]]["chance"]
        rows.append(["chance", *(_num(chance[k]) for k in ("AC@1", "AC@3", "AC@5", "Avg@5")), "", "", "", "", ""])
    return text_table(header, rows)


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def default_out(dataset: str) -> Path:
    """``runs/evaluate-<name of the data set's folder>``."""
    _, path = parse_spec(dataset)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.resolve().name or "run").strip("-") or "run"
    return RUNS / f"evaluate-{name}"


def run_detected(args: argparse.Namespace) -> int:
    """``--onset detected``: the end-to-end evaluation (evaluation.end_to_end)."""
    ignored = [
        flag
        for flag, given in (
            ("--changes", args.changes),
            ("--pods", args.pods),
            ("--metrics", args.metrics),
            ("--operations", args.operations),
            ("--strict", args.strict),
            ("--no-case-figures", args.no_case_figures),
        )
        if given
    ]
    if ignored:
        raise UsageError(
            f"{', '.join(ignored)}: not available with --onset detected (the monitor ranks on traces alone); "
            "run them with the labelled onset"
        )
    methods = args.methods or available_methods()
    config = monitor_config(args.monitor_set, methods)
    before = to_timedelta(args.before, "--before", error=UsageError, positive=True)
    after = to_timedelta(args.after, "--after", error=UsageError, positive=True)
    stream = open_stream(args.dataset)
    cases: list = []
    if args.labelled:
        try:
            cases, case_skipped = load_cases(args.dataset, before=before, after=after, min_spans=args.min_spans)
        except EvaluationError as exc:
            print(f"  no labelled-onset comparison: {exc}", file=sys.stderr)
    print(f"{args.dataset}: {len(stream.faults)} labelled fault(s); replaying through the monitor", file=sys.stderr)
    started = time.perf_counter()

    def progress(i: int, monitor) -> None:
        if not args.quiet and i % 20 == 0:
            s = monitor.stats
            print(
                f"  {s.spans} spans, {s.buckets} buckets, {len(monitor.series)} series, {s.incidents} incident(s), "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )

    results = evaluate_stream(
        stream, methods, config, before=before, after=after, min_spans=args.min_spans, on_batch=progress
    )
    for skipped in results["skipped"]:
        print(f"  skipped {skipped['case_id']}: {skipped['reason']}", file=sys.stderr)
    labelled = None
    if cases:
        evaluation = evaluate(cases, methods, detection=detection_config(args), skipped=case_skipped, progress=False)
        labelled = {
            m: {k: v for k, v in r.items() if k != "per_case"}
            for m, r in evaluation.results().items()
            if m in methods and isinstance(r, dict)
        }
    results["labelled"] = labelled
    print(format_detection(results, methods, labelled))
    if args.json is not None:
        _write_json(args.json, json_safe(results))
        print(f"results: {args.json}")
    out = (
        args.out
        if args.out is not None
        else default_out(args.dataset).with_name(default_out(args.dataset).name + "-detected")
    )
    md_path, html_path = write_detection_report(results, out, methods)
    _write_json(out / "results.json", json_safe(results))
    print(f"report: {html_path} (and {md_path.name}, results.json)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.onset == "detected":
        return run_detected(args)
    if args.monitor_set:
        raise UsageError("--monitor-set: applies to --onset detected only")
    config = detection_config(args)
    before = to_timedelta(args.before, "--before", error=UsageError, positive=True)
    after = to_timedelta(args.after, "--after", error=UsageError, positive=True)
    if args.min_spans < 1:
        raise UsageError(f"--min-spans: must be at least 1, got {args.min_spans}")
    prior = change_prior(args)
    cases, skipped = load_cases(args.dataset, before=before, after=after, min_spans=args.min_spans)
    print(f"{args.dataset}: {len(cases)} usable case(s), {len(skipped)} skipped", file=sys.stderr)
    if args.changes:
        with_changes = sum(bool(c.changes) for c in cases)
        print(
            f"  {with_changes} case(s) with change events; change window {prior.describe()['change window']}",
            file=sys.stderr,
        )
    if args.metrics:
        with_metrics = [c for c in cases if c.metric_series is not None]
        print(f"  {len(with_metrics)} case(s) with per-pod metrics", file=sys.stderr)
        left_out = list(with_metrics[0].metadata.get("metrics_skipped") or []) if with_metrics else []
        for what, why in left_out[:10]:
            print(f"  metrics: left out {what}: {why}", file=sys.stderr)
        if len(left_out) > 10:
            print(f"  metrics: ... and {len(left_out) - 10} more left out", file=sys.stderr)
    for case_id, reason in skipped:
        print(f"  skipped {case_id}: {reason}", file=sys.stderr)
    if not cases:
        raise UsageError(f"{args.dataset}: no usable case to evaluate (see the reasons above)")
    evaluation = evaluate(
        cases,
        args.methods,
        detection=config,
        skipped=skipped,
        strict=args.strict,
        progress=not args.quiet,
        share_evidence=args.share_evidence,
        change_prior=prior if args.changes else None,
        pods=pod_divergence(args) if args.pods else None,
        operations=args.operations,
        metrics=metric_evidence(args) if args.metrics else None,
    )
    results = evaluation.results()
    print(format_table(results, evaluation.methods, evaluation.default_method))
    print(
        "(* default method; chance = expected accuracy of a random order of each case's candidates; detection "
        "is shared by all methods)"
        if args.share_evidence
        else "(* default method; chance = expected accuracy of a random order of each case's candidates)"
    )
    for method in evaluation.methods:
        for failure in (c for c in results[method]["per_case"] if c["error"]):
            print(f"  {method} failed on {failure['case_id']}: {failure['error']}", file=sys.stderr)
    if args.json is not None:
        _write_json(args.json, results)
        print(f"results: {args.json}")
    out = args.out if args.out is not None else default_out(args.dataset)
    parameters = {
        "before": args.before,
        "after": args.after,
        "min_spans": str(args.min_spans),
        "command": getattr(args, "command_line", None) or "rca " + " ".join(sys.argv[1:]),
    }
    md_path, html_path = write_report(
        evaluation, out, dataset=args.dataset, parameters=parameters, per_case_figures=not args.no_case_figures
    )
    _write_json(out / "results.json", results)
    print(f"report: {html_path} (and {md_path.name}, results.json)")
    return 0


def _write_json(path: Path, results: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, allow_nan=False))
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the results ({exc})") from exc
