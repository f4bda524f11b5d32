"""The ``rca`` command line: every sub-command, the demo, and one clean line for every error.

The application sits on top of every package (see docs/interfaces.md); it is the one place
that imports them all, and no package imports it. Each module of :mod:`application.commands`
adds its sub-commands with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import sys

from application import demo, plugins
from application.commands import collect, detect, evaluate, graph, rank, serve, suite, watch
from core import __version__
from core.errors import FrameworkError

COMMAND_MODULES = (demo, detect, collect, graph, rank, suite, evaluate, watch, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rca",
        description="Anomaly detection and root-cause localization over microservice call graphs.",
    )
    parser.add_argument("--version", action="version", version=f"rca-fluxev {__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the detectors and ranking methods it registers can be used "
        f"(repeatable; also ${plugins.ENV_VAR}, comma-separated)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def _plugin_modules(argv: list[str]) -> list[str]:
    """The ``--plugin`` values, read before the full parser is built (its choices depend on them)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    return known.plugin


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        plugins.load_all(_plugin_modules(argv))
    except FrameworkError as exc:
        print(f"rca: error: {exc}", file=sys.stderr)
        return 1
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FrameworkError as exc:
        print(f"rca {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the file system refused (a folder that does not exist, no permission, disk full)
        print(f"rca {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rca {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
