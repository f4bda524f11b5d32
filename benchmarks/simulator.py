"""Speed of the embedded Online-Boutique simulator.

Prints spans generated per second (``SimBackend.collect_spans`` end to end: simulation plus the
validated SpanFrame), the wall time of the smoke suite through the real runner, and the full
suite's time (measured with ``--full``, otherwise estimated from the smoke suite's per-case time).

    .venv/bin/python benchmarks/simulator.py [--repeats 3] [--full]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from chaos_scenarios.runner import plan_cases, run_suite
from chaos_scenarios.simulator import SimBackend
from chaos_scenarios.suite import load_suite


def spans_per_second(repeats: int, window_s: float) -> tuple[float, int, float]:
    """Best-of-``repeats`` rate for one case-sized window (warm-up + fault + cool-down)."""
    best, spans, traces = 0.0, 0, 0.0
    for r in range(repeats):
        backend = SimBackend(seed=r)
        t = time.perf_counter()
        frame = backend.collect_spans(backend.now(), backend.now() + window_s)
        elapsed = time.perf_counter() - t
        if len(frame) / elapsed > best:
            best, spans = len(frame) / elapsed, len(frame)
            roots = frame[frame["parent_id"].isna() & (frame["service"] == "frontend")]
            traces = len(roots) / (window_s / 60.0)
    return best, spans, traces


def run_suite_timed(path: str, seed: int) -> tuple[float, int]:
    suite = load_suite(path)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        written = run_suite(suite, SimBackend(seed=seed), out, progress=True, seed=seed)
        return time.perf_counter() - t, len(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=600.0, help="seconds simulated per measurement")
    parser.add_argument("--full", action="store_true", help="also run the full suite (minutes)")
    args = parser.parse_args()

    rate, spans, traces = spans_per_second(args.repeats, args.window)
    print(
        f"collect_spans over {args.window:.0f} s simulated: {spans:,} spans, "
        f"{traces:,.0f} page traces/min, {rate:,.0f} spans/s (best of {args.repeats})"
    )

    smoke, full = "online-boutique-smoke", "online-boutique-full"
    seconds, n = run_suite_timed(smoke, seed=7)
    print(f"smoke suite: {n} cases in {seconds:.1f} s ({seconds / n:.2f} s/case, incl. Parquet writing)")
    n_full = len(plan_cases(load_suite(full), "estimate"))
    if args.full:
        seconds_full, n_full = run_suite_timed(full, seed=7)
        print(f"full suite: {n_full} cases in {seconds_full / 60:.1f} min (measured)")
    else:
        print(
            f"full suite: {n_full} cases, estimated {n_full * seconds / n / 60:.1f} min "
            f"from the smoke suite's per-case time (run with --full to measure)"
        )


if __name__ == "__main__":
    main()
