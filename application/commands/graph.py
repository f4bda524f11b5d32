"""``rca graph``: the service graph of span files, printed, drawn or written as DOT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from application.commands.collect import require_spans, window_args
from application.errors import UsageError
from collectors import read_spans
from graph import build_service_graph, calls
from graph.draw import draw_png, edge_table, to_dot


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("graph", help="build the service graph of span files and print its edges")
    p.add_argument("spans", help="span file or directory (any format `rca collect files` reads)")
    p.add_argument("--start", help="keep spans starting at or after this time (Unix seconds or ISO)")
    p.add_argument("--end", help="keep spans starting before this time")
    p.add_argument("--png", help="draw the graph to this PNG file")
    p.add_argument("--dot", help="write Graphviz DOT text to this file ('-' for stdout)")
    p.add_argument(
        "--callee-map",
        action="append",
        default=[],
        metavar="NAME=SERVICE",
        help="name the callee of calls to an uninstrumented NAME (RPC service, peer, host); repeatable",
    )
    p.set_defaults(func=_graph)


def _graph(args) -> int:
    mapping = {}
    for item in args.callee_map:
        if "=" not in item:
            raise UsageError(f"--callee-map wants NAME=SERVICE, got {item!r}")
        key, value = item.split("=", 1)
        if not key.strip() or not value.strip():
            raise UsageError(f"--callee-map wants NAME=SERVICE with both parts, got {item!r}")
        mapping[key.strip()] = value.strip()
    start, end = window_args(args.start, args.end)
    spans = read_spans(args.spans, start, end, progress=True)
    require_spans(spans, args.spans, start, end)
    table = calls(spans, mapping)
    graph = build_service_graph(spans, call_table=table)
    print(edge_table(graph))
    info = graph.graph
    print(
        f"\n{len(spans)} spans, {graph.number_of_nodes()} services, {graph.number_of_edges()} edges, "
        f"{len(table)} calls; trees {info.get('trees', 0)} (roots {info.get('roots', 0)}, "
        f"orphans {info.get('orphans', 0)})"
    )
    uninstrumented = sorted(n for n, d in graph.nodes(data=True) if not d.get("instrumented"))
    if uninstrumented:
        print("services seen only through their callers' client spans: " + ", ".join(uninstrumented))
    if info.get("unplaced"):
        print(
            "client spans whose callee could not be named: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(info["unplaced"].items()))
        )
    skipped = spans.attrs.get("skipped", {})
    if skipped:
        print("skipped while reading: " + ", ".join(f"{k} {v}" for k, v in skipped.items()))
    if args.dot:
        text = to_dot(graph)
        if args.dot == "-":
            sys.stdout.write(text)
        else:
            try:
                Path(args.dot).write_text(text)
            except OSError as exc:
                raise UsageError(f"--dot {args.dot}: cannot write ({exc.strerror or exc})") from exc
    if args.png:
        draw_png(graph, args.png)
        print(f"wrote {args.png}")
    return 0
