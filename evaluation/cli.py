"""Sub-commands of the ``rca`` CLI contributed by this package: ``rca evaluate``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evaluation.errors import EvaluationError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands to the ``rca`` parser."""
    p = subparsers.add_parser(
        "evaluate",
        help="rank the root cause of every case of a data set with every method; accuracy table and report",
        description="Load the cases of DATASET (nezha:PATH, changerca:PATH, rcaeval:PATH, cases:PATH or a "
                    "bare PATH detected by content), run rca.localize with each method on each usable case, "
                    "print AC@k per method and write a Markdown + HTML report.")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--method", "-m", action="append", dest="methods", metavar="M",
                   help="a method of rca.METHODS (repeatable; default: all)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="report folder (default: ./evaluation-<data set name>)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help='write {"<method>": {"AC@1", "AC@3", "AC@5", "Avg@5", "cases", "skipped", ...}, '
                        '"default": <method>} here')
    p.add_argument("--before", default="10min",
                   help="history a case needs before its injection (default 10min)")
    p.add_argument("--after", default="3min",
                   help="data a case needs after its injection (default 3min)")
    p.add_argument("--min-spans", type=int, default=1,
                   help="spans (or reporting buckets) needed in each of the two windows (default 1)")
    p.add_argument("--no-case-figures", action="store_true", help="leave the per-case figures out of the report")
    p.add_argument("--share-evidence", action="store_true",
                   help="detect once per case and rank every method on that evidence (rca.rank) instead of "
                        "one rca.localize call per method: same rankings, a fraction of the time")
    p.add_argument("--strict", action="store_true", help="stop at the first case a method fails on")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run_evaluate)


def format_table(results: dict, methods: list[str], default: str) -> str:
    """The AC@k table printed by ``rca evaluate``."""
    header = ["method", "AC@1", "AC@3", "AC@5", "Avg@5", "mean rank", "cases", "failed", "s/case"]
    rows = []
    for m in methods:
        r = results[m]
        rows.append([m + (" *" if m == default else ""), *(_num(r[k]) for k in ("AC@1", "AC@3", "AC@5", "Avg@5")),
                     _num(r["mean_rank"]), str(r["cases"]), str(r["failed"]), _num(r["seconds_per_case"], 3)])
    if methods:
        chance = results[methods[0]]["chance"]
        rows.append(["chance", *(_num(chance[k]) for k in ("AC@1", "AC@3", "AC@5", "Avg@5")), "", "", "", ""])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def localize_defaults() -> dict[str, str]:
    """The rca.localize defaults the run used (recorded in the report)."""
    import inspect

    import rca

    signature = inspect.signature(rca.localize)
    keep = {k: v.default for k, v in signature.parameters.items()
            if v.default is not inspect.Parameter.empty and k not in ("spans", "edge_series", "service_series",
                                                                      "graph", "inject_time", "end_time", "method")}
    out = {f"localize {k}": str(v) for k, v in keep.items()}
    if hasattr(rca, "SHORT_WINDOW_FLUXEV"):
        out["detector defaults (rca.SHORT_WINDOW_FLUXEV)"] = str(rca.SHORT_WINDOW_FLUXEV)
    return out


def run_evaluate(args: argparse.Namespace) -> int:
    from evaluation.cases import load_cases, parse_spec
    from evaluation.report import write_report
    from evaluation.runner import DEFAULT_ALIAS, available_methods, evaluate, method_table

    if args.methods:
        table = method_table(available_methods())
        unknown = [m for m in args.methods if m != DEFAULT_ALIAS and m not in table]
        if unknown:
            raise EvaluationError(f"unknown method(s) {unknown}; choose from {sorted(table)} or 'default'")
    cases, skipped = load_cases(args.dataset, before=args.before, after=args.after, min_spans=args.min_spans)
    _, path = parse_spec(args.dataset)
    print(f"{args.dataset}: {len(cases)} usable case(s), {len(skipped)} skipped", file=sys.stderr)
    for case_id, reason in skipped:
        print(f"  skipped {case_id}: {reason}", file=sys.stderr)
    if not cases:
        raise EvaluationError(f"{args.dataset}: no usable case to evaluate")
    evaluation = evaluate(cases, args.methods, skipped=skipped, strict=args.strict, progress=not args.quiet,
                          share_evidence=args.share_evidence)
    results = evaluation.results()
    print(format_table(results, evaluation.methods, evaluation.default_method))
    print(f"(* default method; chance = expected accuracy of a random order of each case's candidates)")
    for method in evaluation.methods:
        failures = [c for c in results[method]["per_case"] if c["error"]]
        for failure in failures:
            print(f"  {method} failed on {failure['case_id']}: {failure['error']}", file=sys.stderr)
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2, allow_nan=False))
        except OSError as exc:
            raise EvaluationError(f"{args.json}: cannot write the results ({exc})") from exc
        print(f"results: {args.json}")
    out = args.out if args.out is not None else Path(f"evaluation-{path.resolve().name or 'run'}")
    parameters = {"before": args.before, "after": args.after, "min_spans": args.min_spans,
                  "share_evidence": args.share_evidence,
                  "command": " ".join(sys.argv), **localize_defaults()}
    md_path, html_path = write_report(evaluation, out, dataset=args.dataset, parameters=parameters,
                                      per_case_figures=not args.no_case_figures)
    full = dict(results)
    (out / "results.json").write_text(json.dumps(full, indent=2, allow_nan=False))
    print(f"report: {html_path} (and {md_path.name}, results.json)")
    return 0
