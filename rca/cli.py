"""The ``rca`` command line.

Each package registers its own sub-commands through a ``register(subparsers)``
function in its ``cli`` module; this module only assembles them. The CLI sits on
top of every package (see DESIGN.md), so it is the one place that may import them all.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

COMMAND_MODULES = (
    "fluxev.cli",
    "collectors.cli",
    "graph.cli",
    "rca.commands",
    "chaos_scenarios.cli",
    "evaluation.cli",
)

KNOWN_ERRORS = (
    "fluxev.errors.DetectorError",
    "collectors.errors.CollectError",
    "graph.errors.GraphError",
    "rca.errors.RCAError",
    "chaos_scenarios.errors.ScenarioError",
    "evaluation.errors.EvaluationError",
)


REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_SUITE = REPO_ROOT / "suites" / "online-boutique-smoke.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rca",
        description="Root-cause localization over microservice call graphs (FluxEV on every edge).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_demo(subparsers)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _register_demo(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the main job on the embedded default: simulate the smoke suite, rank every case, report",
        description="Runs `rca suite run SUITE --backend sim --out OUT/cases --seed SEED`, then "
                    "`rca evaluate OUT/cases --out OUT/report`: simulated Online-Boutique faults, "
                    "FluxEV on every edge, every ranking method, the AC@k table and an HTML report.",
    )
    demo.add_argument("--suite", type=Path, default=DEMO_SUITE, help=f"fault suite (default: {DEMO_SUITE.name})")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default: 0)")
    demo.add_argument("--detector-example", action="store_true",
                      help="instead, run FluxEV alone on a small built-in synthetic series")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.detector_example:
        from fluxev.example import run_example

        return run_example()
    if not args.suite.is_file():
        from chaos_scenarios.errors import ScenarioError

        raise ScenarioError(f"{args.suite}: suite file not found (the demo suites ship in the repository's suites/)")
    cases, report = args.out / "cases", args.out / "report"
    steps = (
        ["suite", "run", str(args.suite), "--backend", "sim", "--out", str(cases), "--seed", str(args.seed)],
        ["evaluate", str(cases), "--out", str(report), "--json", str(args.out / "results.json"),
         "--share-evidence"],
    )
    for step in steps:
        print("+ rca " + " ".join(step), file=sys.stderr, flush=True)
        code = main(step)
        if code:
            return code
    return 0


def _error_types() -> tuple[type[BaseException], ...]:
    types = []
    for dotted in KNOWN_ERRORS:
        module, _, attr = dotted.rpartition(".")
        types.append(getattr(importlib.import_module(module), attr))
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except _error_types() as exc:
        print(f"rca {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rca {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
