"""Train Metis' second-level model on labelled series laid out like the KPI data set.

    python -m detectors.metis.train DATA [--out PATH] [--window 180] [--seed 0]

DATA holds ``train/*.csv`` or ``train/*.csv.gz`` with ``timestamp,value,label`` (label 1 =
anomaly); only ``train/`` is read (the shipped default model never saw a test label). Each series
is put on its regular grid and its gaps filled (FluxEV's rule, :mod:`core.preprocessing`); the
period is the day in points. Samples are the points with a week and a window of history that were
observed (not filled): every anomaly; normal points on which a first-level rule fires (the cases
the model decides in the cascade), drawn at random, twice as many as the anomalies; and quiet
normal points, drawn at random, as many as the anomalies (so that p is meaningful where the first
level is quiet). A series with fewer than 500 anomalies contributes 500 of each kind of normal
point (or all it has). Labels follow Metis: 1 =
normal, 0 = anomaly. Without --out the model replaces the shipped default
(``detectors/metis/models/default.ubj``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.detector import DetectorError
from core.preprocessing import fill_missing, points_per_day, regular_grid
from detectors.metis.features import extract_features
from detectors.metis.first_level import first_level
from detectors.metis.model import ROUNDS, train_model
from detectors.metis.windows import rows_from_series

DEFAULT_OUT = Path(__file__).parent / "models" / "default.ubj"
FIRED_PER_ANOMALY = 2
MIN_NORMALS = 500


def series_files(folder: Path) -> list[Path]:
    files = sorted([*folder.glob("*.csv"), *folder.glob("*.csv.gz")])
    if not files:
        raise DetectorError(f"{folder}: no *.csv or *.csv.gz files")
    return files


def read_labelled(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(filled values, filled mask, label, period) of one timestamp,value,label file."""
    frame = pd.read_csv(path)
    missing = {"timestamp", "value", "label"} - set(frame.columns)
    if missing:
        raise DetectorError(f"{path}: missing column(s) {sorted(missing)}")
    grid = regular_grid(frame["timestamp"].to_numpy(), frame["value"].to_numpy(), name=str(path))
    label = np.zeros(len(grid.values), dtype=bool)
    label[~grid.filled] = frame["label"].to_numpy() == 1
    period = points_per_day(grid.interval)
    return fill_missing(grid.values, period), grid.filled, label, period


def samples(values, filled, label, period, window, rng) -> tuple[np.ndarray, np.ndarray, dict]:
    """Metis rows and labels (1 normal, 0 anomaly) of one series (module docstring)."""
    start = 7 * period + window
    if len(values) <= start or window >= period:
        return np.empty((0, 5 * window + 3)), np.empty(0), {"skipped": "too short or window >= period"}
    pos = np.arange(start, len(values))
    pos = pos[~filled[pos]]
    fires = np.zeros(len(pos), dtype=bool)
    for k in range(0, len(pos), 8192):
        fires[k : k + 8192] = first_level(rows_from_series(values, pos[k : k + 8192], window, period))
    anomalous = label[pos]
    budget = max(int(anomalous.sum()), MIN_NORMALS)
    fired_normal = np.flatnonzero(~anomalous & fires)
    quiet_normal = np.flatnonzero(~anomalous & ~fires)
    fired_take = rng.choice(fired_normal, size=min(len(fired_normal), FIRED_PER_ANOMALY * budget), replace=False)
    quiet_take = rng.choice(quiet_normal, size=min(len(quiet_normal), budget), replace=False)
    chosen = np.sort(np.concatenate((np.flatnonzero(anomalous), fired_take, quiet_take)))
    rows = rows_from_series(values, pos[chosen], window, period)
    info = {
        "anomalies": int(anomalous.sum()),
        "fired_normal": f"{len(fired_take)} of {len(fired_normal)}",
        "quiet_normal": f"{len(quiet_take)} of {len(quiet_normal)}",
    }
    return rows, (~anomalous[chosen]).astype(float), info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with train/ (timestamp,value,label files)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model file to write (default: the shipped one)")
    parser.add_argument("--window", type=int, default=180)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=Path, help="also save the samples' features and labels (.npz)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    features, labels = [], []
    for path in series_files(args.data / "train"):
        values, filled, label, period = read_labelled(path)
        rows, normal, info = samples(values, filled, label, period, args.window, rng)
        print(f"{path.name}: period {period}, {info}", file=sys.stderr)
        if len(rows):
            features.append(np.vstack([extract_features(rows[k : k + 8192]) for k in range(0, len(rows), 8192)]))
            labels.append(normal)
    x, y = np.vstack(features), np.concatenate(labels)
    if args.samples:
        np.savez_compressed(args.samples, features=x.astype(np.float32), normal=y)
    print(
        f"{len(y)} samples ({int((y == 0).sum())} anomalous), features in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    train_model(x, y, args.out, rounds=args.rounds, seed=args.seed)
    print(f"model written to {args.out} after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
