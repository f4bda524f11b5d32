"""Recorded data sets as streams: span batches in time order, and the labelled faults beside them.

This is what the end-to-end evaluation replays through the monitor (``rca evaluate DATASET
--onset detected``) and what ``rca watch --replay DATASET`` reads. Nothing is read whole: a Nezha
day is read minute file by minute file, a timeline folder's Parquet file batch by batch, a run
folder case folder by case folder. The labels are read from the data set's own label files; which
faults are usable is decided afterwards from the span start times the stream held
(:func:`usable_faults`, the same rule as :func:`evaluation.datasets.load_cases`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from chaos_scenarios.case_folder import RUN_FILE, list_cases, read_label
from chaos_scenarios.case_folder import read_spans as read_case_spans
from chaos_scenarios.timeline import SPANS_FILE, is_timeline, read_timeline
from collectors import make_spanframe, read_spans
from core.times import to_timestamp
from evaluation import nezha
from evaluation.cases import DEFAULT_AFTER, DEFAULT_BEFORE, to_timedelta
from evaluation.errors import EvaluationError

BATCH_ROWS = 50_000


@dataclass(frozen=True)
class Fault:
    """A labelled fault: what the monitor should find."""

    fault_id: str
    root_causes: list[str]
    fault_type: str
    inject_time: pd.Timestamp
    end_time: pd.Timestamp | None


@dataclass
class LabelledStream:
    """A data set as a stream: ``batches()`` yields SpanFrames in time order; ``faults`` the labels."""

    name: str
    layout: str
    faults: list[Fault]
    batches: Callable[[], Iterator[pd.DataFrame]]
    notes: list[str] = field(default_factory=list)


class StartCounter:
    """Span starts per second seen in a stream, for the usability rule (bounded: one count a second)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.first: int | None = None
        self.last: int | None = None

    def add(self, spans: pd.DataFrame) -> None:
        if not len(spans):
            return
        seconds = spans["start_us"].to_numpy(np.int64) // 1_000_000
        values, counts = np.unique(seconds, return_counts=True)
        for s, n in zip(values.tolist(), counts.tolist()):
            self.counts[s] = self.counts.get(s, 0) + n
        lo, hi = int(values[0]), int(values[-1])
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> int:
        lo, hi = int(start.value // 1_000_000_000), int(end.value // 1_000_000_000)
        return sum(n for s, n in self.counts.items() if lo <= s < hi)

    def seconds_with_data(self) -> np.ndarray:
        return np.array(sorted(self.counts), dtype=np.int64)


def usable_faults(
    faults: list[Fault], seen: StartCounter, *, before=DEFAULT_BEFORE, after=DEFAULT_AFTER, min_spans: int = 1
) -> tuple[list[Fault], list[tuple[str, str]]]:
    """Faults with at least ``min_spans`` spans in the ``before`` window before their injection and
    the ``after`` window after it, and the others with the reason."""
    before, after = to_timedelta(before, "before"), to_timedelta(after, "after")
    usable, skipped = [], []
    for fault in faults:
        n_before = seen.between(fault.inject_time - before, fault.inject_time)
        n_after = seen.between(fault.inject_time, fault.inject_time + after)
        problems = []
        if n_before < min_spans:
            problems.append(f"{n_before} spans in the {before} before injection")
        if n_after < min_spans:
            problems.append(f"{n_after} spans in the {after} after injection")
        if problems:
            skipped.append((fault.fault_id, "; ".join(problems)))
        else:
            usable.append(fault)
    return usable, skipped


def open_stream(spec: str | Path) -> LabelledStream:
    """``nezha:PATH``, a timeline folder (``rca suite run --timeline``), a run folder of case
    folders, or a bare path detected by content."""
    text = str(spec)
    prefix, sep, rest = text.partition(":")
    layout = prefix if sep and prefix in ("nezha", "timeline", "cases") else None
    path = Path(rest if layout else text)
    if not path.exists():
        raise EvaluationError(f"{spec}: no such file or directory")
    if layout is None:
        if is_timeline(path):
            layout = "timeline"
        elif nezha.looks_like(path):
            layout = "nezha"
        elif path.is_dir() and ((path / RUN_FILE).is_file() or list_cases(path)):
            layout = "cases"
        else:
            raise EvaluationError(
                f"{spec}: not a data set that can be replayed with labels (a Nezha day, a timeline folder written by "
                "`rca suite run --timeline`, or a run folder of case folders); series-only data sets such as "
                "ChangeRCA hold no spans to replay"
            )
    if layout == "nezha":
        return _nezha(path)
    if layout == "timeline":
        return _timeline(path)
    return _case_folders(path)


def _nezha(path: Path) -> LabelledStream:
    faults = [
        Fault(
            nezha.case_id_of(f),
            [f["service"]],
            str(f["inject_type"]),
            f["inject"],
            f["inject"] + nezha.NOMINAL_FAULT_DURATION,
        )
        for f in nezha.read_labels(path)
    ]
    files = sorted((path / nezha.TRACE_DIR).glob("*_trace.csv*"))
    if not files:
        raise EvaluationError(f"nezha:{path}: no minute trace files in {path / nezha.TRACE_DIR}")

    def batches() -> Iterator[pd.DataFrame]:
        for file in files:
            yield read_spans(file)

    return LabelledStream(
        str(path), "nezha", faults, batches, [f"{len(files)} minute files, read one at a time in name (time) order"]
    )


def _timeline(path: Path) -> LabelledStream:
    info = read_timeline(path)
    faults = [
        Fault(
            label.case_id,
            list(label.root_cause),
            label.fault_type,
            to_timestamp(label.injected_at, "injected_at", error=EvaluationError),
            None
            if label.recovered_at is None
            else to_timestamp(label.recovered_at, "recovered_at", error=EvaluationError),
        )
        for label in info["labels"]
    ]

    def batches() -> Iterator[pd.DataFrame]:
        parquet = pq.ParquetFile(path / SPANS_FILE)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield make_spanframe(batch.to_pandas(), source=str(path / SPANS_FILE), drop_duplicates=False)

    return LabelledStream(
        str(path), "timeline", faults, batches, [f"{info['spans']} spans, lead-in {info['lead_in']:g} s"]
    )


def _case_folders(path: Path) -> LabelledStream:
    folders = list_cases(path)
    if not folders:
        raise EvaluationError(f"cases:{path}: no case folders")
    labels = sorted(((read_label(f), f) for f in folders), key=lambda lf: lf[0].window_start)
    faults = [
        Fault(
            label.case_id,
            list(label.root_cause),
            label.fault_type,
            to_timestamp(label.injected_at, "injected_at", error=EvaluationError),
            None
            if label.recovered_at is None
            else to_timestamp(label.recovered_at, "recovered_at", error=EvaluationError),
        )
        for label, _ in labels
    ]

    def batches() -> Iterator[pd.DataFrame]:
        for _, folder in labels:
            spans = read_case_spans(folder)
            order = np.argsort(spans["start_us"].to_numpy(), kind="stable")
            yield spans.take(order).reset_index(drop=True)

    notes = [
        "case folders replayed one after another in time order; each holds only its own window, so the "
        "monitor's history is short (a timeline folder gives it the history a live system has)"
    ]
    return LabelledStream(str(path), "cases", faults, batches, notes)
