"""JSON span files: Jaeger UI exports (``{"data": [trace, ...]}`` or a bare list of traces),
JSON lines (one Jaeger trace or OTLP document per line), and OTLP JSON files.

Files are read incrementally (:mod:`collectors.jsonstream`: one trace, resource or line at a
time) and the spans are packed into typed columns every :data:`CHUNK_SPANS` spans, so memory
follows the spans kept, not the text of the file; a window ``[start_us, end_us)`` is applied to
each packed chunk.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from collectors.errors import CollectError
from collectors.formats import detect_format
from collectors.jaeger_format import jaeger_rows
from collectors.jsonstream import iter_elements
from collectors.kinds import infer_kinds
from collectors.otlp import otlp_rows, unwrap
from collectors.spanframe import OPTIONAL_INT_COLUMNS, OPTIONAL_STRING_COLUMNS, make_spanframe

CHUNK_SPANS = 50_000
_CATEGORIES = ("service", "operation", "pod", "kind", "status")


def _open(path: Path) -> IO[str]:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise CollectError(f"{path}: cannot read: {exc}") from exc


def _documents_kind(documents: list) -> str:
    for doc in documents:
        if isinstance(doc, dict) and ("resourceSpans" in doc or "result" in doc):
            return "otlp"
    return "jaeger"


def _jaeger_traces(document, path) -> list:
    if isinstance(document, dict) and "data" in document:
        data = document["data"]
        if data is None:
            return []
        if not isinstance(data, list):
            raise CollectError(f"{path}: 'data' must be a list of traces, got {type(data).__name__}")
        return data
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "spans" in document:
        return [document]
    raise CollectError(f"{path}: not a Jaeger trace export (expected {{'data': [...]}}, a list or a trace)")


class SpanChunks:
    """Spans added a few at a time, packed into typed SpanFrame chunks (window applied), joined at the end."""

    def __init__(self, source: str, start_us: int | None = None, end_us: int | None = None):
        self.source, self.start_us, self.end_us = source, start_us, end_us
        self.skipped: Counter[str] = Counter()
        self.converted: Counter[str] = Counter()
        self.rows: dict[str, list] | None = None
        self.chunks: list[pd.DataFrame] = []

    def add(self, rows: dict[str, list]) -> None:
        if self.rows is None:
            self.rows = rows
        else:
            for key, values in rows.items():
                self.rows[key].extend(values)
        if len(self.rows["span_id"]) >= CHUNK_SPANS:
            self._pack()

    def _pack(self) -> None:
        if not self.rows or not self.rows["span_id"]:
            return
        frame = pd.DataFrame(self.rows)
        self.rows = {key: [] for key in self.rows}
        chunk = make_spanframe(frame, source=self.source, drop_duplicates=False, check_cycles=False, warn=False)
        self.skipped.update(chunk.attrs["skipped"])
        self.converted.update(chunk.attrs["converted"])
        if self.start_us is not None or self.end_us is not None:
            start = chunk["start_us"].to_numpy()
            keep = np.ones(len(chunk), dtype=bool)
            if self.start_us is not None:
                keep &= start >= self.start_us
            if self.end_us is not None:
                keep &= start < self.end_us
            chunk = chunk.loc[keep]
        self.chunks.append(chunk.astype(dict.fromkeys(_CATEGORIES, "object")))

    def frame(self) -> pd.DataFrame:
        self._pack()
        if self.chunks:
            data = pd.concat(self.chunks, ignore_index=True) if len(self.chunks) > 1 else self.chunks[0]
        else:
            empty: dict[str, list] = {c: [] for c in jaeger_rows([], Counter())}
            data = pd.DataFrame(empty)
            data["start_us"] = np.zeros(0, dtype=np.int64)
            data["duration_us"] = np.zeros(0, dtype=np.int64)
        self.chunks = []
        for column in (*OPTIONAL_STRING_COLUMNS, *OPTIONAL_INT_COLUMNS):
            if column in data and data[column].isna().all():
                data = data.drop(columns=column)
        frame = make_spanframe(data, source=self.source, skipped=self.skipped, converted=self.converted)
        if len(frame) and (frame["kind"] == "unknown").any():
            frame["kind"] = infer_kinds(frame, only_unknown=True)
        return frame


def read_json_spans(path, fmt: str | None = None, start_us: int | None = None, end_us: int | None = None):
    """SpanFrame of a Jaeger UI export, an OTLP JSON file or a JSON-lines file of either
    (spans starting in ``[start_us, end_us)`` when given)."""
    path = Path(path)
    if fmt is None:
        fmt = detect_format(path)
    chunks = SpanChunks(str(path), start_us, end_us)
    try:
        with _open(path) as handle:
            if fmt == "json_lines":
                _read_lines(handle, path, chunks)
            else:
                _read_document(handle, path, fmt, chunks)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CollectError(f"{path}: cannot read: {exc}") from exc
    return chunks.frame()


def _read_lines(handle: IO[str], path: Path, chunks: SpanChunks) -> None:
    kind = None
    valid = 0
    for line in handle:
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            chunks.skipped["malformed_line"] += 1
            continue
        valid += 1
        if kind is None:
            kind = _documents_kind([document])
        if kind == "otlp":
            chunks.add(otlp_rows([document], chunks.skipped, chunks.converted))
        else:
            chunks.add(jaeger_rows(_jaeger_traces(document, path), chunks.skipped))
    if not valid:
        raise CollectError(f"{path}: no line holds valid JSON")


def _read_document(handle: IO[str], path: Path, fmt: str, chunks: SpanChunks) -> None:
    for key, element in iter_elements(handle, str(path)):
        if key == "resourceSpans":
            chunks.add(otlp_rows([{"resourceSpans": [element]}], chunks.skipped, chunks.converted))
        elif key is not None or (isinstance(element, dict) and element.get("_streamed")):
            if key is not None:
                chunks.add(jaeger_rows([element], chunks.skipped))
        elif fmt == "otlp_json" or (isinstance(element, dict) and ("resourceSpans" in element or "result" in element)):
            documents = unwrap([element])
            chunks.add(otlp_rows(documents, chunks.skipped, chunks.converted))
        elif isinstance(element, list) or not isinstance(element, dict) or "spans" in element or "data" in element:
            if not isinstance(element, (list, dict)):
                raise CollectError(f"{path}: JSON {type(element).__name__}, not a Jaeger or OTLP span export")
            chunks.add(jaeger_rows(_jaeger_traces(element, path), chunks.skipped))
        elif not element:
            continue
        else:
            raise CollectError(f"{path}: JSON, but neither a Jaeger trace export nor OTLP JSON")
