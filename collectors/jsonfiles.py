"""JSON span files: Jaeger UI exports (``{"data": [trace, ...]}`` or a bare list of traces),
JSON lines (one Jaeger trace or OTLP document per line), and OTLP JSON files."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pandas as pd

from collectors.errors import CollectError
from collectors.formats import detect_format
from collectors.jaeger_format import read_jaeger_traces
from collectors.otlp import read_otlp


def _text(path: Path) -> str:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
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


def read_json_spans(path, fmt: str | None = None) -> pd.DataFrame:
    """SpanFrame of a Jaeger UI export, an OTLP JSON file or a JSON-lines file of either."""
    path = Path(path)
    text = _text(path)
    if fmt is None:
        fmt = detect_format(path)
    skipped: Counter[str] = Counter()
    if fmt == "json_lines":
        documents = []
        for _number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError:
                skipped["malformed_line"] += 1
        if not documents:
            raise CollectError(f"{path}: no line holds valid JSON")
        if _documents_kind(documents) == "otlp":
            return read_otlp(documents, source=str(path), skipped=skipped)
        traces = []
        for doc in documents:
            traces.extend(_jaeger_traces(doc, path))
        return read_jaeger_traces(traces, source=str(path), skipped=skipped)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CollectError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if fmt == "otlp_json" or (isinstance(document, dict) and "resourceSpans" in document):
        return read_otlp([document], source=str(path), skipped=skipped)
    return read_jaeger_traces(_jaeger_traces(document, path), source=str(path), skipped=skipped)
