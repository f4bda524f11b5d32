import numpy as np
import pytest

PERIOD = 24


def daily_series(n_days=30, period=PERIOD, seed=0, spikes=(), level=20.0):
    """A positive daily-seasonal series with noise; ``spikes`` are (position, size) pairs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days * period)
    x = level + 5 * np.sin(2 * np.pi * t / period) + 2 * np.cos(4 * np.pi * t / period) + rng.normal(0, 0.5, len(t))
    for pos, size in spikes:
        x[pos] += size
    return x


@pytest.fixture
def series():
    return daily_series(spikes=((26 * PERIOD + 5, 15.0), (28 * PERIOD + 11, -12.0)))
