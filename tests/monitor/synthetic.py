"""Synthetic span streams whose answer is known: a three-service chain web -> api -> db, two
requests a second, log-normal latencies, and optional faults (extra latency or errors on one
service over a time range) and collection gaps; and two such chains whose entry services (web,
gate) call the same api and db."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collectors import make_spanframe

S = 1_000_000
T0 = 1_699_999_980 * S
"""The first span's start (µs): 2023-11-14T22:13:00Z, a multiple of 30 s."""


@dataclass(frozen=True)
class Fault:
    service: str
    start_s: float
    end_s: float
    delay_ms: float = 0.0
    error_rate: float = 0.0


def chain_spans(
    seconds: int, *, rate: int = 2, faults: tuple[Fault, ...] = (), gaps: tuple[tuple[float, float], ...] = (), seed=0
) -> pd.DataFrame:
    """A SpanFrame of ``seconds`` of traffic from :data:`T0`: each request is web (server) ->
    api (client + server) -> db (client + server)."""
    rng = np.random.default_rng(seed)
    n = seconds * rate
    offset_s = np.sort(rng.uniform(0, seconds, n))
    keep = np.ones(n, dtype=bool)
    for lo, hi in gaps:
        keep &= ~((offset_s >= lo) & (offset_s < hi))
    offset_s = offset_s[keep]
    n = len(offset_s)
    own = {s: rng.lognormal(np.log(ms * 1000), 0.15, n) for s, ms in (("web", 2.0), ("api", 5.0), ("db", 10.0))}
    failed = {s: np.zeros(n, dtype=bool) for s in own}
    for fault in faults:
        inside = (offset_s >= fault.start_s) & (offset_s < fault.end_s)
        own[fault.service][inside] += fault.delay_ms * 1000
        failed[fault.service] |= inside & (rng.random(n) < fault.error_rate)
    err_db = failed["db"]
    err_api = failed["api"] | err_db
    err_web = failed["web"] | err_api
    start = T0 + (offset_s * S).astype(np.int64)
    db_server = own["db"]
    api_server = own["api"] + db_server + 200
    web_server = own["web"] + api_server + 200
    trace = np.arange(1, n + 1)
    rows = []
    layout = (
        # span, parent, service, kind, start offset µs, duration µs, error
        (1, None, "web", "server", 0, web_server, err_web),
        (2, 1, "web", "client", 100, api_server + 100, err_api),
        (3, 2, "api", "server", 150, api_server, err_api),
        (4, 3, "api", "client", 250, db_server + 100, err_db),
        (5, 4, "db", "server", 300, db_server, err_db),
    )
    for span, parent, service, kind, shift, duration, error in layout:
        rows.append(
            pd.DataFrame(
                {
                    "trace_id": [f"{t:032x}" for t in trace],
                    "span_id": [f"{t:012x}{span:04x}" for t in trace],
                    "parent_id": None if parent is None else [f"{t:012x}{parent:04x}" for t in trace],
                    "service": service,
                    "operation": f"{service}-op",
                    "kind": kind,
                    "start_us": start + shift,
                    "duration_us": np.round(duration).astype(np.int64),
                    "status": np.where(error, "error", "ok"),
                    "pod": f"{service}-1",
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True).sort_values("start_us", kind="stable").reset_index(drop=True)
    return make_spanframe(frame)


def batches(spans: pd.DataFrame, seconds: float = 10.0):
    """The spans in time order, cut into batches of ``seconds`` of start times."""
    t = spans["start_us"].to_numpy(np.int64)
    step = int(seconds * S)
    edges = np.arange(T0, int(t.max()) + step + 1, step)
    cuts = np.searchsorted(t, edges)
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            yield spans.iloc[lo:hi].reset_index(drop=True)


def fan_in_spans(
    seconds: int, *, faults: tuple[Fault, ...] = (), gaps: tuple[tuple[float, float], ...] = (), seed=0
) -> pd.DataFrame:
    """Two independent :func:`chain_spans` streams, the second with ``gate`` in place of ``web``
    (its trace and span ids prefixed ``g``): api has two callers, so a fault of api shows on two
    edges, ``web -> api`` and ``gate -> api``."""
    first = chain_spans(seconds, faults=faults, gaps=gaps, seed=seed)
    second = chain_spans(seconds, faults=faults, gaps=gaps, seed=seed + 1000)
    for column, old, new in (
        ("service", "web", "gate"),
        ("pod", "web-1", "gate-1"),
        ("operation", "web-op", "gate-op"),
    ):
        second[column] = second[column].astype(str).replace(old, new)
    for column in ("trace_id", "span_id", "parent_id"):
        ids = second[column].astype(object)
        second[column] = ids.where(ids.isna(), "g" + ids.str.slice(1))
    frame = pd.concat([first, second], ignore_index=True).sort_values("start_us", kind="stable")
    return make_spanframe(frame.reset_index(drop=True))
