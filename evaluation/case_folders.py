"""Case folders written by the ``chaos_scenarios`` runners (Kubernetes or simulator).

Read through :mod:`chaos_scenarios.case_folder`: ``label.json`` gives the root cause,
fault type and the recorded ``injected_at`` / ``recovered_at``; ``spans.parquet`` the
spans of the recorded window, kept whole; ``changes.json`` (when the Kubernetes backend wrote
one) the cluster's rollouts and restarts in that window, as ``Case.changes``. The usability rule of
:func:`evaluation.cases.load_cases` applies. Only the span start times are read up front;
a case's spans are read when it is ranked (``Case.load_spans``), so memory does not grow
with the number of cases.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from chaos_scenarios.case_folder import LABEL_FILE, RUN_FILE, SPANS_FILE, list_cases, read_changes, read_label
from chaos_scenarios.case_folder import read_spans as read_case_spans
from chaos_scenarios.errors import ScenarioError
from core.times import format_time
from evaluation.cases import Case, read_json, to_timestamp, usability
from evaluation.errors import EvaluationError


def load_case_folders(
    path: Path, *, before: pd.Timedelta, after: pd.Timedelta, min_spans: int = 1
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of a run directory (or of one case folder)."""
    path = Path(path)
    if not path.is_dir():
        raise EvaluationError(f"cases:{path}: not a directory")
    folders = list_cases(path)
    listed: list[str] = []
    if (path / RUN_FILE).is_file():
        run = read_json(path / RUN_FILE)
        listed = list(run.get("cases", [])) if isinstance(run, dict) else []
    if not folders and not listed:
        raise EvaluationError(f"cases:{path}: no case folders (a folder with an rca-case/1 label.json)")
    found = {f.name for f in folders}
    skipped = [(cid, f"listed in {RUN_FILE} but no case folder {path / cid}") for cid in listed if cid not in found]
    skipped += unreadable_labels(path, found | set(listed))
    cases = []
    for folder in folders:
        label = read_label(folder)
        starts = _span_starts(folder)
        inject = to_timestamp(label.injected_at, f"{folder / 'label.json'}: injected_at", units=True)
        reason = usability(np.sort(starts), inject, before, after, min_spans)
        if reason is not None:
            skipped.append((label.case_id, reason))
            continue
        end = (
            None
            if label.recovered_at is None
            else to_timestamp(label.recovered_at, f"{folder / 'label.json'}: recovered_at", units=True)
        )
        cases.append(
            Case(
                case_id=label.case_id,
                root_causes=list(label.root_cause),
                fault_type=label.fault_type,
                inject_time=inject,
                end_time=end,
                spans_loader=partial(read_case_spans, folder),
                changes=read_changes(folder),
                metadata={
                    "folder": str(folder),
                    "backend": label.backend,
                    "suite": label.suite,
                    "seed": label.seed,
                    "chaos_kind": label.chaos_kind,
                    "action": label.action,
                    "parameters": label.parameters,
                    "target_pods": label.target_pods,
                    "window": f"{format_time(label.window_start)} to {format_time(label.window_end)}",
                    "spans": len(starts),
                },
            )
        )
    return cases, skipped


def unreadable_labels(path: Path, known: set[str]) -> list[tuple[str, str]]:
    """``(folder name, why)`` for each sub-folder with a ``label.json`` that is not a case label
    (not JSON, another format, a missing field), so that no such case is dropped without a word."""
    if (path / LABEL_FILE).is_file():
        return []
    out = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and p.name not in known):
        if not (folder / LABEL_FILE).is_file():
            continue
        try:
            read_label(folder)
        except ScenarioError as exc:
            out.append((folder.name, f"{LABEL_FILE} unusable: {exc}"))
    return out


def _span_starts(folder: Path) -> np.ndarray:
    """The start times (µs) of a case folder's spans, without reading the spans themselves."""
    path = folder / SPANS_FILE
    if not path.is_file():
        raise ScenarioError(f"{folder}: no {SPANS_FILE}")
    try:
        return pd.read_parquet(path, columns=["start_us"])["start_us"].to_numpy(dtype=np.int64)
    except (OSError, ValueError, KeyError) as exc:
        raise ScenarioError(f"{path}: cannot read span start times ({exc})") from exc
