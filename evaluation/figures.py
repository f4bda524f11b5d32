"""Matplotlib figures of an evaluation run, returned as PNG bytes (headless ``Agg`` backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

from graph.draw import layered_positions

DPI = 90


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def accuracy_bars(summaries: dict[str, dict], chance: dict[str, float], ks: Sequence[int] = (1, 3, 5)) -> bytes:
    """AC@k per method (grouped bars) with the chance level of each k drawn as a dashed tick."""
    methods = list(summaries)
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(methods) + 2), 3.2))
    width = 0.8 / len(ks)
    x = np.arange(len(methods))
    for i, k in enumerate(ks):
        values = [summaries[m].get(f"AC@{k}") or 0.0 for m in methods]
        pos = x + (i - (len(ks) - 1) / 2) * width
        bars = ax.bar(pos, values, width, label=f"AC@{k}")
        level = chance.get(f"AC@{k}")
        if level is not None and np.isfinite(level):
            ax.hlines(
                level,
                pos.min() - width / 2,
                pos.max() + width / 2,
                colors=bars[0].get_facecolor(),
                linestyles="dashed",
                linewidth=1,
            )
        for p, v in zip(pos, values):
            ax.text(p, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, methods)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("fraction of cases")
    ax.set_title("Accuracy per method (dashed: chance level)")
    ax.legend(fontsize=8, ncols=len(ks), loc="upper right")
    return png(fig)


def fault_type_bars(by_type: dict[str, dict[str, dict]], metric: str = "AC@1") -> bytes:
    """``metric`` per fault type (groups) and method (bars); ``by_type[method][fault] = summary``."""
    methods = list(by_type)
    faults = sorted({f for m in methods for f in by_type[m]})
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(faults) * max(1, len(methods)) / 2 + 2), 3.2))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(faults))
    for i, method in enumerate(methods):
        values = [by_type[method].get(f, {}).get(metric) or 0.0 for f in faults]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
    counts = [max((by_type[m].get(f, {}).get("cases", 0) for m in methods), default=0) for f in faults]
    ax.set_xticks(x, [f"{f}\n(n={n})" for f, n in zip(faults, counts)], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per fault type")
    ax.legend(fontsize=8)
    return png(fig)


def graph_by_score(
    graph: nx.DiGraph,
    scores: dict[str, float],
    root_causes: Sequence[str],
    edge_strength: dict[tuple[str, str], float],
    title: str = "",
) -> bytes:
    """The service graph, nodes coloured by the method's score, edges by their strongest anomaly.

    True root causes get a thick black outline; edge width and colour grow with the edge's
    strongest evidence (0 = grey, thin).
    """
    pos = layered_positions(graph, orientation="top-down")
    widest = max((sum(1 for q in pos.values() if q[1] == p[1]) for p in pos.values()), default=1)
    fig, ax = plt.subplots(figsize=(max(7.5, 1.55 * widest), 4.8))
    nodes = list(graph.nodes)
    values = np.array([scores.get(n, 0.0) for n in nodes], dtype=float)
    top = values.max() if len(values) and np.isfinite(values).any() and values.max() > 0 else 1.0
    cmap = plt.get_cmap("OrRd")
    edges = list(graph.edges)
    strengths = np.array([edge_strength.get((a, b), 0.0) for a, b in edges], dtype=float)
    edge_top = strengths.max() if len(strengths) and strengths.max() > 0 else 1.0
    nx.draw_networkx_edges(
        graph,
        pos,
        ax=ax,
        edgelist=edges,
        width=list(0.8 + 3.5 * strengths / edge_top),
        edge_color=[plt.get_cmap("Reds")(0.25 + 0.75 * s / edge_top) if s > 0 else "#bbbbbb" for s in strengths],
        arrows=True,
        arrowsize=12,
        node_size=1400,
        connectionstyle="arc3,rad=0.06",
    )
    truth = set(root_causes)
    shade = dict(zip(nodes, 0.1 + 0.85 * np.clip(values, 0, None) / top))
    nx.draw_networkx_nodes(
        graph,
        pos,
        ax=ax,
        nodelist=nodes,
        node_size=1400,
        node_color=[cmap(shade[n]) for n in nodes],
        edgecolors=["black" if n in truth else "#666666" for n in nodes],
        linewidths=[3.0 if n in truth else 0.8 for n in nodes],
    )
    for dark in (False, True):
        chosen = [n for n in nodes if (shade[n] > 0.6) == dark]
        nx.draw_networkx_labels(
            graph,
            pos,
            ax=ax,
            font_size=6.5,
            font_color="white" if dark else "black",
            labels={n: f"{n}\n{scores.get(n, 0.0):.2g}" for n in chosen},
        )
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, top))
    fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.01, label="score")
    ax.set_title(title or "service graph coloured by score (black outline: true root cause)", fontsize=9)
    ax.axis("off")
    return png(fig)


def edge_series_panel(
    panels: Sequence[dict], inject_time: pd.Timestamp, end_time: pd.Timestamp | None, title: str = ""
) -> bytes:
    """Top anomalous series: value over time, injection window shaded, alarms as red marks.

    Each panel: ``label``, ``values`` (Series indexed by time), ``alarms`` (times),
    ``first_alarm`` (time or None), ``threshold`` note.
    """
    n = max(1, len(panels))
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.7 * n + 0.4), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        values = panel["values"]
        ax.plot(values.index, values.to_numpy(dtype=float), color="#1f77b4", linewidth=1.2, marker=".", markersize=3)
        alarms = [t for t in panel.get("alarms", []) if t in values.index]
        if alarms:
            ax.scatter(alarms, values.loc[alarms].to_numpy(dtype=float), color="red", zorder=3, s=22, label="alarm")
        right = end_time if end_time is not None else (values.index.max() if len(values) else inject_time)
        ax.axvspan(inject_time, max(right, inject_time), color="orange", alpha=0.18, label="fault window")
        ax.axvline(inject_time, color="orange", linewidth=1)
        if panel.get("first_alarm") is not None and not pd.isna(panel["first_alarm"]):
            ax.axvline(panel["first_alarm"], color="red", linestyle=":", linewidth=1)
        ax.set_title(panel["label"], fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    if panels:
        axes[0, 0].legend(fontsize=7, loc="upper left")
    else:
        axes[0, 0].text(0.5, 0.5, "no series with anomaly evidence", ha="center", transform=axes[0, 0].transAxes)
    fig.autofmt_xdate()
    if title:
        fig.suptitle(title, fontsize=9)
    return png(fig)
