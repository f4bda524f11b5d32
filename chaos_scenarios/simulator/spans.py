"""Columns of simulated spans -> a SpanFrame, without one Python object per span.

Identifiers are random 64-bit integers rendered as lower-case hex straight into Arrow
string buffers (trace ids: 32 hex digits, span ids: 16), the formats Jaeger and OTLP use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from collectors.spanframe import ID_DTYPE, KIND_DTYPE, STATUS_DTYPE, make_spanframe

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_bytes(words: list[np.ndarray]) -> np.ndarray:
    """uint64 words -> (n, 16 * len(words)) ASCII hex digits, most significant word first."""
    n = len(words[0])
    out = np.empty((n, 16 * len(words)), dtype=np.uint8)
    for i, word in enumerate(words):
        raw = word.astype(">u8").view(np.uint8).reshape(n, 8)
        out[:, 16 * i : 16 * i + 16 : 2] = _HEX[raw >> 4]
        out[:, 16 * i + 1 : 16 * i + 16 : 2] = _HEX[raw & 15]
    return out


def hex_id_array(words: list[np.ndarray], valid: np.ndarray | None = None) -> pa.StringArray:
    """Arrow string array of hex ids; rows where ``valid`` is False are null."""
    digits = _hex_bytes(words)
    n, width = digits.shape
    if valid is None:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes()))
    valid = np.asarray(valid, dtype=bool)
    lengths = np.where(valid, width, 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = digits[valid].tobytes()
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(data), pa.py_buffer(bitmap.tobytes()), null_count=int(n - valid.sum())
    )


def _strings(codes: np.ndarray, names: list[str]) -> pd.Series:
    """Arrow-backed string column from integer codes into ``names`` (-1 = null)."""
    dictionary = pa.array(names, type=pa.string())
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    column = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(column), dtype=ID_DTYPE)


def _category(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(names, dtype=object))


def build_spanframe(cols: dict[str, np.ndarray], names: dict[str, list[str]], source: str) -> pd.DataFrame:
    """Assemble a validated SpanFrame from integer-coded span columns.

    ``cols`` holds ``trace_hi, trace_lo, span_id, parent_id`` (uint64; parent 0 = root),
    ``start_us, duration_us`` (int64), ``service, operation, pod, peer, rpc_service, rpc_method``
    (codes into ``names[...]``, -1 = missing), ``kind`` (0 client, 1 server), ``error`` (bool),
    ``grpc_status`` and ``http_status`` (int, -1 = not applicable).
    """
    order = np.lexsort((cols["start_us"], cols["trace_lo"], cols["trace_hi"]))
    c = {k: v[order] for k, v in cols.items()}
    parent = c["parent_id"]
    frame = pd.DataFrame(
        {
            "trace_id": pd.Series(
                pd.arrays.ArrowStringArray(hex_id_array([c["trace_hi"], c["trace_lo"]])), dtype=ID_DTYPE
            ),
            "span_id": pd.Series(pd.arrays.ArrowStringArray(hex_id_array([c["span_id"]]))),
            "parent_id": pd.Series(pd.arrays.ArrowStringArray(hex_id_array([parent], valid=parent != 0))),
            "service": _category(c["service"], names["service"]),
            "operation": _category(c["operation"], names["operation"]),
            "start_us": c["start_us"].astype(np.int64),
            "duration_us": c["duration_us"].astype(np.int64),
            "kind": pd.Categorical.from_codes(np.where(c["kind"] == 1, 0, 1).astype(np.int8), dtype=KIND_DTYPE),
            "status": pd.Categorical.from_codes(np.where(c["error"], 1, 0).astype(np.int8), dtype=STATUS_DTYPE),
            "pod": _category(c["pod"], names["pod"]),
            "peer_service": _strings(c["peer"], names["service"]),
            "rpc_service": _strings(c["rpc_service"], names["rpc_service"]),
            "rpc_method": _strings(c["rpc_method"], names["rpc_method"]),
            "http_status": pd.array(np.where(c["http_status"] < 0, 0, c["http_status"]), dtype="Int64"),
            "grpc_status": pd.array(np.where(c["grpc_status"] < 0, 0, c["grpc_status"]), dtype="Int64"),
        }
    )
    frame.loc[c["http_status"] < 0, "http_status"] = pd.NA
    frame.loc[c["grpc_status"] < 0, "grpc_status"] = pd.NA
    return make_spanframe(frame, source=source)
