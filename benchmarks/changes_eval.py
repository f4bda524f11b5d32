"""What change events add to the ranking, and what they cost when the changed service is innocent.

    python -m benchmarks.changes_eval changerca:../shared/data/changerca-sample
    python -m benchmarks.changes_eval nezha:../shared/data/online-boutique-2022-08-22

Per usable case, detection and the default ranking run once (``rca.localize``, default
settings); the change prior (:func:`rca.apply_changes`) is then applied under these scenarios,
for each ``--boost``:

- ``trace only``: no change events (the default ranking itself);
- ``recorded``: the case's own change events (ChangeRCA: every service of the release plan, the
  faulty one and the innocent ones); cases without any are ranked as ``trace only``;
- ``recorded, innocent only``: the recorded events minus those of the root-cause service (what
  the prior costs when every change is innocent);
- ``root cause changed``: one synthetic rollout of the root-cause service 2 min before the onset;
- ``one innocent changed``: one synthetic rollout of one other candidate service 2 min before
  the onset, for every other candidate in turn, averaged (the expected cost of one innocent change);
- ``root cause + 2 innocent``: the root cause and the two best-ranked other candidates changed
  (several services released at once, as in ChangeRCA; the hardest innocent ones).

Prints AC@1, AC@3 and Avg@5 per scenario and boost.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

import rca
from evaluation.datasets import load_cases
from evaluation.metrics import rank_of

SCENARIOS = (
    "trace only",
    "recorded",
    "recorded, innocent only",
    "root cause changed",
    "one innocent changed",
    "root cause + 2 innocent",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a data set spec for evaluation.load_cases (nezha:PATH, changerca:PATH, ...)")
    parser.add_argument("--boost", type=float, action="append", help="prior boost(s) (default 0.5, 1, 2)")
    args = parser.parse_args(argv)
    boosts = args.boost or [0.5, 1.0, 2.0]
    started = time.perf_counter()
    cases, skipped = load_cases(args.dataset)
    print(f"{args.dataset}: {len(cases)} usable cases, {len(skipped)} skipped ({time.perf_counter() - started:.0f} s)")
    results = []
    for case in cases:
        result = rca.localize(case.load_spans(), case.inject_time, case.end_time, edge_series=case.edge_series)
        results.append((case, result.ranking))
    print(f"detected and ranked in {time.perf_counter() - started:.0f} s")
    lead = pd.Timedelta("2min")
    header = f"{'scenario':28s} {'boost':>5s} {'AC@1':>5s} {'AC@3':>5s} {'Avg@5':>5s}  cases"
    print(header)
    print("-" * len(header))
    for scenario in SCENARIOS:
        for boost in boosts if scenario != "trace only" else [0.0]:
            prior = rca.ChangePrior(boost=boost)
            ranks: list[int | None] = []
            weights: list[float] = []
            for case, ranking in results:
                truth = case.root_causes
                onset = case.inject_time
                others = [s for s in ranking.services() if s not in truth]
                if scenario == "trace only":
                    sets = [[]]
                elif scenario == "recorded":
                    sets = [case.changes]
                elif scenario == "recorded, innocent only":
                    sets = [[c for c in case.changes if c.service not in truth]]
                elif scenario == "root cause changed":
                    sets = [[rca.Change(truth[0], onset - lead)]]
                elif scenario == "one innocent changed":
                    sets = [[rca.Change(s, onset - lead)] for s in others]
                else:
                    sets = [[rca.Change(s, onset - lead) for s in [truth[0], *others[:2]]]]
                for changes in sets:
                    ranks.append(rank_of(rca.apply_changes(ranking, changes, onset, prior).services(), truth))
                    weights.append(1.0 / len(sets))
            r = np.array([np.inf if k is None else k for k in ranks], dtype=float)
            w = np.array(weights)
            acc = {k: float(np.sum(w * (r <= k)) / np.sum(w)) for k in (1, 3)}
            avg5 = float(np.mean([np.sum(w * (r <= k)) / np.sum(w) for k in range(1, 6)]))
            shown = "-" if scenario == "trace only" else f"{boost:g}"
            print(f"{scenario:28s} {shown:>5s} {acc[1]:5.2f} {acc[3]:5.2f} {avg5:5.2f}  {len(results)}")
    with_changes = sum(bool(c.changes) for c, _ in results)
    print(
        f"({with_changes} of {len(results)} cases record change events; {time.perf_counter() - started:.0f} s in all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
