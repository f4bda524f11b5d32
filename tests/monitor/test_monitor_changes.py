"""The monitor asks a change source at each ranking and the change prior shows in the incident's ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rca
from collectors import make_spanframe
from collectors.spanframe import SPAN_COLUMNS
from core.changes import Change
from monitor.errors import MonitorError
from monitor.monitor import Monitor, MonitorConfig

T0 = pd.Timestamp("2024-01-01 01:00:00", tz="UTC")
COLUMNS = list(SPAN_COLUMNS)


def spans(start: pd.Timestamp, end: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """front -> cart and front -> catalog, a trace a second; from T0 on cart spends 50 ms more."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in np.arange(start.timestamp(), end.timestamp(), 1.0):
        base = int(t * 1e6)
        tid = f"t{base}"
        rows.append((tid, "r", None, "front", "GET /", base, 30_000, "server", "ok", "front-1"))
        for k, callee in enumerate(("cart", "catalog")):
            own = int(2000 + rng.normal(0, 100)) + (50_000 if callee == "cart" and t >= T0.timestamp() else 0)
            at = base + 100 + k * 60_000
            rows.append((tid, f"c{k}", "r", "front", f"{callee}.Get", at, own + 500, "client", "ok", "front-1"))
            rows.append((tid, f"s{k}", f"c{k}", callee, f"{callee}.Get", at + 200, own, "server", "ok", f"{callee}-1"))
    return make_spanframe(pd.DataFrame(rows, columns=COLUMNS), source="synthetic")


def run(monitor: Monitor) -> list:
    start = T0 - pd.Timedelta("8min")
    for minute in range(11):
        lo = start + pd.Timedelta(minutes=minute)
        monitor.ingest(spans(lo, lo + pd.Timedelta("1min"), seed=minute))
    monitor.flush()
    return monitor.incidents


CONFIG = dict(
    warmup="4min", history="12min", train_window="4min", min_services=1, methods=("explain-upstream", "max-score")
)


def test_the_change_source_is_asked_and_its_change_shows_in_the_ranking():
    asked = []

    def source(since, until):
        asked.append((since, until))
        return [Change("catalog", T0 - pd.Timedelta("3min"), version="v7"), Change("cart", T0 - pd.Timedelta("2h"))]

    incidents = run(Monitor(MonitorConfig(**CONFIG), changes=source))
    assert incidents, "the slow cart opens an incident"
    incident = incidents[0]
    assert asked[0] == (incident.onset - pd.Timedelta("30min"), incident.onset)
    for method in ("explain-upstream", "max-score"):
        ranking = incident.rankings["open"][method]
        assert ranking[0]["service"] == "cart"  # the innocent change cannot outrank the evidence
        catalog = next(c for c in ranking if c["service"] == "catalog")
        assert catalog["why"].startswith("rolled out v7 at 2024-01-01 00:57:00 UTC")
        assert "rolled out" not in ranking[0]["why"]  # cart's change was 2 h before: outside the window


def test_change_source_arguments_are_checked():
    with pytest.raises(MonitorError, match="changes: expected a callable"):
        Monitor(MonitorConfig(**CONFIG), changes=[1])
    with pytest.raises(MonitorError, match="change_prior: expected rca.ChangePrior"):
        Monitor(MonitorConfig(**CONFIG), change_prior=rca.ChangePrior)
