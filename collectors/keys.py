"""Integer keys for span ids: joins and duplicate checks on int64 arrays, not strings.

Span ids are meant to be unique within a trace; in practice (random 64-bit ids) they are
unique across traces too. The fast path factorizes only ``span_id``/``parent_id`` and then
checks that matched rows share their trace id; when a span id repeats across traces it falls
back to keys over (trace_id, span_id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def id_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(span_code, parent_code)``: equal int64 values for equal id strings (-1 for missing)."""
    ids = pd.concat([frame["span_id"], frame["parent_id"]], ignore_index=True)
    codes, _ = pd.factorize(ids, use_na_sentinel=True)
    n = len(frame)
    return codes[:n].astype(np.int64), codes[n:].astype(np.int64)


def span_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(span_key, parent_key)``: equal int64 values for equal (trace_id, id) pairs; -1 when missing."""
    trace_codes, _ = pd.factorize(frame["trace_id"], use_na_sentinel=True)
    span_codes, parent_codes = id_codes(frame)
    width = np.int64(max(int(span_codes.max(initial=-1)), int(parent_codes.max(initial=-1))) + 2)
    trace = trace_codes.astype(np.int64)
    span_key = np.where((trace >= 0) & (span_codes >= 0), trace * width + span_codes, -1)
    parent_key = np.where((trace >= 0) & (parent_codes >= 0), trace * width + parent_codes, -1)
    return span_key, parent_key


def lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of the first row of ``keys`` equal to each ``wanted`` value (-1: none or wanted < 0)."""
    n = len(keys)
    if n == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    pos = np.searchsorted(ordered, wanted, side="left")
    clipped = np.minimum(pos, n - 1)
    found = (pos < n) & (ordered[clipped] == wanted) & (wanted >= 0)
    return np.where(found, order[clipped], -1).astype(np.int64)


def duplicated_keys(*columns: np.ndarray) -> np.ndarray:
    """True for each row whose combination of integer ``columns`` was seen in an earlier row."""
    if len(columns) == 1:
        keys = np.asarray(columns[0])
        out = np.zeros(len(keys), dtype=bool)
        if len(keys) > 1:
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            out[order[1:][ordered[1:] == ordered[:-1]]] = True
        return out
    return pd.DataFrame(dict(enumerate(columns))).duplicated(keep="first").to_numpy()


def fixed_width_view(series: pd.Series) -> np.ndarray | None:
    """Zero-copy ``numpy`` bytes view of an Arrow string column whose values all have one length.

    None when the column has nulls, is not Arrow-backed, or its lengths differ.
    """
    if not (isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow") or not len(series):
        return None
    array = pa.array(series.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    _, offsets_buffer, data_buffer = array.buffers()
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset : array.offset + len(array) + 1]
    width = int(offsets[1] - offsets[0])
    if width <= 0 or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(f"S{width}")


def _same_trace(frame: pd.DataFrame, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    traces = frame["trace_id"]
    view = fixed_width_view(traces)
    if view is not None:
        out = np.empty(len(rows), dtype=bool)
        for lo in range(0, len(rows), 1 << 18):
            hi = lo + (1 << 18)
            out[lo:hi] = view[rows[lo:hi]] == view[others[lo:hi]]
        return out
    if isinstance(traces.dtype, pd.StringDtype) and traces.dtype.storage == "pyarrow":
        array = pa.array(traces.array)
        equal = pc.equal(array.take(pa.array(rows)), array.take(pa.array(others)))
        return np.asarray(pc.fill_null(equal, False), dtype=bool)
    values = traces.to_numpy(dtype=object)
    return np.asarray(values[rows] == values[others], dtype=bool)


def parent_positions(frame: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Row position of each span's parent in ``frame`` (-1: root or parent not in the data)."""
    span_code, parent_code = codes if codes is not None else id_codes(frame)
    if duplicated_keys(span_code[span_code >= 0]).any():
        return lookup(*span_keys(frame))
    parent = lookup(span_code, parent_code)
    rows = np.flatnonzero(parent >= 0)
    if len(rows):
        same = _same_trace(frame, rows, parent[rows])
        parent[rows[~same]] = -1
    return parent


def duplicate_spans(
    frame: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray] | None = None, *, with_first: bool = False
):
    """True for each row whose (trace_id, span_id) appeared in an earlier row.

    With ``with_first``, also the position of that earlier row for each repeated row.
    """
    span_code, _ = codes if codes is not None else id_codes(frame)
    repeated = duplicated_keys(span_code) & (span_code >= 0)
    rows = np.flatnonzero(repeated)
    first = np.zeros(0, dtype=np.int64)
    if len(rows):
        firsts = np.flatnonzero(~repeated)
        first = firsts[lookup(span_code[firsts], span_code[rows])]
        if not _same_trace(frame, rows, first).all():
            span_key, _ = span_keys(frame)
            repeated = duplicated_keys(span_key) & (span_key >= 0)
            rows = np.flatnonzero(repeated)
            firsts = np.flatnonzero(~repeated)
            first = firsts[lookup(span_key[firsts], span_key[rows])]
    return (repeated, first) if with_first else repeated


def cycle_members(parent: np.ndarray) -> np.ndarray:
    """True for each row on a cycle of parent links (``parent``: row of each parent, -1 for none).

    Pointer doubling: after k rounds ``anc`` is the ancestor 2^k levels up, so an acyclic frame
    ends in log2(depth) rounds; a row whose ancestor 2^k >= n levels up still exists is on or
    below a cycle, and that ancestor is on one. The cycles are then walked from those rows.
    """
    n = len(parent)
    anc = np.asarray(parent, dtype=np.int64).copy()
    reach = 1
    while True:
        alive = np.flatnonzero(anc >= 0)
        if not len(alive):
            return np.zeros(n, dtype=bool)
        if reach >= n:
            break
        anc[alive] = anc[anc[alive]]
        reach *= 2
    members = np.zeros(n, dtype=bool)
    frontier = np.unique(anc[alive])
    while len(frontier):
        members[frontier] = True
        step = parent[frontier]
        frontier = np.unique(step[(step >= 0) & ~members[np.maximum(step, 0)]])
    return members
