"""The monitor end to end on a recorded day: replay speed and peak memory at two replay lengths.

Usage::

    python benchmarks/monitor_replay.py ../shared/data/online-boutique-2022-08-22 [--minutes 60 0] [--profile]

For each length (``--minutes``; 0 = the whole day) a fresh process replays the first that many
minute files of the Nezha-layout day through :class:`monitor.Monitor` with its defaults, every
ranking method run at incident open and close (what ``rca evaluate --onset detected`` does,
without the scoring), and prints: spans, incidents, wall and CPU seconds, seconds spent reading
the files (``read_s``), in the monitor (``monitor_s``) and in rankings (``ranking_s``), spans per
second, and the peak resident memory of the process (VmHWM). Peak memory that stays flat between
the two lengths shows that the monitor's state is bounded. ``--profile`` prints the top functions
by cumulative time for the last length.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import _benchpath  # noqa: F401  (first: keeps benchmarks/detectors.py from hiding the package)


def _high_water_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def replay(day: str, minutes: int, profile: bool) -> dict:
    import cProfile
    import pstats
    import warnings

    from collectors import read_spans
    from evaluation import nezha
    from monitor import Monitor, MonitorConfig

    warnings.simplefilter("ignore")
    files = sorted((Path(day) / nezha.TRACE_DIR).glob("*_trace.csv*"))
    if minutes:
        files = files[:minutes]
    monitor = Monitor(MonitorConfig())
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    read_s = monitor_s = 0.0
    spans = 0
    if profiler:
        profiler.enable()
    for file in files:
        t = time.perf_counter()
        batch = read_spans(file)
        read_s += time.perf_counter() - t
        spans += len(batch)
        t = time.perf_counter()
        monitor.ingest(batch)
        monitor_s += time.perf_counter() - t
    t = time.perf_counter()
    monitor.flush()
    monitor_s += time.perf_counter() - t
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return {
        "minutes": len(files),
        "spans": spans,
        "incidents": monitor.stats.incidents,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "read_s": round(read_s, 2),
        "monitor_s": round(monitor_s - monitor.stats.ranking_seconds, 2),
        "ranking_s": round(monitor.stats.ranking_seconds, 2),
        "spans_per_s": round(spans / (time.perf_counter() - wall)),
        "peak_mb": round(_high_water_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", help="a Nezha-layout day (trace/ minute files, label.json)")
    parser.add_argument("--minutes", type=int, nargs="+", default=[60, 0], help="replay lengths (0 = all)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last length")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(replay(args.day, args.child, args.profile)))
        return
    for i, minutes in enumerate(args.minutes):
        command = [sys.executable, __file__, args.day, "--child", str(minutes)]
        if args.profile and i == len(args.minutes) - 1:
            command.append("--profile")
        out = subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
