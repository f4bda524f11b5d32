"""Series for the detection service's tests: Azure points one an hour, a seasonal series with spikes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def hourly(values, start="2026-01-01T00:00:00Z"):
    """Azure series points of ``values``, one an hour."""
    stamps = pd.date_range(start, periods=len(values), freq="h")
    return [{"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)} for t, v in zip(stamps, values)]


def seasonal(n=240, period=24, spike_at=(150,), spike=5.0, seed=0):
    """10 + a daily sine + N(0, 0.1) noise, ``spike`` added at ``spike_at``."""
    rng = np.random.default_rng(seed)
    x = 10 + np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(0, 0.1, n)
    for i in spike_at:
        x[i] += spike
    return x
