"""RCAEval's layout: ``<service>_<fault>/<n>/`` with ``traces.csv`` and ``inject_time.txt``.

``inject_time.txt`` holds the injection start in Unix seconds; the root cause is the
folder's service name (everything before the last ``_``; the fault type after it).
PATH may be one case folder, a ``<service>_<fault>`` folder, or any folder above them (the
data set's root with its system folders): every ``inject_time.txt`` below PATH is one case,
and a numbered folder with data but no ``inject_time.txt`` is listed as skipped. A case id is
``<service>_<fault>/<n>`` (its path below PATH when two systems share one). The spans are read with
``collectors.read_spans`` and kept whole (the data set already cut each case's
window); the usability rule of :func:`evaluation.cases.load_cases` applies. RCAEval
does not record when a fault ends, so ``end_time`` is ``None``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collectors import CollectError
from collectors import read_spans as read_span_files
from evaluation.cases import Case, to_timestamp, usability
from evaluation.errors import EvaluationError

INJECT_FILE = "inject_time.txt"
TRACES_FILE = "traces.csv"


def looks_like(path: Path) -> bool:
    return (path / INJECT_FILE).is_file() or next(path.glob(f"**/{INJECT_FILE}"), None) is not None


def service_and_fault(folder_name: str) -> tuple[str, str]:
    """``"ts-auth-service_delay"`` -> ``("ts-auth-service", "delay")``."""
    service, sep, fault = folder_name.rpartition("_")
    if not sep or not service or not fault:
        return folder_name, "unknown"
    return service, fault


def _short_id(folder: Path) -> str:
    """``<service>_<fault>/<n>`` for a numbered case folder, else the folder's name."""
    return f"{folder.parent.name}/{folder.name}" if folder.name.isdigit() else folder.name


def _relative(folder: Path, root: Path) -> str:
    relative = folder.relative_to(root)
    return folder.name if str(relative) == "." else relative.as_posix()


def numbered_without_inject_time(path: Path, cases: set[Path]) -> list[tuple[str, str]]:
    """``(folder, why)`` for each numbered folder ``<service>_<fault>/<n>/`` below ``path`` that
    holds data files but no ``inject_time.txt`` (a case without its label is listed, not dropped)."""
    out = []
    for folder in sorted(p for p in path.glob("**/*") if p.is_dir() and p.name.isdigit() and p not in cases):
        if "_" not in folder.parent.name or (folder / INJECT_FILE).is_file():
            continue
        if any(child.is_file() for child in folder.iterdir()):
            out.append((_relative(folder, path), f"no {INJECT_FILE} (the injection time) in {folder}"))
    return out


def read_inject_time(path: Path) -> pd.Timestamp:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{path}: cannot be read ({exc})") from exc
    if not text:
        raise EvaluationError(f"{path}: empty; expected the injection time in Unix seconds")
    return to_timestamp(text.split()[0], f"{path}: inject_time", units=True)


def load_rcaeval(
    path: Path, *, before: pd.Timedelta, after: pd.Timedelta, min_spans: int = 1, read_spans=None
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of an RCAEval folder; see the module docstring."""
    if read_spans is None:
        read_spans = read_span_files
    path = Path(path)
    inject_files = [path / INJECT_FILE] if (path / INJECT_FILE).is_file() else sorted(path.glob(f"**/{INJECT_FILE}"))
    if not inject_files:
        raise EvaluationError(f"rcaeval:{path}: no {INJECT_FILE} below this folder")
    skipped = numbered_without_inject_time(path, {f.parent for f in inject_files})
    short_ids = [_short_id(f.parent) for f in inject_files]
    cases = []
    for inject_file, short_id in zip(inject_files, short_ids):
        folder = inject_file.parent
        group = folder.parent if folder.name.isdigit() else folder
        service, fault = service_and_fault(group.name)
        case_id = short_id if short_ids.count(short_id) == 1 else _relative(folder, path)
        inject = read_inject_time(inject_file)
        traces = folder / TRACES_FILE
        if not traces.is_file():
            skipped.append((case_id, f"no {TRACES_FILE} in {folder}"))
            continue
        try:
            spans = read_spans(traces)
        except CollectError as exc:
            skipped.append((case_id, f"{TRACES_FILE} unusable: {exc}"))
            continue
        start_us = np.sort(spans["start_us"].to_numpy())
        reason = usability(start_us, inject, before, after, min_spans)
        if reason is not None:
            skipped.append((case_id, reason))
            continue
        cases.append(
            Case(
                case_id=case_id,
                root_causes=[service],
                fault_type=fault,
                inject_time=inject,
                end_time=None,
                spans=spans,
                metadata={
                    "folder": str(folder),
                    "spans": len(spans),
                    "reader_skipped": dict(spans.attrs.get("skipped", {})),
                    "day": inject.strftime("%Y-%m-%d"),
                },
            )
        )
    return cases, skipped
