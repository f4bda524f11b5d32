"""Every multivariate detector on SKAB (Skoltech Anomaly Benchmark) with the leaderboard's protocol.

Usage: python benchmarks/skab.py DIR [--json out.json] [--detectors pca,iforest,...] [--threads N]

DIR is searched recursively for SKAB experiment files (``;``-separated, a ``datetime`` column,
sensor channels, ``anomaly`` and ``changepoint``); files without an ``anomaly`` column (the
anomaly-free recording) are skipped and counted. Per file the first 400 rows train and the rest
is detected; metrics are pooled over all test points of all files (point-wise F1 as the
leaderboard; FAR = FP / (FP + TN) and MAR = FN / (FN + TP) beside it; point-adjusted F1, the
area under PA%K, event-wise recall). ``all-ones`` flags every test point: the F1 that the
metric gives for free. ``seconds`` is the wall time of fitting and detecting over all files.
The deep models use their small CPU configurations (``SMALL_CPU`` of each module), seed 0.

The JSON is ``{"detectors": [{"name", "f1", "f1_pa", "pa_k_auc", "event_recall", "far",
"mar", "seconds"}, ...]}`` (fractions, not percent).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np
import pandas as pd

from detectors import make_detector
from evaluation.detector_metrics import detector_scores

TRAIN_ROWS = 400
LABELS = ("anomaly", "changepoint")


def configurations() -> dict[str, tuple[str, dict]]:
    """Benchmark name -> (registered detector, parameters)."""
    from detectors.multivariate.anomaly_transformer import SMALL_CPU as AT_SMALL
    from detectors.multivariate.mtad_gat import SMALL_CPU as GAT_SMALL

    return {
        "pca": ("pca", {"explained_variance": 0.85, "p_value": 0.999, "smooth": 5}),
        "t2": ("pca", {"statistic": "t2", "p_value": 0.999, "smooth": 5}),
        "iforest": ("iforest", {}),
        "fluxev-combined": ("fluxev-combined", {"smoothing": 1}),
        "mtad-gat": ("mtad-gat", {**GAT_SMALL, "progress": False}),
        "anomaly-transformer": ("anomaly-transformer", {**AT_SMALL, "progress": False}),
    }


def load(root: Path) -> tuple[list[tuple[Path, pd.DataFrame, np.ndarray]], Counter]:
    files, skipped = [], Counter()
    for path in sorted(root.rglob("*.csv")):
        frame = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
        if "anomaly" not in frame.columns:
            skipped["no anomaly column"] += 1
            continue
        if len(frame) <= TRAIN_ROWS:
            skipped[f"not more than {TRAIN_ROWS} rows"] += 1
            continue
        label = frame["anomaly"].to_numpy()[TRAIN_ROWS:] == 1
        files.append((path, frame.drop(columns=[c for c in LABELS if c in frame.columns]), label))
    return files, skipped


def run(name: str, spec: tuple[str, dict] | None, files) -> dict:
    started = time.perf_counter()
    alarms = []
    for _, frame, label in files:
        if spec is None:
            alarms.append(np.ones(len(label), dtype=bool))
            continue
        detector = make_detector(spec[0], **spec[1]).fit(frame.iloc[:TRAIN_ROWS])
        alarms.append(np.asarray(detector.detect(frame.iloc[TRAIN_ROWS:]).alarm, dtype=bool))
    seconds = time.perf_counter() - started
    s = detector_scores(alarms, [label for _, _, label in files], k=20, seconds_per_point=1.0)
    return {
        "name": name,
        "f1": s.f1,
        "f1_pa": s.f1_pa,
        "pa_k_auc": s.pa_k_auc,
        "event_recall": s.event_recall,
        "far": s.far,
        "mar": s.mar,
        "seconds": seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--detectors", default=None, help="comma-separated subset of the configurations")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"{args.dir}: not a directory")
    configs = configurations()
    chosen = list(configs) if args.detectors is None else args.detectors.split(",")
    unknown = [c for c in chosen if c not in configs]
    if unknown:
        parser.error(f"unknown detector(s) {unknown}; choose from {', '.join(configs)}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    files, skipped = load(args.dir)
    if not files:
        parser.error(f"{args.dir}: no SKAB experiment file found")
    n_test = sum(len(label) for _, _, label in files)
    share = sum(int(label.sum()) for _, _, label in files) / n_test
    print(
        f"{len(files)} files, {n_test} test points, {share:.1%} labelled anomalous; skipped: {dict(skipped) or 'none'}"
    )
    rows = [run("all-ones", None, files)]
    for name in chosen:
        rows.append(run(name, configs[name], files))
        print(f"  {name} done in {rows[-1]['seconds']:.1f} s", file=sys.stderr)
    header = (
        f"{'detector':22s} {'F1':>6s} {'FAR':>6s} {'MAR':>6s} {'F1-PA':>6s} {'PA%K':>6s} {'event':>6s} {'seconds':>8s}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['name']:22s} {r['f1']:6.3f} {r['far']:6.1%} {r['mar']:6.1%} {r['f1_pa']:6.3f} "
            f"{r['pa_k_auc']:6.3f} {r['event_recall']:6.2f} {r['seconds']:8.1f}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"detectors": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
