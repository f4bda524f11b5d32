"""Drawing a ServiceGraph: Graphviz DOT text and a PNG through matplotlib (no Graphviz needed)."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx

from graph.errors import GraphError


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def edge_label(data: dict) -> str:
    label = f"{data.get('calls', 0)} calls"
    if data.get("errors"):
        label += f", {data['errors']} err"
    return label + f"\\np50 {_fmt(data.get('latency_p50_ms'))} ms"


def to_dot(graph: nx.DiGraph, name: str = "services") -> str:
    """Graphviz DOT text: one node per service (dashed when uninstrumented), edges labelled with calls and p50."""

    def quote(text) -> str:
        return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {quote(name)} {{", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for node, data in sorted(graph.nodes(data=True)):
        style = "" if data.get("instrumented", True) else ", style=dashed"
        lines.append(f"  {quote(node)} [label={quote(node)}{style}];")
    for caller, callee, data in sorted(graph.edges(data=True)):
        label = edge_label(data).replace('"', "'")
        lines.append(f'  {quote(caller)} -> {quote(callee)} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def layered_positions(graph: nx.DiGraph, orientation: str = "left-right") -> dict:
    """Node positions by longest call depth from the entry services (cycles broken).

    ``orientation="left-right"``: callers left of their callees; ``"top-down"``: callers
    above them. Within a layer, nodes follow the mean position of their callers.
    """
    if orientation not in ("left-right", "top-down"):
        raise GraphError(f"orientation must be 'left-right' or 'top-down', got {orientation!r}")
    dag = nx.DiGraph(graph)
    while not nx.is_directed_acyclic_graph(dag):
        cycle = nx.find_cycle(dag)
        dag.remove_edge(*cycle[-1][:2])
    depth: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        preds = list(dag.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    layers: dict[int, list] = {}
    for node, d in depth.items():
        layers.setdefault(d, []).append(node)
    pos: dict[str, tuple[float, float]] = {}
    for d in sorted(layers):
        nodes = layers[d]

        def barycenter(node):
            ys = [pos[p][1] for p in graph.predecessors(node) if p in pos]
            return (-(sum(ys) / len(ys)) if ys else 0.0, node)

        for i, node in enumerate(sorted(nodes, key=barycenter)):
            pos[node] = (d, -(i - (len(nodes) - 1) / 2))
    if orientation == "top-down":
        return {node: (-y, -x) for node, (x, y) in pos.items()}
    return pos


def draw_png(graph: nx.DiGraph, path, title: str | None = None) -> Path:
    """Draw the graph to a PNG file with matplotlib; edge width grows with the log of the call count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if graph.number_of_nodes() == 0:
        raise GraphError("the graph is empty: nothing to draw")
    pos = layered_positions(graph)
    width = max(1, max(x for x, _ in pos.values()) + 1)
    height = max(1, max(sum(1 for p in pos.values() if p[0] == x) for x in range(width)))
    fig, ax = plt.subplots(figsize=(3 + 3 * width, 1.5 + 1.0 * height))
    edges = list(graph.edges(data=True))
    top = max((d.get("calls", 1) for _, _, d in edges), default=1)
    for long_edges, rad in ((False, 0.05), (True, 0.25)):
        chosen = [(a, b, d) for a, b, d in edges if (abs(pos[a][0] - pos[b][0]) > 1) == long_edges]
        if not chosen:
            continue
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=[(a, b) for a, b, _ in chosen],
            ax=ax,
            width=[0.6 + 3.0 * math.log1p(d.get("calls", 1)) / math.log1p(top) for _, _, d in chosen],
            edge_color=["#c0392b" if d.get("errors") else "#555555" for _, _, d in chosen],
            arrows=True,
            arrowsize=14,
            node_size=2600,
            connectionstyle=f"arc3,rad={rad}",
        )
    instrumented = [n for n, d in graph.nodes(data=True) if d.get("instrumented", True)]
    others = [n for n in graph.nodes if n not in instrumented]
    nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=instrumented,
        ax=ax,
        node_color="#d6eaf8",
        node_shape="s",
        node_size=2600,
        edgecolors="#2e86c1",
    )
    nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=others,
        ax=ax,
        node_color="#f2f3f4",
        node_shape="s",
        node_size=2600,
        edgecolors="#999999",
        linewidths=1.0,
    )
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7)
    labels = {(a, b): edge_label(d).replace("\\n", "\n") for a, b, d in graph.edges(data=True)}
    nx.draw_networkx_edge_labels(
        graph,
        pos,
        edge_labels=labels,
        ax=ax,
        font_size=6,
        label_pos=0.35,
        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
    )
    ax.set_title(title or f"{graph.number_of_nodes()} services, {graph.number_of_edges()} edges")
    ax.axis("off")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise GraphError(f"{path}: cannot write PNG: {exc}") from exc
    finally:
        plt.close(fig)
    return path


def edge_table(graph: nx.DiGraph) -> str:
    """Plain-text table of the edges with their totals, busiest first."""
    rows = sorted(graph.edges(data=True), key=lambda e: (-e[2].get("calls", 0), e[0], e[1]))
    head = (
        f"{'caller':<28} {'callee':<28} {'calls':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv p50':>8} {'callee from':<10}"
    )
    lines = [head, "-" * len(head)]
    for caller, callee, d in rows:
        lines.append(
            f"{caller:<28} {callee:<28} {d.get('calls', 0):>9} {d.get('errors', 0):>7} "
            f"{_fmt(d.get('latency_p50_ms')):>8} {_fmt(d.get('latency_p99_ms')):>8} "
            f"{_fmt(d.get('server_p50_ms')):>8} {d.get('callee_from', ''):<10}"
        )
    return "\n".join(lines)
