"""The monitor's detection when collection loses whole minutes: a data set replayed with random
minutes of spans dropped, as the recorded Online-Boutique day lost 124 of its 251 minute files,
under two monitor settings side by side.

Usage::

    python benchmarks/monitor_gaps.py DATASET [--drop 0.5] [--seeds 0,1,2] [--keep-first 60]
        [--compare gap_confirm_edges=0]

``DATASET`` is named as ``rca evaluate`` names it (``nezha:PATH``, a timeline folder of ``rca
suite run --timeline``, ...). For every seed, each minute after the first ``--keep-first`` minutes
(the lead-in the detectors warm up on) loses all its spans with probability ``--drop``; the faults
still usable afterwards (``evaluation.streams.usable_faults``) are scored. The same thinned
stream goes through the monitor's defaults and through the defaults changed by ``--compare``
(``KEY=VALUE`` of :class:`monitor.MonitorConfig`, repeatable), and a line per run gives usable
faults, recall, precision, median delay and the end-to-end AC@1/AC@3 of explain-upstream (the one
ranking method run, at open and close). One replay of the recorded day takes about 20 s, of the
79-fault timeline (36.6 M spans) about 3 min.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)
import numpy as np


def thinned(stream, drop: float, keep_first_min: int, seed: int):
    """``stream`` with every minute after the first ``keep_first_min`` dropped with probability ``drop``."""
    from evaluation.streams import LabelledStream

    rng = np.random.default_rng(seed)
    decided: set[int] = set()
    lost: set[int] = set()
    first: list[int] = []

    def batches():
        for batch in stream.batches():
            minute = batch["start_us"].to_numpy(np.int64) // 60_000_000
            if not len(minute):
                continue
            if not first:
                first.append(int(minute.min()))
            for m in np.unique(minute).tolist():
                if m not in decided:
                    decided.add(m)
                    if m >= first[0] + keep_first_min and rng.random() < drop:
                        lost.add(m)
            keep = ~np.isin(minute, np.fromiter(lost, dtype=np.int64, count=len(lost)))
            if keep.any():
                yield batch.loc[keep].reset_index(drop=True)

    return LabelledStream(stream.name, stream.layout, stream.faults, batches)


def setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of a :class:`monitor.MonitorConfig` field; VALUE is read as JSON (``0``,
    ``true``, ``["a"]``), or else kept as text (``90s``)."""
    from monitor import MonitorConfig

    key, sep, value = text.partition("=")
    if not sep or key not in {f.name for f in dataclasses.fields(MonitorConfig)}:
        raise SystemExit(f"--compare {text!r}: expected KEY=VALUE with KEY a MonitorConfig field")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--drop", type=float, default=0.5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--keep-first", type=int, default=60, help="minutes kept whole at the start")
    parser.add_argument("--compare", action="append", default=None, help="KEY=VALUE (default gap_confirm_edges=0)")
    args = parser.parse_args(argv)
    if not 0 <= args.drop < 1:
        raise SystemExit(f"--drop {args.drop}: must be in [0, 1)")
    from evaluation import end_to_end as e2e
    from evaluation.streams import open_stream, usable_faults
    from monitor import MonitorConfig

    base = MonitorConfig(methods=("explain-upstream",))
    changed = dict(setting(t) for t in (args.compare or ["gap_confirm_edges=0"]))
    configs = {"defaults": base, " ".join(f"{k}={v}" for k, v in changed.items()): dataclasses.replace(base, **changed)}
    warnings.simplefilter("ignore")
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, config in configs.items():
            started = time.perf_counter()
            stream = thinned(open_stream(args.dataset), args.drop, args.keep_first, seed)
            run = e2e.replay(stream, config)
            usable, skipped = usable_faults(stream.faults, run.seen)
            results = e2e.score(usable, run, ["explain-upstream"], skipped=skipped, monitor=config)
            d, ranked = results["detection"], results["explain-upstream"]
            line = (
                f"seed {seed} {name:>24}: usable {d['faults']:3d} recall {d['recall']:.2f} ({d['detected']}) "
                f"precision {d['precision']:.2f} ({d['matched_incidents']}/{d['incidents']}) "
                f"delay median {d['delay_median_s']} s AC@1 {ranked['AC@1']:.2f} AC@3 {ranked['AC@3']:.2f}"
                f"  [{time.perf_counter() - started:.0f} s]"
            )
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
