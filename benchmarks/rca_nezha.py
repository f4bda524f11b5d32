"""Root-cause accuracy of every rca ranking method on a Nezha-layout day.

    python benchmarks/rca_nezha.py ../shared/data/online-boutique-2022-08-22 [--bucket 30s]

The day is read once (``evaluation.load_cases("nezha:PATH")``, which uses
``collectors.read_spans``); a case is usable iff there are spans in the 10 minutes before its
injection and in the 3 minutes after (the rule alone decides; skipped cases are listed
with their reason). Per case, detection runs once (train = [inject - 10 min, inject),
test = [inject, inject + 3 min)) and every method ranks the same evidence. Prints AC@1/3/5,
Avg@5 and mean rank per method, the same per fault type, one line per case, and the time
per case (reading excluded: it is printed separately).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np

import detectors
import rca
from evaluation.datasets import load_cases


def accuracy(ranks: list[int | None]) -> dict[str, float]:
    r = np.array([np.inf if k is None else k for k in ranks], dtype=float)
    out = {f"AC@{k}": float(np.mean(r <= k)) for k in (1, 3, 5)}
    out["Avg@5"] = float(np.mean([np.mean(r <= k) for k in range(1, 6)]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="a Nezha-layout day (label.json + trace/)")
    parser.add_argument("--bucket", default="30s", help="time bucket of the edge series (default 30s)")
    parser.add_argument(
        "--methods",
        nargs="*",
        default=sorted(rca.METHODS),
        choices=sorted(rca.METHODS),
        help="ranking methods (default: all; the default method is rca.DEFAULT_METHOD)",
    )
    parser.add_argument(
        "--detector",
        default="fluxev",
        choices=detectors.available(),
        help="detector run on every series (default: fluxev with rca's short-window settings)",
    )
    parser.add_argument(
        "--detection",
        default="{}",
        help="JSON dict of rca.DetectionConfig fields, for sensitivity runs (e.g. '{\"rel_floor\": 0.1}')",
    )
    parser.add_argument("--verbose", action="store_true", help="print the default method's top-3 reasons")
    args = parser.parse_args(argv)

    detection = rca.DetectionConfig(detector=args.detector, bucket=args.bucket, **json.loads(args.detection))

    t0 = time.perf_counter()
    cases, skipped = load_cases(f"nezha:{args.path}")
    read_seconds = time.perf_counter() - t0
    print(
        f"read {len(cases) + len(skipped)} cases in {read_seconds:.1f} s: {len(cases)} usable, {len(skipped)} skipped"
    )
    for case_id, reason in skipped:
        print(f"  skipped {case_id}: {reason}")

    methods = [rca.DEFAULT_METHOD] + [m for m in dict.fromkeys(args.methods) if m != rca.DEFAULT_METHOD]
    ranks: dict[str, list] = defaultdict(list)
    by_type: dict[tuple[str, str], list] = defaultdict(list)
    seconds = []
    print(f"\n{'case':52s} {'truth':22s} " + " ".join(f"{m:>16s}" for m in methods) + "  default top-3")
    for case in cases:
        start = time.perf_counter()
        result = rca.localize(case.spans, case.inject_time, case.end_time, detection=detection)
        rankings = {m: rca.rank(result.graph, result.evidence, m) for m in methods[1:]}
        rankings[rca.DEFAULT_METHOD] = result.ranking
        seconds.append(time.perf_counter() - start)
        cells = []
        for m in methods:
            k = min((r for r in (rankings[m].rank_of(t) for t in case.root_causes) if r), default=None)
            ranks[m].append(k)
            by_type[(case.fault_type, m)].append(k)
            cells.append(f"{k if k else '-':>16}")
        top = ", ".join(f"{c.service}:{c.score:.1f}" for c in result.ranking.top(3))
        print(f"{case.case_id:52s} {','.join(case.root_causes):22s} " + " ".join(cells) + f"  {top}")
        if args.verbose:
            for c in result.ranking.top(3):
                print(f"      {c.service}: {c.why}")

    print(f"\n{'method':16s} {'AC@1':>6s} {'AC@3':>6s} {'AC@5':>6s} {'Avg@5':>6s} {'cases':>6s}")
    for m in methods:
        a = accuracy(ranks[m])
        print(f"{m:16s} {a['AC@1']:6.3f} {a['AC@3']:6.3f} {a['AC@5']:6.3f} {a['Avg@5']:6.3f} {len(ranks[m]):6d}")
    print("\nper fault type (AC@1 / AC@3 / AC@5 / Avg@5)")
    types = sorted({t for t, _ in by_type})
    print(f"{'fault type':16s} {'n':>3s} " + " ".join(f"{m:>23s}" for m in methods))
    for t in types:
        cells = []
        for m in methods:
            a = accuracy(by_type[(t, m)])
            cells.append(f"{a['AC@1']:.2f} / {a['AC@3']:.2f} / {a['AC@5']:.2f} / {a['Avg@5']:.2f}".rjust(23))
        print(f"{t:16s} {len(by_type[(t, methods[0])]):3d} " + " ".join(cells))
    if seconds:
        print(
            f"\ntime per case (series, detection, all {len(methods)} rankings): "
            f"mean {np.mean(seconds):.2f} s, max {np.max(seconds):.2f} s; reading the day {read_seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
