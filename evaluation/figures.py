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
    """The service graph, callers above callees: each service a box with its name and score,
    coloured by the method's score; edges coloured and widened by their strongest anomaly.

    True root causes get a thick black frame. Boxes are sized to their text, so long service
    names are never cut.
    """
    pos = layered_positions(graph, orientation="top-down")
    rows: dict[float, int] = {}
    for _, y in pos.values():
        rows[y] = rows.get(y, 0) + 1
    widest = max(rows.values(), default=1)
    longest = max((len(str(n)) for n in graph.nodes), default=8)
    fig, ax = plt.subplots(figsize=(max(8.0, widest * (0.13 * longest + 0.6)), 1.6 + 1.35 * len(rows)))
    nodes = list(graph.nodes)
    values = np.array([scores.get(n, 0.0) for n in nodes], dtype=float)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
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
        arrowsize=14,
        node_size=2600,
        connectionstyle="arc3,rad=0.05",
    )
    truth = set(root_causes)
    for node, value in zip(nodes, values):
        shade = 0.1 + 0.85 * max(value, 0.0) / top if np.isfinite(value) else 0.1
        x, y = pos[node]
        ax.text(
            x,
            y,
            f"{node}\n{value:.3g}",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if shade > 0.6 else "black",
            fontweight="bold" if node in truth else "normal",
            bbox={
                "boxstyle": "round,pad=0.45",
                "facecolor": cmap(shade),
                "edgecolor": "black" if node in truth else "#777777",
                "linewidth": 3.0 if node in truth else 0.8,
            },
            zorder=3,
        )
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, top))
    fig.colorbar(sm, ax=ax, fraction=0.025, pad=0.01, label="method score")
    ax.set_title(title or "service graph, callers above callees; black frame: true root cause", fontsize=10)
    xs = [x for x, _ in pos.values()] or [0.0]
    ys = [y for _, y in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    return png(fig)


def metric_unit(metric: str) -> str:
    """Axis label of a metric column: ``ms`` for times, ``fraction`` for rates, ``calls per request``."""
    if metric.endswith("_ms"):
        return "ms"
    if metric == "error_rate":
        return "fraction of calls"
    if metric == "call_ratio":
        return "calls per request"
    return metric


def edge_series_panel(
    panels: Sequence[dict], inject_time: pd.Timestamp, end_time: pd.Timestamp | None, title: str = ""
) -> bytes:
    """Top anomalous series, one panel each: the value over time (left axis, the metric's unit)
    with its training baseline, and the detector's score and threshold over the scored part
    (right axis, the detector's own unit); the fault window shaded, alarms as red marks.

    Each panel: ``label``, ``metric``, ``values`` (Series indexed by time), ``scored`` (DataFrame
    with ``score``/``threshold``/``alarm`` over the scored part, or None), ``baseline`` (float or
    None), ``first_alarm`` (time or None).
    """
    n = max(1, len(panels))
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 2.0 * n + 0.6), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        values = panel["values"]
        ax.plot(
            values.index,
            values.to_numpy(dtype=float),
            color="#1f77b4",
            linewidth=1.3,
            marker=".",
            markersize=3,
            label="value",
        )
        baseline = panel.get("baseline")
        if baseline is not None and np.isfinite(baseline):
            ax.axhline(baseline, color="#1f77b4", linestyle=":", linewidth=0.9, label="training baseline")
        right = end_time if end_time is not None else (values.index.max() if len(values) else inject_time)
        ax.axvspan(inject_time, max(right, inject_time), color="orange", alpha=0.16, label="fault window")
        ax.axvline(inject_time, color="orange", linewidth=1)
        scored = panel.get("scored")
        if scored is not None and len(scored):
            alarms = scored.index[scored["alarm"].astype(bool).to_numpy()]
            shown = [t for t in alarms if t in values.index]
            if shown:
                ax.scatter(shown, values.loc[shown].to_numpy(dtype=float), color="red", zorder=3, s=24, label="alarm")
            twin = ax.twinx()
            twin.plot(
                scored.index,
                scored["score"].to_numpy(dtype=float),
                color="#555555",
                linewidth=1.0,
                linestyle="--",
                label="detector score",
            )
            threshold = scored["threshold"].to_numpy(dtype=float)
            threshold = np.where(np.isfinite(threshold), threshold, np.nan)
            if np.isfinite(threshold).any():
                twin.step(
                    scored.index, threshold, where="post", color="red", linewidth=0.9, linestyle=":", label="threshold"
                )
            twin.tick_params(labelsize=7, colors="#555555")
            twin.set_ylabel("score", fontsize=7, color="#555555")
            if panel is panels[0]:
                twin.legend(fontsize=7, loc="upper right")
        if panel.get("first_alarm") is not None and not pd.isna(panel["first_alarm"]):
            ax.axvline(panel["first_alarm"], color="red", linestyle=":", linewidth=1)
        ax.set_title(panel["label"], fontsize=8, loc="left")
        ax.set_ylabel(metric_unit(panel.get("metric", "")), fontsize=7)
        ax.tick_params(labelsize=7)
    if panels:
        axes[0, 0].legend(fontsize=7, loc="upper left")
    else:
        axes[0, 0].text(0.5, 0.5, "no series with anomaly evidence", ha="center", transform=axes[0, 0].transAxes)
    fig.autofmt_xdate()
    if title:
        fig.suptitle(title, fontsize=9)
    return png(fig)


def incident_timeline(
    faults: Sequence[tuple[float, float, str]],
    incidents: Sequence[tuple[float, float, float, bool]],
    gaps: Sequence[tuple[float, float]],
    span: tuple[float, float],
) -> bytes:
    """The whole replay on one time axis (Unix seconds in, UTC clock times drawn): labelled faults
    (injection to end, with their root cause) on the lower lane, incidents (onset to close,
    height = severity, green when matched to a fault, red when not) on the upper lane, and the
    collection gaps shaded."""
    fig, ax = plt.subplots(figsize=(12, 2.8))
    to_time = lambda s: pd.Timestamp(s, unit="s", tz="UTC").tz_localize(None)  # noqa: E731
    for lo, hi in gaps:
        ax.axvspan(to_time(lo), to_time(hi), color="0.85", lw=0, label="_gap")
    for lo, hi, name in faults:
        ax.plot([to_time(lo), to_time(hi)], [-0.3, -0.3], color="tab:blue", lw=6, solid_capstyle="butt")
        ax.annotate(name, (to_time(lo), -0.3), xytext=(0, -12), textcoords="offset points", fontsize=6, rotation=45)
    for lo, hi, severity, matched in incidents:
        color = "tab:green" if matched else "tab:red"
        ax.fill_between([to_time(lo), to_time(hi)], 0, max(severity, 0.05), color=color, alpha=0.7, step="pre")
    ax.set_xlim(to_time(span[0]), to_time(span[1]))
    ax.set_ylim(-0.9, 1.05)
    ax.set_yticks([-0.3, 0.5])
    ax.set_yticklabels(["labelled faults", "incidents (severity)"])
    ax.set_xlabel("time (UTC)")
    handles = [
        plt.Line2D([], [], color="tab:blue", lw=6, label="labelled fault"),
        plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.7, label="incident matching a fault"),
        plt.Rectangle((0, 0), 1, 1, color="tab:red", alpha=0.7, label="incident matching none"),
        plt.Rectangle((0, 0), 1, 1, color="0.85", label="collection gap"),
    ]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=7, ncol=4, frameon=False)
    fig.autofmt_xdate()
    return png(fig)
