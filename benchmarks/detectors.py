"""Every registered detector on a labelled data set laid out like the AIOps 2018 KPI set: one table.

Usage:
    python benchmarks/detectors.py DATA [--detectors all|name,...] [--delay 7] [--json out.json]
        [--alarms-out DIR] [--set fluxev.q=0.001 ...] [--period day|auto] [--time-limit 600]

DATA holds ``train/`` and ``test/`` with the same file names (``*.csv`` or ``*.csv.gz``, columns
``timestamp,value,label``). Per series, each part is put on its own regular grid and its gaps are
filled (FluxEV's day rule, ``core.preprocessing``); the detector is fitted on the train part and
detects the test part. Alarms on filled points are dropped. ``period`` is given to every detector
that takes one: the day in points from the sampling interval (``--period day``, FluxEV's protocol)
or "auto" (each detector's own period detection). ``--set name.param=value`` overrides (the value
is read as a Python literal, else as text).

Scores are pooled over all series: point-adjusted F1 with the given delay (the KPI rule,
``evaluation.point_adjust``) and point-wise F1. A series a detector cannot model
(``UnmodelledSeries``) or that comes after the detector used up its time limit (``--time-limit``,
CPU seconds of fit + detect: on a shared machine wall time measures the other jobs) counts with no
alarm (its anomalies are missed) and is listed in ``skipped`` with the reason. Seconds are wall
time of fit + detect, summed over series (CPU seconds beside them: a busy machine shows);
points/s = train + test points / seconds.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import _benchpath  # noqa: F401  (first: this file's name would hide the detectors package)
import numpy as np
import pyarrow.csv as pv_csv

from core.detector import UnmodelledSeries
from core.preprocessing import fill_missing, points_per_day, regular_grid
from detectors import available, detector_class, make_detector
from evaluation.point_adjust import adjust_alarms, pooled_scores


@dataclass
class Part:
    timestamps: np.ndarray
    values: np.ndarray
    filled: np.ndarray
    label: np.ndarray
    period: int


@dataclass
class Row:
    name: str
    alarms: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    fit_seconds: float = 0.0
    detect_seconds: float = 0.0
    cpu_seconds: float = 0.0
    points: int = 0
    skipped: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def univariate() -> list[str]:
    """Every registered detector of one series ("--detectors all"; the multivariate ones take a
    DataFrame and are benchmarked elsewhere)."""
    return [n for n in available() if not detector_class(n).multivariate]


def load_part(path: Path) -> Part:
    table = pv_csv.read_csv(path)
    missing = {"timestamp", "value", "label"} - set(table.column_names)
    if missing:
        raise SystemExit(f"{path}: missing column(s) {sorted(missing)}")
    grid = regular_grid(table.column("timestamp").to_numpy(), table.column("value").to_numpy(), name=str(path))
    label = np.zeros(len(grid.values), dtype=bool)
    label[~grid.filled] = table.column("label").to_numpy() == 1
    period = points_per_day(grid.interval)
    return Part(grid.timestamps, fill_missing(grid.values, period), grid.filled, label, period)


def series_names(data: Path) -> list[str]:
    names = sorted(p.name for p in (data / "train").iterdir() if p.name.endswith((".csv", ".csv.gz")))
    if not names:
        raise SystemExit(f"{data}/train: no *.csv or *.csv.gz files")
    absent = [n for n in names if not (data / "test" / n).is_file()]
    if absent:
        raise SystemExit(f"{data}/test: no test file for {absent[:3]}")
    return names


def parse_sets(items: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise SystemExit(f"--set {item!r}: expected detector.param=value")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(name, {})[param] = value
    return out


def write_alarms(folder: Path, key: str, test: Part, alarm: np.ndarray) -> None:
    """``folder/<series>.csv``: timestamp,alarm for every observed test point (0 throughout for a
    skipped series, which is how it is scored)."""
    folder.mkdir(parents=True, exist_ok=True)
    observed = ~test.filled
    stem = key.removesuffix(".gz").removesuffix(".csv")
    with open(folder / f"{stem}.csv", "w") as fh:
        fh.write("timestamp,alarm\n")
        for ts, a in zip(test.timestamps[observed].tolist(), alarm[observed].astype(int).tolist()):
            fh.write(f"{ts:.0f},{a}\n")


def run_detector(name, params, series, period_mode, time_limit, alarms_out):
    row = Row(name)
    takes_period = "period" in detector_class(name).parameter_names()
    for key, (train, test) in series.items():
        row.points += len(train.values) + len(test.values)
        row.labels.append(test.label)
        alarm = np.zeros(len(test.values), dtype=bool)
        if row.cpu_seconds > time_limit:
            row.skipped[key] = f"time limit of {time_limit:.0f} CPU s reached before this series"
        else:
            p = dict(params)
            if takes_period and "period" not in p:
                p["period"] = train.period if period_mode == "day" else "auto"
            detector = make_detector(name, **p)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                detector.fit(train.values)
            except UnmodelledSeries as exc:
                row.fit_seconds += time.perf_counter() - t0
                row.skipped[key] = str(exc)
            else:
                t1 = time.perf_counter()
                result = detector.detect(test.values)
                row.fit_seconds += t1 - t0
                row.detect_seconds += time.perf_counter() - t1
                alarm = result.alarm & ~test.filled
                chosen = getattr(detector, "chosen_", None)
                if chosen is not None:
                    smape = {k: round(v, 2) for k, v in detector.smape_.items()}
                    row.notes[key] = {"chosen": chosen, "smape": smape}
            row.cpu_seconds += time.process_time() - c0
        row.alarms.append(alarm)
        if alarms_out is not None:
            write_alarms(alarms_out / name, key, test, alarm)
    return row


def summarise(row: Row, delay: int) -> dict:
    labels = np.concatenate(row.labels)
    adjusted = np.concatenate([adjust_alarms(a, lab, delay) for a, lab in zip(row.alarms, row.labels)])
    pa = pooled_scores(adjusted, labels)
    pw = pooled_scores(np.concatenate(row.alarms), labels)
    seconds = row.fit_seconds + row.detect_seconds
    return {
        "name": row.name,
        "f1": pa.f1,
        "precision": pa.precision,
        "recall": pa.recall,
        "f1_pointwise": pw.f1,
        "precision_pointwise": pw.precision,
        "recall_pointwise": pw.recall,
        "seconds": seconds,
        "fit_seconds": row.fit_seconds,
        "detect_seconds": row.detect_seconds,
        "cpu_seconds": row.cpu_seconds,
        "points_per_second": row.points / seconds if seconds > 0 else float("nan"),
        "skipped": row.skipped,
        "notes": row.notes,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with train/ and test/ (timestamp,value,label files)")
    parser.add_argument("--detectors", default="all", help="all (the univariate ones), or comma-separated names")
    parser.add_argument("--delay", type=int, default=7, help="point-adjustment delay (KPI: 7)")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--alarms-out", type=Path, help="write DIR/<detector>/<series>.csv (timestamp,alarm)")
    parser.add_argument("--set", action="append", default=[], help="detector.param=value (repeatable)")
    parser.add_argument("--period", choices=("day", "auto"), default="day", help="period given to detectors")
    parser.add_argument("--time-limit", type=float, default=600.0, help="CPU seconds per detector (fit + detect)")
    args = parser.parse_args(argv)
    names = univariate() if args.detectors == "all" else [n.strip() for n in args.detectors.split(",") if n.strip()]
    settings = parse_sets(args.set)
    unknown = [n for n in list(names) + list(settings) if n not in available()]
    if unknown:
        raise SystemExit(f"unknown detector(s) {unknown}; registered: {', '.join(available())}")
    multivariate = [n for n in names if detector_class(n).multivariate]
    if multivariate:
        raise SystemExit(f"{multivariate}: multivariate detectors (a DataFrame in); this benchmark is univariate")
    for name, params in settings.items():
        make_detector(name, **params)
    started = time.perf_counter()
    series = {
        n: (load_part(args.data / "train" / n), load_part(args.data / "test" / n)) for n in series_names(args.data)
    }
    print(f"read {len(series)} series in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results = []
    for name in names:
        row = run_detector(name, settings.get(name, {}), series, args.period, args.time_limit, args.alarms_out)
        summary = summarise(row, args.delay)
        results.append(summary)
        print(
            f"{name:<11} F1 {summary['f1']:.4f} P {summary['precision']:.4f} R {summary['recall']:.4f} "
            f"F1pw {summary['f1_pointwise']:.4f} {summary['seconds']:8.1f} s (CPU {summary['cpu_seconds']:.1f} s) "
            f"{summary['points_per_second']:>10.0f} pts/s "
            f"skipped {len(summary['skipped'])}",
            file=sys.stderr,
        )
        if args.json:
            args.json.write_text(
                json.dumps({"detectors": results, "delay": args.delay, "period": args.period}, indent=1)
            )
    header = (
        f"{'detector':<11} {'F1 (PA)':>7} {'P':>6} {'R':>6} {'F1 pw':>6} {'fit s':>7} {'detect s':>8} "
        f"{'points/s':>9} skipped"
    )
    print(f"{len(series)} series, delay {args.delay}, period {args.period}")
    print(header)
    for r in results:
        print(
            f"{r['name']:<11} {r['f1']:>7.4f} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1_pointwise']:>6.3f} "
            f"{r['fit_seconds']:>7.1f} {r['detect_seconds']:>8.1f} {r['points_per_second']:>9.0f} {len(r['skipped'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
