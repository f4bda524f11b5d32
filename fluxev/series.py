"""FluxEV on pandas objects: a Series, or every column of a DataFrame (see :mod:`core.series`)."""

from __future__ import annotations

import pandas as pd

from core import series as generic
from fluxev.detector import FluxEV


def detect_series(series, train_len=None, train_until=None, fill: bool = False, **params) -> pd.DataFrame:
    """FluxEV(**params) on one series: the first ``train_len`` points (or those up to ``train_until``,
    inclusive) initialise it, the rest are detected; see :func:`core.series.detect_series`
    (``score`` is SSE, or FSE with smoothing 1; NaN during the warm-up)."""
    return generic.detect_series(series, FluxEV(**params), train_len, train_until, fill=fill)


def detect_frame(
    frame: pd.DataFrame, train_len=None, train_until=None, errors: str = "skip", fill: bool = False, **params
) -> pd.DataFrame:
    """FluxEV(**params) on every column of ``frame``; see :func:`core.series.detect_frame`."""
    return generic.detect_frame(frame, FluxEV(**params), train_len, train_until, errors=errors, fill=fill)
