"""Operation-level ranking on a span data set: where the root-cause service's first operation lands.

    python -m benchmarks.operations_eval nezha:../shared/data/online-boutique-2022-08-22

No data set here labels the faulty operation, so this measures the operation ranking at service
level: per usable case, ``rca.localize(..., operations=True)`` (default settings); the services
in the order of their best operation give a service ranking, scored with AC@1/AC@3/Avg@5 beside
the default service ranking; per fault type too, and the top operation of every case.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

import rca
from evaluation.datasets import load_cases
from evaluation.metrics import rank_of


def scores(ranks: list[int | None]) -> str:
    r = np.array([np.inf if k is None else k for k in ranks], dtype=float)
    avg5 = np.mean([np.mean(r <= k) for k in range(1, 6)])
    return f"AC@1 {np.mean(r <= 1):.2f}  AC@3 {np.mean(r <= 3):.2f}  Avg@5 {avg5:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a span data set spec for evaluation.load_cases")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cases, skipped = load_cases(args.dataset)
    print(f"{args.dataset}: {len(cases)} usable cases, {len(skipped)} skipped")
    default: list[int | None] = []
    by_ops: list[int | None] = []
    per_type: dict[str, list[tuple[int | None, int | None]]] = defaultdict(list)
    for case in cases:
        spans = case.load_spans()
        if spans is None:
            print(f"  {case.case_id}: no spans, skipped")
            continue
        result = rca.localize(spans, case.inject_time, case.end_time, operations=True)
        assert result.operations is not None
        order = list(dict.fromkeys(c.service for c in result.operations.candidates))
        a, b = rank_of(result.ranking.services(), case.root_causes), rank_of(order, case.root_causes)
        default.append(a)
        by_ops.append(b)
        per_type[case.fault_type].append((a, b))
        top = result.operations[0]
        print(
            f"  {case.case_id:50s} default {a}  by operations {b}  top {top.service} / {top.operation} {top.score:.1f}"
        )
    print(f"default service ranking:      {scores(default)}")
    print(f"services by their operations: {scores(by_ops)}")
    for fault, pairs in sorted(per_type.items()):
        print(
            f"  {fault:16s} ({len(pairs)}): default {scores([p[0] for p in pairs])} | by operations "
            f"{scores([p[1] for p in pairs])}"
        )
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
