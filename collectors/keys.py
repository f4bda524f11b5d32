"""Integer keys for (trace_id, span_id) pairs: joins and duplicate checks on int64, not strings."""
from __future__ import annotations

import numpy as np
import pandas as pd


def span_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(span_key, parent_key)``: equal int64 values for equal (trace_id, id) pairs.

    ``parent_key`` is -1 where ``parent_id`` is missing.
    """
    trace_codes, _ = pd.factorize(frame["trace_id"], use_na_sentinel=True)
    ids = pd.concat([frame["span_id"], frame["parent_id"]], ignore_index=True)
    id_codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    n = len(frame)
    span_codes, parent_codes = id_codes[:n].astype(np.int64), id_codes[n:].astype(np.int64)
    width = np.int64(max(len(uniques), 1))
    trace = trace_codes.astype(np.int64)
    span_key = np.where((trace >= 0) & (span_codes >= 0), trace * width + span_codes, -1)
    parent_key = np.where((trace >= 0) & (parent_codes >= 0), trace * width + parent_codes, -1)
    return span_key, parent_key


def parent_positions_from_keys(span_key: np.ndarray, parent_key: np.ndarray) -> np.ndarray:
    """Row position of each row's parent (first row with that key); -1 when absent."""
    index = pd.Index(span_key)
    if index.has_duplicates:
        first = ~index.duplicated(keep="first")
        positions = np.flatnonzero(first)
        found = pd.Index(span_key[first]).get_indexer(parent_key)
        out = np.where(found >= 0, positions[np.maximum(found, 0)], -1)
    else:
        out = index.get_indexer(parent_key)
    out = np.asarray(out, dtype=np.int64)
    out[parent_key < 0] = -1
    return out


def duplicated_keys(*columns: np.ndarray) -> np.ndarray:
    """True for each row whose combination of integer ``columns`` was seen in an earlier row."""
    if len(columns) == 1:
        return pd.Index(columns[0]).duplicated(keep="first")
    return pd.DataFrame({i: c for i, c in enumerate(columns)}).duplicated(keep="first").to_numpy()
