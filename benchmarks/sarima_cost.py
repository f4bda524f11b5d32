"""What one SARIMA fit costs against its seasonal period: the measurement behind ``sarima``'s
``max_period`` (docs/detectors.md; FreeWheel's seed reports more than 5 minutes for an hourly
series with a weekly season, s = 168).

Usage:
    python benchmarks/sarima_cost.py [--periods 12,24,48,96,168] [--cycles 6] [--seed 0]

Per period s: a synthetic series of ``cycles`` seasons (a sine, an AR(1) noise and a slow drift),
then one fit of SARIMA(1, 0, 1)(0, 1, 1)_s by statsmodels' SARIMAX as the detector does it
(``detectors.forecasters.arima.fit_sarimax``: MLE, at most 50 iterations, BLAS on one thread), and
the same with the full order search of ``sarima`` (``select_order``: KPSS, then 4 (p, q) fits).
Prints seconds per fit and per search, and the state dimension of the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from detectors.forecasters.arima import fit_sarimax, select_order  # noqa: E402


def series(period: int, cycles: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = period * cycles
    noise = np.zeros(n)
    e = rng.normal(size=n)
    for t in range(1, n):
        noise[t] = 0.5 * noise[t - 1] + e[t]
    return 100 + 10 * np.sin(2 * np.pi * np.arange(n) / period) + noise + 0.01 * np.arange(n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", default="12,24,48,96,168")
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'period':>6} {'points':>6} {'states':>6} {'fit s':>7} {'search s':>8}")
    for period in (int(p) for p in args.periods.split(",")):
        x = series(period, args.cycles, args.seed)
        t0 = time.perf_counter()
        result = fit_sarimax(x, (1, 0, 1), (0, 1, 1, period))
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        select_order(x, 1, 1, 1, "aic", (0, 1, 1, period))
        search = time.perf_counter() - t0
        states = result.model.k_states if result is not None else -1
        print(f"{period:>6} {len(x):>6} {states:>6} {fit:>7.2f} {search:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
