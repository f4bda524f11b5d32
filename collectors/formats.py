"""Which span format a file holds, told from its first 64 KiB (never from its name)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from collectors.errors import CollectError
from collectors.nezha import COLUMNS as NEZHA_COLUMNS
from collectors.nezha import is_nezha_header
from collectors.otlp_proto import looks_like_otlp_protobuf
from collectors.rcaeval import REQUIRED as RCAEVAL_COLUMNS
from collectors.rcaeval import canonical as rcaeval_canonical
from collectors.rcaeval import is_rcaeval_header

FORMATS = ("nezha_csv", "rcaeval_csv", "parquet", "jaeger_json", "otlp_json", "json_lines", "otlp_protobuf")


def _head(path: Path, size: int = 64 * 1024) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read(size)
        with open(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise CollectError(f"{path}: cannot read: {exc}") from exc


def detect_format(path) -> str:
    """``nezha_csv``, ``rcaeval_csv``, ``parquet``, ``jaeger_json``, ``otlp_json``, ``json_lines``,
    ``otlp_protobuf``."""
    path = Path(path)
    head = _head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if looks_like_otlp_protobuf(head):
        return "otlp_protobuf"
    text = head.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    if not text:
        raise CollectError(f"{path}: empty file")
    if text[0] in "[{":
        return sniff_json(text, path)
    first_line = text.splitlines()[0]
    fields = [f.strip().strip('"') for f in first_line.split(",")]
    if is_nezha_header(fields):
        return "nezha_csv"
    if is_rcaeval_header(fields):
        return "rcaeval_csv"
    for name, required, present in (
        ("a Nezha span CSV", NEZHA_COLUMNS, {f.strip() for f in fields}),
        ("an RCAEval traces.csv", RCAEVAL_COLUMNS, set(rcaeval_canonical(fields).values())),
    ):
        missing = [c for c in required if c not in present]
        if len(missing) <= 2:
            raise CollectError(f"{path}: looks like {name} but lacks column(s) {missing} (header {first_line[:120]!r})")
    raise CollectError(
        f"{path}: not a span file this package knows (header {first_line[:120]!r}); expected Jaeger/OTLP JSON, "
        "JSON lines, OTLP protobuf, Nezha or RCAEval span CSV, or SpanFrame Parquet"
    )


def sniff_json(text: str, path) -> str:
    """``jaeger_json``, ``otlp_json`` or ``json_lines`` from the first 64 KiB of a JSON file."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        try:
            json.loads(lines[0])
            return "json_lines"
        except json.JSONDecodeError:
            pass
    head = text[:4096]
    if '"resourceSpans"' in head or '"instrumentationLibrarySpans"' in head:
        return "otlp_json"
    if any(key in head for key in ('"traceID"', '"spans"', '"data"')) or text.lstrip().startswith("["):
        return "jaeger_json"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if len(text) < 60 * 1024:
            raise CollectError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    raise CollectError(f"{path}: JSON, but neither a Jaeger trace export nor OTLP JSON")
