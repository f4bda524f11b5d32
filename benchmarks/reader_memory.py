"""Memory of the span readers: bytes per span held after loading, and at the peak of the read.

Usage::

    python benchmarks/reader_memory.py ../shared/data/online-boutique-2022-08-22 [--minutes 10] [--copies 4]

It reads ``--minutes`` minute files of the Nezha day once, writes them as a Jaeger UI export
(JSON), as JSON lines and as SpanFrame Parquet (``--copies`` time-shifted copies, row groups of
100k spans), then measures each read in a fresh process (``measure`` below):

- ``held``: resident memory after the read minus before it (the SpanFrame and whatever the
  reader left behind), per span kept;
- ``peak``: the process's peak resident memory minus the memory before the read, per span kept;
- ``frame``: ``DataFrame.memory_usage(deep=True)`` per span (what the SpanFrame itself takes).

For Parquet it also reads a 13-minute window of the copies, to show that a window costs what
it holds. ``--pythonpath DIR`` measures another checkout of the framework (e.g. the commit
before a change) on the same files. Timings are printed too; the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _high_water() -> int:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited over exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def measure(path: str, start: float | None, end: float | None) -> dict:
    import gc
    import warnings

    import collectors

    gc.collect()
    before = _rss()
    _reset_high_water()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = collectors.read_spans(path, start=start, end=end)
    seconds = time.perf_counter() - t
    gc.collect()
    held = _rss() - before
    peak = _high_water() - before
    n = max(len(frame), 1)
    return {
        "spans": len(frame),
        "seconds": round(seconds, 2),
        "held_bytes_per_span": round(held / n),
        "peak_bytes_per_span": round(peak / n),
        "frame_bytes_per_span": round(int(frame.memory_usage(deep=True).sum()) / n),
        "peak_mb": round(peak / 2**20),
    }


def run_measure(path: Path, pythonpath: str | None, start=None, end=None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    args = [sys.executable, __file__, "measure", str(path)]
    if start is not None:
        args += ["--start", str(start), "--end", str(end)]
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def build_files(day: Path, minutes: int, copies: int, folder: Path) -> tuple[dict[str, Path], tuple[float, float]]:
    import pandas as pd

    from collectors import read_spans, to_jaeger_traces, write_spans

    files = sorted((day / "trace").glob("*_trace.csv.gz"))[:minutes]
    spans = read_spans(files[0].parent if len(files) == minutes and minutes >= 127 else _link(files, folder))
    traces = to_jaeger_traces(spans)
    jaeger = folder / "export.json"
    jaeger.write_text(json.dumps({"data": traces}))
    lines = folder / "export.jsonl"
    lines.write_text("".join(json.dumps(t) + "\n" for t in traces))
    span = int(spans["start_us"].max() - spans["start_us"].min()) + 60_000_000
    parts = []
    for k in range(copies):
        part = spans.copy()
        part["start_us"] = part["start_us"] + k * span
        part["trace_id"] = part["trace_id"].astype(str) + f"-{k}"
        parts.append(part.astype(dict.fromkeys(("service", "operation", "pod", "kind", "status"), "object")))
    big = pd.concat(parts, ignore_index=True).sort_values("start_us", kind="stable")
    parquet = folder / "copies.parquet"
    write_spans(big.reset_index(drop=True), parquet)
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    pq.write_table(table, parquet, row_group_size=100_000)
    first = int(spans["start_us"].min()) / 1e6 + span / 1e6
    window = (first, first + 13 * 60)
    return {"jaeger_json": jaeger, "json_lines": lines, "parquet": parquet}, window


def _link(files: list[Path], folder: Path) -> Path:
    target = folder / "minutes"
    target.mkdir()
    for f in files:
        (target / f.name).symlink_to(f.resolve())
    return target


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "measure":
        m = argparse.ArgumentParser(prog="reader_memory.py measure")
        m.add_argument("path")
        m.add_argument("--start", type=float)
        m.add_argument("--end", type=float)
        margs = m.parse_args(argv[1:])
        print(json.dumps(measure(margs.path, margs.start, margs.end)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", help="the Nezha day folder (with trace/)")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--pythonpath", action="append", default=[], help="another checkout to measure as well")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files, window = build_files(Path(args.day), args.minutes, args.copies, Path(tmp))
        print(f"load average {os.getloadavg()[0]:.1f}; files: " + ", ".join(f"{k} {v.stat().st_size >> 20} MB"
                                                                         for k, v in files.items()))  # fmt: skip
        for label, pythonpath in [("this checkout", None)] + [(p, p) for p in args.pythonpath]:
            print(f"\n{label}:")
            for name, path in files.items():
                print(f"  {name:12s} whole file   {run_measure(path, pythonpath)}")
            print(f"  {'parquet':12s} 13-min window {run_measure(files['parquet'], pythonpath, *window)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
