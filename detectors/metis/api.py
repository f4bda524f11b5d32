"""Metis' Python API (``Detect.value_predict`` / ``Detect.rate_predict``) on the three windows.

``value_predict(dataA, dataB, dataC)`` ("量值检测", volume-like KPIs): the first level
(3-sigma, EWMA chart, polynomial fit, :mod:`detectors.metis.first_level`) then the xgboost model's
p = P(normal); ret 0 (anomaly) when a first-level rule fires and p < ``threshold`` (0.15), else 1.
``rate_predict`` ("率值检测", ratios assumed normal): 3-sigma only; p is the two-sided normal tail
probability of the deviation, P(|Z| >= |z|), ret 0 when |z| > 3.

Both return ``(ret, p)`` with p a float in [0, 1]. The original's bugs fixed (docs/detectors.md):
any window (w = len(dataA) - 1), floats accepted, no anomaly verdict for mean(dataA) <= 0, p the
model's probability even when no first-level rule fires, rate_predict's input checked like
value_predict's and its p a probability instead of "0"/"1".
"""

from __future__ import annotations

import math
from pathlib import Path

from detectors.metis.first_level import first_level, sigma_deviation
from detectors.metis.model import DEFAULT_MODEL, predict_normal
from detectors.metis.windows import metis_series

THRESHOLD = 0.15


def value_predict(
    dataA, dataB, dataC, window: int | None = None, model: str | Path = DEFAULT_MODEL, threshold: float = THRESHOLD
) -> tuple[int, float]:
    """(ret, p) for the last point of dataA (module docstring)."""
    row, _ = metis_series(dataA, dataB, dataC, window)
    rows = row[None, :]
    p = float(predict_normal(rows, model)[0])
    fires = bool(first_level(rows)[0])
    return (0 if fires and p < threshold else 1), p


def rate_predict(dataA, dataB, dataC, window: int | None = None, k: float = 3.0) -> tuple[int, float]:
    """(ret, p) by 3-sigma on the 5w + 3 values (module docstring)."""
    row, _ = metis_series(dataA, dataB, dataC, window)
    z = abs(float(sigma_deviation(row[None, :])[0]))
    p = math.erfc(z / math.sqrt(2.0)) if math.isfinite(z) else 0.0
    return (0 if z > k else 1), p
