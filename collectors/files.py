"""``read_spans``: one call for a span file or a directory of span files, format detected by content."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from collectors.errors import CollectError
from collectors.formats import detect_format
from collectors.jsonfiles import read_json_spans
from collectors.memory import release_free_memory
from collectors.nezha import read_nezha_csv
from collectors.otlp_proto import read_otlp_protobuf
from collectors.rcaeval import read_rcaeval_csv
from collectors.spanframe import empty_spanframe, make_spanframe
from core.times import format_time, to_us


def read_spans(path, start=None, end=None, *, progress: bool = False) -> pd.DataFrame:
    """Read a span file, or every span file of a directory, into one SpanFrame.

    Only spans whose start lies in ``[start, end)`` are kept (times as Unix seconds, Timestamps
    or ISO strings; ``start`` must be before ``end``). Files of a directory are grouped by
    detected format; files that are not span files are skipped and counted as ``not_span_file``
    on the result. Records that cannot be kept are dropped and counted by reason
    (:data:`collectors.spanframe.SKIP_REASONS`), times in another unit converted and counted
    (``attrs["converted"]``, :mod:`core.units`). Without a window, input that yields no span at
    all is a :class:`CollectError` that says what was skipped; with one, an empty result is a
    valid answer (nothing started in the window).
    """
    if not isinstance(path, (str, Path)) or (isinstance(path, str) and not path.strip()):
        raise CollectError(f"read_spans: expected a path to a span file or directory, got {path!r}")
    path = Path(path)
    start_us, end_us = to_us(start, "start", error=CollectError), to_us(end, "end", error=CollectError)
    if start_us is not None and end_us is not None and start_us >= end_us:
        raise CollectError(
            f"read_spans: start {format_time(start_us / 1e6)} must be before end {format_time(end_us / 1e6)}"
        )
    if not path.exists():
        raise CollectError(f"{path}: no such file or directory")
    frame = _read(path, start_us, end_us, progress)
    release_free_memory()
    if not len(frame) and start_us is None and end_us is None:
        skipped = frame.attrs.get("skipped", {})
        what = ", ".join(f"{k} {v}" for k, v in skipped.items())
        raise CollectError(f"{path}: no span read" + (f" (skipped: {what})" if what else " (it holds no span records)"))
    return frame


def _read(path: Path, start_us, end_us, progress: bool) -> pd.DataFrame:
    skipped: Counter[str] = Counter()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise CollectError(f"{path}: directory holds no files")
        by_format: dict[str, list[Path]] = {}
        for file in files:
            try:
                by_format.setdefault(detect_format(file), []).append(file)
            except CollectError:
                skipped["not_span_file"] += 1
        if not by_format:
            raise CollectError(f"{path}: none of the {len(files)} files is a span file this package knows")
        frames = [_read_group(fmt, group, start_us, end_us, progress) for fmt, group in sorted(by_format.items())]
        return combine(frames, str(path), skipped)
    return _read_group(detect_format(path), [path], start_us, end_us, progress)


def _read_group(fmt: str, files: list[Path], start_us, end_us, progress: bool) -> pd.DataFrame:
    if fmt == "nezha_csv":
        return read_nezha_csv(files, start_us, end_us, progress=progress)
    frames = []
    for file in files:
        if fmt == "parquet":
            frame = read_parquet_spans(file, start_us, end_us)
        elif fmt == "rcaeval_csv":
            frame = _select(read_rcaeval_csv(file), start_us, end_us)
        elif fmt == "otlp_protobuf":
            frame = _select(read_otlp_protobuf(file), start_us, end_us)
        else:
            frame = read_json_spans(file, fmt, start_us, end_us)
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    return combine(frames, f"{len(files)} {fmt} files", Counter())


def read_parquet_spans(path, start_us: int | None = None, end_us: int | None = None) -> pd.DataFrame:
    """SpanFrame of a Parquet file; a window ``[start_us, end_us)`` is pushed down into the read
    (pyarrow skips the row groups whose ``start_us`` statistics lie outside it, and filters the rest),
    so a window costs what it holds."""
    path = Path(path)
    filters = []
    if start_us is not None:
        filters.append(("start_us", ">=", start_us))
    if end_us is not None:
        filters.append(("start_us", "<", end_us))
    if filters and not _microsecond_statistics(path):
        return _select(read_parquet_spans(path), start_us, end_us)
    try:
        data = pd.read_parquet(path, filters=filters or None)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise CollectError(f"{path}: cannot read Parquet: {exc}") from exc
    frame = make_spanframe(data, source=str(path))
    skipped = Counter(frame.attrs.get("skipped", {}))
    stored = data.attrs.get("skipped") if isinstance(data.attrs.get("skipped"), dict) else {}
    skipped.update(stored)
    frame.attrs["skipped"] = dict(sorted(skipped.items()))
    return frame


def _microsecond_statistics(path: Path) -> bool:
    """True when every row group's ``start_us`` statistics say int64 microsecond times, so a
    window on the raw column selects what it would select after the unit rule (core.units)."""
    try:
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.to_arrow_schema().get_field_index("start_us")
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CollectError(f"{path}: cannot read Parquet: {exc}") from exc
    if column < 0:
        return False
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max or stats.physical_type != "INT64":
            return False
        if not (1e14 <= stats.min and stats.max < 1e17):
            return False
    return True


def _select(frame: pd.DataFrame, start_us, end_us) -> pd.DataFrame:
    if start_us is None and end_us is None:
        return frame
    t = frame["start_us"]
    keep = pd.Series(True, index=frame.index)
    if start_us is not None:
        keep &= t >= start_us
    if end_us is not None:
        keep &= t < end_us
    out = frame.loc[keep].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


def combine(frames: list[pd.DataFrame], source: str, skipped: Counter) -> pd.DataFrame:
    frames = [f for f in frames if f is not None]
    for frame in frames:
        skipped.update(frame.attrs.get("skipped", {}))
    if not frames:
        out = empty_spanframe(source)
        out.attrs["skipped"] = dict(skipped)
        return out
    if len(frames) == 1:
        out = frames[0]
        out.attrs["skipped"] = dict(sorted((k, v) for k, v in skipped.items() if v))
        out.attrs["source"] = source
        return out
    data = pd.concat(
        [f.astype(dict.fromkeys(("service", "operation", "pod", "kind", "status"), "object")) for f in frames],
        ignore_index=True,
    )
    return make_spanframe(data, source=source, skipped=skipped)


def write_spans(frame: pd.DataFrame, path) -> Path:
    """Write a SpanFrame to Parquet (skipped counts kept in the file's metadata)."""
    path = Path(path)
    try:
        frame.to_parquet(path, index=False)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise CollectError(f"{path}: cannot write Parquet: {exc}") from exc
    return path
