"""The ``rca`` command line.

Each package registers its own sub-commands through a ``register(subparsers)``
function in its ``cli`` module; this module only assembles them. The CLI sits on
top of every package (see DESIGN.md), so it is the one place that may import them all.
"""
from __future__ import annotations

import argparse
import importlib
import sys

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rca",
        description="Root-cause localization over microservice call graphs (FluxEV on every edge).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


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
