"""Requests per second and latency of the detection service (docs/service.md) over HTTP.

Usage:
    python benchmarks/service.py [--requests 50] [--json out.json]

Starts the app on a free localhost port (uvicorn on a thread, a fresh data dir) and times, one
request after the other with one keep-alive ``requests.Session``: ``entire/detect`` on a
1,000-point hourly series and ``last/detect`` on a 1,440-point minutely series (a daily cycle with
noise; the period is detected per request, as a client that does not send it would have it), and
``PredictValue`` with Metis' 180-point window. Prints requests/s and the median and 95th
percentile latency in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service import create_app
from service.server import BackgroundServer


def series(n: int, freq: str, period: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    x = 100 + 10 * np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(0, 1, n)
    stamps = pd.date_range("2026-01-01", periods=n, freq=freq)
    return [{"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)} for t, v in zip(stamps, x)]


def metis_body() -> dict:
    rng = np.random.default_rng(1)

    def text(k):
        return ",".join(f"{v:.2f}" for v in 100 + rng.normal(0, 1, k))

    return {
        "viewId": "1",
        "viewName": "v",
        "attrId": "1",
        "attrName": "a",
        "window": 180,
        "time": "2018-10-17 17:28:00",
        "dataC": text(361),
        "dataB": text(361),
        "dataA": text(181),
    }


def measure(session, url: str, body: dict, count: int) -> dict:
    session.post(url, json=body).raise_for_status()  # warm-up (imports, caches)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        session.post(url, json=body).raise_for_status()
        times.append(time.perf_counter() - start)
    t = np.array(times)
    return {
        "requests_per_s": round(float(count / t.sum()), 2),
        "median_ms": round(1000 * float(np.median(t)), 1),
        "p95_ms": round(1000 * float(np.quantile(t, 0.95)), 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    out = {}
    with tempfile.TemporaryDirectory() as data, BackgroundServer(create_app(data)) as srv, requests.Session() as s:
        base = srv.url + "/anomalydetector/v1.1/timeseries"
        cases = {
            "entire/detect 1000 points": (
                base + "/entire/detect",
                {"series": series(1000, "h", 24), "granularity": "hourly"},
            ),
            "last/detect 1440 points": (
                base + "/last/detect",
                {"series": series(1440, "min", 240), "granularity": "minutely"},
            ),
            "PredictValue window 180": (srv.url + "/PredictValue", metis_body()),
        }
        for name, (url, body) in cases.items():
            out[name] = measure(s, url, body, args.requests)
            print(f"{name:28s} {out[name]}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
