"""Data sets by layout: :func:`load_cases` for every supported layout.

``load_cases(spec)`` accepts ``nezha:PATH``, ``changerca:PATH``, ``rcaeval:PATH``,
``cases:PATH`` (case folders written by ``chaos_scenarios``) or a bare ``PATH``
whose layout is detected by content. It returns ``(cases, skipped)`` where
``skipped`` lists ``(case_id, reason)`` for every case that exists in the data but
cannot be used. A malformed case (unreadable label, missing field, bad column)
raises an error of the framework naming the file and the problem.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from chaos_scenarios.case_folder import RUN_FILE, list_cases
from evaluation import case_folders, changerca, nezha, rcaeval
from evaluation.cases import DEFAULT_AFTER, DEFAULT_BEFORE, Case, to_timedelta
from evaluation.errors import EvaluationError

LOADERS = {
    "nezha": nezha.load_nezha,
    "changerca": changerca.load_changerca,
    "rcaeval": rcaeval.load_rcaeval,
    "cases": case_folders.load_case_folders,
}
LAYOUTS = tuple(LOADERS)


def parse_spec(spec: str | Path) -> tuple[str | None, Path]:
    """``"nezha:PATH"`` -> ``("nezha", PATH)``; a bare path -> ``(None, PATH)``."""
    text = str(spec)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in LAYOUTS:
        return prefix, Path(rest)
    return None, Path(text)


def detect_layout(path: Path) -> str:
    """Tell a data set's layout from its content (see :func:`load_cases`)."""
    if not path.exists():
        raise EvaluationError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise EvaluationError(f"{path}: expected a directory of cases")
    if (path / RUN_FILE).is_file() or list_cases(path):
        return "cases"
    if nezha.looks_like(path):
        return "nezha"
    if changerca.is_case_folder(path):
        return "changerca"
    if (path / rcaeval.INJECT_FILE).is_file():
        return "rcaeval"
    found = [
        name
        for name, test in (
            ("nezha", nezha.looks_like_root),
            ("changerca", changerca.looks_like),
            ("rcaeval", rcaeval.looks_like),
        )
        if test(path)
    ]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise EvaluationError(
            f"{path}: holds data sets of several layouts below it ({', '.join(found)}); "
            f"name one explicitly, e.g. {found[0]}:{path}"
        )
    raise EvaluationError(
        f"{path}: cannot tell the data set's layout (no run.json/case folders, no Nezha label.json "
        f"with trace/, no ChangeRCA <case>.json, no RCAEval inject_time.txt); "
        f"name it explicitly as one of {', '.join(p + ':PATH' for p in LAYOUTS)}"
    )


def load_cases(
    spec: str | Path,
    *,
    before: Any = DEFAULT_BEFORE,
    after: Any = DEFAULT_AFTER,
    min_spans: int = 1,
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Load every case of a data set; returns ``(cases, skipped)``.

    A span-based case is usable iff the data holds at least ``min_spans`` spans in
    ``[inject - before, inject)`` and at least ``min_spans`` in
    ``[inject, inject + after)``; a series-based case likewise needs series
    buckets on both sides. Every other case is listed in ``skipped`` with its
    reason. ``before``/``after`` are seconds or a Timedelta (default 10 and 3 minutes).
    """
    if not isinstance(spec, (str, Path)):
        raise EvaluationError(f"load_cases: expected 'layout:PATH' or a path, got {type(spec).__name__} {spec!r}")
    layout, path = parse_spec(spec)
    before = to_timedelta(before, "before")
    after = to_timedelta(after, "after")
    if before <= pd.Timedelta(0) or after <= pd.Timedelta(0):
        raise EvaluationError(f"before and after must be positive durations, got before={before}, after={after}")
    if isinstance(min_spans, bool) or not isinstance(min_spans, numbers.Integral) or min_spans < 1:
        raise EvaluationError(f"min_spans: must be an integer of at least 1, got {min_spans!r}")
    if layout is None:
        layout = detect_layout(path)
    elif not path.exists():
        raise EvaluationError(f"{layout}:{path}: no such file or directory")
    cases, skipped = LOADERS[layout](path, before=before, after=after, min_spans=min_spans)
    for case in cases:
        case.metadata.setdefault("layout", layout)
        case.metadata.setdefault("dataset", str(path))
    return cases, skipped
