"""Small multivariate data sets made here (no files): correlated variables with a known break."""

import numpy as np
import pandas as pd


def correlated(n: int = 300, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """Three variables driven by one factor (b = 2a, c = -a, plus noise), one minute apart."""
    rng = np.random.default_rng(seed)
    factor = np.sin(np.arange(n) / 10) + 0.3 * rng.standard_normal(n)
    data = {
        "a": factor + 0.05 * rng.standard_normal(n),
        "b": 2 * factor + 0.05 * rng.standard_normal(n),
        "c": -factor + 0.05 * rng.standard_normal(n),
    }
    return pd.DataFrame(data, index=pd.date_range(start, periods=n, freq="1min", tz="UTC"))
