"""FluxEV on the AIOps Challenge 2018 KPI data set, with the paper's protocol and settings.

Usage: python benchmarks/fluxev_kpi.py ../shared/data/kpi-aiops2018 [--estimators mom,mle] [--period day|auto]

Per KPI, the train and test files are each put on their own regular grid and filled (paper's
day-based rule), then run as one series: the train part initialises SPOT and the first test
points' features look back into it. period = points per day; s=10, p=5, h=2, q=0.003.
Alarms on filled points are dropped, alarms are point-adjusted with delay 7, and precision,
recall and F1 are pooled over all KPIs. Each run's seconds cover reading, filling, detection
and scoring. The last line is the MOM run's result.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np
import pyarrow.csv as pv_csv
from tqdm import tqdm

from evaluation.point_adjust import point_adjusted_scores
from fluxev import FluxEV, fill_missing, points_per_day, regular_grid

SETTINGS = dict(s=10, p=5, h=2, q=0.003, level=0.98, smoothing=2)
DELAY = 7


def load_part(path: Path):
    table = pv_csv.read_csv(path)
    missing = {"timestamp", "value", "label"} - set(table.column_names)
    if missing:
        raise SystemExit(f"{path}: missing column(s) {sorted(missing)}")
    grid = regular_grid(table.column("timestamp").to_numpy(), table.column("value").to_numpy(), name=str(path))
    label = np.zeros(len(grid.values), dtype=bool)
    label[~grid.filled] = table.column("label").to_numpy() == 1
    period = points_per_day(grid.interval)
    return fill_missing(grid.values, period), grid.filled, label, period


def run_kpi(data: Path, name: str, estimator: str, auto_period: bool = False):
    cpu = time.process_time()
    train, _, _, period = load_part(data / "train" / name)
    if auto_period:
        period = "auto"
    test, test_filled, test_label, _ = load_part(data / "test" / name)
    t0 = time.perf_counter()
    detector = FluxEV(period=period, estimator=estimator, **SETTINGS).fit(train)
    result = detector.detect(test)
    detect_seconds = time.perf_counter() - t0
    return (
        result.alarm & ~test_filled,
        test_label,
        len(train) + len(test),
        detect_seconds,
        detector.spot_.estimation_seconds_,
        detector.spot_.estimations_,
        time.process_time() - cpu,
    )


def run(data: Path, estimator: str, jobs: int, auto_period: bool = False) -> dict:
    start = time.perf_counter()
    cpu = time.process_time()
    names = sorted(p.name for p in (data / "train").glob("*.csv.gz"))
    if not names:
        raise SystemExit(f"{data}/train: no *.csv.gz files")
    if jobs > 1:
        pool = ProcessPoolExecutor(jobs)
        outputs = pool.map(run_kpi, [data] * len(names), names, [estimator] * len(names), [auto_period] * len(names))
    else:
        pool = None
        outputs = (run_kpi(data, name, estimator, auto_period) for name in names)
    results = list(tqdm(outputs, total=len(names), desc=f"FluxEV {estimator.upper()}", unit="KPI", file=sys.stderr))
    if pool is not None:
        pool.shutdown()
    alarms, labels, points, detect_s, estimation_s, estimations, worker_cpu = zip(*results)
    scores = point_adjusted_scores(alarms, labels, delay=DELAY)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu + (sum(worker_cpu) if pool is not None else 0.0)
    return dict(
        estimator=estimator.upper(),
        f1=scores.f1,
        precision=scores.precision,
        recall=scores.recall,
        points=sum(points),
        seconds=seconds,
        cpu_seconds=cpu,
        detect_seconds=sum(detect_s),
        estimation_seconds=sum(estimation_s),
        estimations=sum(estimations),
        kpis=len(names),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="kpi-aiops2018 directory (with train/ and test/)")
    parser.add_argument("--estimators", default="mom,mle", help="comma-separated: mom, mle")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes, one KPI each at a time (default 1; 2 halves the MLE "
        "run's wall time on an idle 2-core machine)",
    )
    parser.add_argument(
        "--period",
        choices=("day", "auto"),
        default="day",
        help="day: points per day from the sampling interval (the paper); auto: FluxEV(period='auto'), "
        "core.period.detect_period on each KPI's training part",
    )
    args = parser.parse_args(argv)
    estimators = [e.strip().lower() for e in args.estimators.split(",") if e.strip()]
    if "mom" not in estimators:
        estimators.insert(0, "mom")
    rows = [run(args.data, e, max(1, args.jobs), args.period == "auto") for e in estimators]
    header = (
        f"{'estimator':<9} {'F1':>7} {'precision':>9} {'recall':>7} {'points':>9} "
        f"{'seconds':>8} {'cpu s':>7} {'points/s':>10} {'detect s':>8} {'estim. s':>8} {'estimations':>11}"
    )
    print(
        f"FluxEV on {rows[0]['kpis']} KPIs, settings {SETTINGS}, period {args.period}, delay {DELAY}, "
        f"{args.jobs} process(es); "
        "cpu/detect/estim. s are summed over processes"
    )
    print(header)
    for r in rows:
        print(
            f"{r['estimator']:<9} {r['f1']:>7.4f} {r['precision']:>9.4f} {r['recall']:>7.4f} "
            f"{r['points']:>9} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} {r['points'] / r['seconds']:>10.0f} "
            f"{r['detect_seconds']:>8.2f} {r['estimation_seconds']:>8.2f} {r['estimations']:>11}"
        )
    mom = next(r for r in rows if r["estimator"] == "MOM")
    print(
        f"f1={mom['f1']:.4f} precision={mom['precision']:.4f} recall={mom['recall']:.4f} "
        f"points={mom['points']} seconds={mom['seconds']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
