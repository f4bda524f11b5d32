"""``rca demo``: the main job on the embedded default.

Simulates the shipped demo suite with the embedded Online-Boutique simulator, ranks every case
with every registered method and writes the AC@k table and an HTML report, exactly as
``rca suite run SUITE --backend sim --out OUT/cases --seed SEED`` followed by
``rca evaluate OUT/cases --out OUT/report --json OUT/results.json`` would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from application import detector_example
from application.commands import evaluate, suite

DEMO_SUITE = "online-boutique-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the main job on the embedded default: simulate the demo suite, rank every case, report",
        description=__doc__.split("\n\n", 1)[1].strip(),
    )
    demo.add_argument("--suite", default=DEMO_SUITE, help="suite file or shipped suite name (default: %(default)s)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default: 0)")
    demo.add_argument(
        "--detector-example", action="store_true", help="instead, run FluxEV alone on a small built-in synthetic series"
    )
    demo.set_defaults(func=run)


def _steps_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rca")
    subparsers = parser.add_subparsers(dest="command")
    suite.register(subparsers)
    evaluate.register(subparsers)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.detector_example:
        return detector_example.run_example()
    cases, report = args.out / "cases", args.out / "report"
    steps = (
        ["suite", "run", str(args.suite), "--backend", "sim", "--out", str(cases), "--seed", str(args.seed)],
        ["evaluate", str(cases), "--out", str(report), "--json", str(args.out / "results.json")],
    )
    parser = _steps_parser()
    for step in steps:
        line = "rca " + " ".join(step)
        print("+ " + line, file=sys.stderr, flush=True)
        namespace = parser.parse_args(step)
        namespace.command_line = line
        code = int(namespace.func(namespace) or 0)
        if code:
            return code
    return 0
