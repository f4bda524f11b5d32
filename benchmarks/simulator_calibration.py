"""Compare the simulator with the recorded Online-Boutique day (quiet minutes only).

Real data: ``../shared/data/online-boutique-2022-08-22/trace/*.csv.gz`` (Nezha minute files),
restricted to spans that start at least 5 minutes after an injection and 10 s before the next
one (faults last about 3 minutes), so that faulty periods are left out. Simulator: ``SimBackend``
with its defaults, 10 minutes without faults.

Prints Markdown tables (per-operation p50/p90/p99, spans per trace, edge sets) and writes the
figure ``docs/img/simulator_calibration.png``. The recorded deployment is an *augmented*
Online-Boutique (cart, shipping and ad are instrumented there; ad talks to MySQL), so part of the
difference is structural, not a calibration error; and a model that matches one day's quiet
minutes says nothing about its accuracy under faults.

    .venv/bin/python benchmarks/simulator_calibration.py [--data ../shared/data/online-boutique-2022-08-22] [--files 40]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from chaos_scenarios.simulator import SimBackend

ROOT = Path(__file__).resolve().parents[1]

QUIET_AFTER_S = 300.0
QUIET_BEFORE_S = 10.0


def load_real(data: Path, n_files: int) -> pd.DataFrame:
    labels = json.loads((data / "label.json").read_text())
    injections = sorted(int(x["inject_timestamp"]) for hour in labels.values() for x in hour)
    files = sorted((data / "trace").glob("*_trace.csv.gz"))[:n_files]
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True).drop_duplicates()
    start_s = frame["StartTimeUnixNano"] / 1e9
    quiet = np.zeros(len(frame), dtype=bool)
    for this, nxt in zip(injections, [*injections[1:], injections[-1] + 600]):
        quiet |= ((start_s >= this + QUIET_AFTER_S) & (start_s < nxt - QUIET_BEFORE_S)).to_numpy()
    frame = frame[quiet]
    traces_ok = frame.groupby("TraceID")["ParentID"].transform(lambda p: (p == "root").any())
    frame = frame[traces_ok]
    return pd.DataFrame(
        {
            "trace_id": frame["TraceID"].astype(str),
            "span_id": frame["SpanID"].astype(str),
            "parent_id": frame["ParentID"].where(frame["ParentID"] != "root").astype(object),
            "service": frame["PodName"].str.rsplit("-", n=2).str[0],
            "operation": frame["OperationName"],
            "start_us": frame["StartTimeUnixNano"] // 1000,
            "duration_us": frame["Duration"],
        }
    )


def load_sim(seconds: float, seed: int) -> pd.DataFrame:
    backend = SimBackend(seed=seed)
    spans = backend.collect_spans(backend.now(), backend.now() + seconds)
    out = spans[["trace_id", "span_id", "parent_id", "start_us", "duration_us"]].copy()
    out["trace_id"] = out["trace_id"].astype(str)
    out["span_id"] = out["span_id"].astype(str)
    out["parent_id"] = spans["parent_id"].astype(object).where(spans["parent_id"].notna())
    out["service"] = spans["service"].astype(str)
    out["operation"] = spans["operation"].astype(str)
    out["peer_service"] = spans["peer_service"].astype(object).where(spans["peer_service"].notna())
    return out


def minutes(frame: pd.DataFrame) -> float:
    return (frame["start_us"].max() - frame["start_us"].min()) / 60e6


def quantiles(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(["service", "operation"])["duration_us"]
    q = g.quantile([0.5, 0.9, 0.99]).unstack() / 1000.0
    q.columns = ["p50", "p90", "p99"]
    q["per_min"] = g.size() / minutes(frame)
    return q


def edges(frame: pd.DataFrame) -> set[tuple[str, str]]:
    """Caller -> callee pairs: a child span in another service than its parent, or (where the
    spans say so) a client span's peer service, which is how uninstrumented callees show up."""
    out: set[tuple[str, str]] = set()
    if "peer_service" in frame:
        peer = frame[frame["peer_service"].notna()]
        out |= set(zip(peer["service"], peer["peer_service"]))
    parents = frame.set_index(["trace_id", "span_id"])["service"]
    child = frame[frame["parent_id"].notna()]
    keys = pd.MultiIndex.from_arrays([child["trace_id"], child["parent_id"]])
    found = keys.isin(parents.index)
    caller = parents.reindex(keys[found]).to_numpy()
    callee = child["service"].to_numpy()[found]
    return out | {(a, b) for a, b in zip(caller, callee) if a != b}


def per_trace(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("trace_id").size()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "online-boutique-2022-08-22")
    parser.add_argument("--files", type=int, default=40, help="minute files to read (of 127)")
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "simulator_calibration.png")
    args = parser.parse_args()
    if not (args.data / "trace").is_dir():
        sys.exit(f"{args.data}: no trace/ folder; pass --data PATH to the recorded day")

    real = load_real(args.data, args.files)
    sim = load_sim(args.seconds, args.seed)
    print(
        f"real: {len(real):,} spans, {real['trace_id'].nunique():,} traces in {minutes(real):.0f} min of quiet "
        f"periods ({args.files} minute files); sim: {len(sim):,} spans, {sim['trace_id'].nunique():,} traces "
        f"in {minutes(sim):.0f} min (seed {args.seed})\n"
    )

    qr, qs = quantiles(real), quantiles(sim)
    common = qr.index.intersection(qs.index)
    table = pd.concat({"real": qr.loc[common], "sim": qs.loc[common]}, axis=1)
    print("## Per-operation latency (ms) on operations with the same (service, span name) in both\n")
    print(
        "| service | operation | real p50 | sim p50 | real p90 | sim p90 | real p99 | sim p99 | real /min | sim /min |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (svc, op), row in table.sort_index().iterrows():
        print(
            f"| {svc} | {op} | {row['real', 'p50']:.1f} | {row['sim', 'p50']:.1f} | {row['real', 'p90']:.1f} | "
            f"{row['sim', 'p90']:.1f} | {row['real', 'p99']:.0f} | {row['sim', 'p99']:.0f} | "
            f"{row['real', 'per_min']:.0f} | {row['sim', 'per_min']:.0f} |"
        )
    ratio = np.log(table["sim", "p50"] / table["real", "p50"])
    print(
        f"\n{len(common)} common operations; median |log(sim p50 / real p50)| = {np.median(np.abs(ratio)):.2f} "
        f"(factor {np.exp(np.median(np.abs(ratio))):.2f}); only in real: {len(qr.index.difference(qs.index))}, "
        f"only in sim: {len(qs.index.difference(qr.index))}\n"
    )

    sr, ss = per_trace(real), per_trace(sim)
    print("## Spans per trace\n")
    print("| | traces | mean | p10 | p50 | p90 | max |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, s in (("real", sr), ("sim", ss)):
        print(
            f"| {name} | {len(s):,} | {s.mean():.1f} | {s.quantile(0.1):.0f} | {s.median():.0f} | "
            f"{s.quantile(0.9):.0f} | {s.max()} |"
        )
    er, es = edges(real), edges(sim)
    print("\n## Service edges (parent span's service -> child span's service)\n")
    print(f"- in both ({len(er & es)}): " + ", ".join(f"{a}->{b}" for a, b in sorted(er & es)))
    print(f"- only real ({len(er - es)}): " + ", ".join(f"{a}->{b}" for a, b in sorted(er - es)))
    print(f"- only sim ({len(es - er)}): " + ", ".join(f"{a}->{b}" for a, b in sorted(es - er)))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = axes[0]
    for q, marker in (("p50", "o"), ("p90", "s"), ("p99", "^")):
        ax.scatter(table["real", q], table["sim", q], marker=marker, label=q, alpha=0.75)
    lo = min(table.xs("p50", axis=1, level=1).min().min(), 0.1)
    hi = max(table.xs("p99", axis=1, level=1).max().max(), 1000)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="sim = real")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="real (ms)",
        ylabel="simulated (ms)",
        title=f"Latency quantiles of {len(common)} common operations",
    )
    ax.legend()
    ax = axes[1]
    bins = np.arange(0, max(sr.max(), ss.max()) + 2)
    ax.hist(sr, bins=bins, alpha=0.6, density=True, label=f"real (n={len(sr):,})")
    ax.hist(ss, bins=bins, alpha=0.6, density=True, label=f"sim (n={len(ss):,})")
    ax.set(xlabel="spans per trace", ylabel="share of traces", title="Spans per trace")
    ax.legend()
    fig.suptitle("Simulator vs recorded Online-Boutique (2022-08-22, quiet minutes) - a model, not the system")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
