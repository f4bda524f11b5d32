"""Speed and memory of spans -> SpanFrame -> ServiceGraph -> 30 s EdgeSeries on a real day.

    python benchmarks/spans_graph.py ../shared/data/online-boutique-2022-08-22

Reads every span file under DATA/trace (or DATA itself when it has no trace/ folder), builds
the per-call table, the service graph, the 30 s EdgeSeries and ServiceSeries, and prints
wall and CPU seconds and spans/s for each stage (the machine may be shared: CPU seconds show
the work done, wall seconds what a user waits). The last line is
``spans=<N> edges=<E> seconds=<S> peak_mb=<M>``: S covers every stage, M is the process's
peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from collectors import read_spans
from graph import build_service_graph, calls, edge_series, service_series


class Clock:
    """Wall and process CPU seconds since the last lap (CPU covers every thread of this process)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="data set folder (with trace/) or a folder of span files")
    parser.add_argument("--bucket", default="30s")
    args = parser.parse_args(argv)
    root = Path(args.data)
    source = root / "trace" if (root / "trace").is_dir() else root

    stages = []
    clock = Clock()
    spans = read_spans(source)
    stages.append(("load SpanFrame", *clock.lap()))
    n = len(spans)
    frame_mb = spans.memory_usage(deep=True).sum() / 2**20

    table = calls(spans)
    stages.append(("per-call table", *clock.lap()))
    graph = build_service_graph(spans, call_table=table)
    stages.append(("service graph", *clock.lap()))
    edges = edge_series(table, bucket=args.bucket)
    stages.append((f"EdgeSeries {args.bucket}", *clock.lap()))
    services = service_series(spans, bucket=args.bucket)
    stages.append((f"ServiceSeries {args.bucket}", *clock.lap()))
    total = sum(wall for _, wall, _ in stages)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"source: {source}")
    print(f"spans: {n}  skipped: {spans.attrs.get('skipped', {})}")
    print(f"SpanFrame memory: {frame_mb:.0f} MB")
    print(
        f"calls: {len(table)}  services: {graph.number_of_nodes()}  edges: {graph.number_of_edges()}  "
        f"EdgeSeries rows: {len(edges)}  ServiceSeries rows: {len(services)}"
    )
    for name, wall, cpu in stages:
        print(f"{name:<22} {wall:7.2f} s wall {cpu:7.2f} s cpu  {n / wall / 1e6:7.2f} M spans/s")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"spans={n} edges={graph.number_of_edges()} seconds={total:.2f} peak_mb={peak_mb:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
