"""The Nezha / TraStrainer layout: ``label.json`` + per-minute trace CSVs of one recorded day.

``label.json`` maps an hour to a list of faults
``{"inject_time", "inject_timestamp", "inject_pod", "inject_type"}``; the injection
start is ``inject_timestamp`` (Unix seconds; the wall-clock ``inject_time`` string is
off by tens of seconds in places). The root-cause service is the pod name minus its
two last ``-`` parts (``cartservice-579f59597d-wc2lz`` -> ``cartservice``).

The day's spans are read once (``collectors.read_spans`` on ``trace/``, limited to
the span of all case windows), sorted by start time, and every case gets the slice
``[inject - before, inject + after)``. Which minute files exist does not matter:
spans are selected by their own start time. A fault lasts about three minutes in
this data set (``NOMINAL_FAULT_DURATION``), so ``end_time = inject + 3 min``.

PATH may be one day folder or any folder above day folders (:func:`find_days`): every day is
loaded, and folders with a ``label.json`` that cannot be used are listed as skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from collectors import read_spans as read_span_files
from collectors.errors import CollectError
from collectors.metrics import read_pod_metrics
from core.times import format_time
from evaluation.cases import Case, read_json, to_timestamp, usability
from evaluation.errors import EvaluationError
from rca.metrics import attach_services

LABEL_FILE = "label.json"
TRACE_DIR = "trace"
METRIC_DIR = "metric"
REQUIRED = ("inject_timestamp", "inject_pod", "inject_type")
NOMINAL_FAULT_DURATION = pd.Timedelta(minutes=3)


def looks_like(path: Path) -> bool:
    """A directory with ``label.json`` (hour -> list of faults) and a ``trace/`` folder."""
    if not path.is_dir():
        return False
    if not (path / LABEL_FILE).is_file() or not (path / TRACE_DIR).is_dir():
        return False
    try:
        data = read_json(path / LABEL_FILE)
    except EvaluationError:
        return False
    return isinstance(data, dict) and all(isinstance(v, list) for v in data.values())


def looks_like_root(path: Path, depth: int = 2) -> bool:
    """A day folder, or a folder with one at most ``depth`` levels below it."""
    if looks_like(path):
        return True
    if depth <= 0 or not path.is_dir():
        return False
    return any(p.is_dir() and looks_like_root(p, depth - 1) for p in sorted(path.iterdir()))


def service_of_pod(pod: str) -> str:
    """Kubernetes Deployment pod name -> service: drop the ReplicaSet hash and pod suffix."""
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else pod


def read_labels(path: Path) -> list[dict]:
    """The faults of ``label.json``, validated, in injection order."""
    label_path = path / LABEL_FILE
    data = read_json(label_path)
    if not isinstance(data, dict):
        raise EvaluationError(f"{label_path}: expected an object mapping hours to lists of faults")
    faults = []
    for hour, entries in data.items():
        if not isinstance(entries, list):
            raise EvaluationError(f"{label_path}: entry {hour!r} must be a list of faults")
        for i, entry in enumerate(entries):
            where = f"{label_path}: entry {hour!r}[{i}]"
            if not isinstance(entry, dict):
                raise EvaluationError(f"{where}: expected an object, got {entry!r}")
            missing = [k for k in REQUIRED if k not in entry]
            if missing:
                raise EvaluationError(f"{where}: missing field(s) {missing}")
            pod = entry["inject_pod"]
            if not isinstance(pod, str) or not pod.strip():
                raise EvaluationError(f"{where}: inject_pod must be a pod name, got {pod!r}")
            inject = to_timestamp(entry["inject_timestamp"], f"{where}: inject_timestamp", units=True)
            faults.append({**entry, "inject": inject, "service": service_of_pod(pod.strip()), "where": where})
    faults.sort(key=lambda f: f["inject"])
    return faults


def case_id_of(fault: dict) -> str:
    return f"{fault['inject'].strftime('%Y-%m-%dT%H:%M:%S')}_{fault['service']}_{fault['inject_type']}"


def find_days(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every day folder (``label.json`` + ``trace/``) at or below ``path``, and ``(folder, why)`` for
    folders with a ``label.json`` that cannot be used (no ``trace/``, not a Nezha label).

    A day folder's own sub-folders are not searched.
    """
    days: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(path):
        here = Path(folder)
        dirs.sort()
        if LABEL_FILE not in files:
            continue
        name = here.name if here == path else here.relative_to(path).as_posix()
        if looks_like(here):
            days.append(here)
            dirs[:] = []
        elif not (here / TRACE_DIR).is_dir():
            skipped.append((name, f"{LABEL_FILE} but no {TRACE_DIR}/ folder of minute trace files"))
        else:
            skipped.append((name, f"{LABEL_FILE} is not an object mapping hours to lists of faults"))
    return days, skipped


def load_nezha(
    path: Path, *, before: pd.Timedelta, after: pd.Timedelta, min_spans: int = 1, read_spans=None
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of one Nezha day, or of every day folder below ``path`` (see :func:`find_days`)."""
    path = Path(path)
    if (path / LABEL_FILE).is_file():
        return load_day(path, before=before, after=after, min_spans=min_spans, read_spans=read_spans)
    if not path.is_dir():
        raise EvaluationError(f"nezha:{path}: not a directory")
    days, skipped = find_days(path)
    if not days:
        why = "".join(f"; {n}: {r}" for n, r in skipped[:3])
        raise EvaluationError(f"nezha:{path}: no {LABEL_FILE} with a {TRACE_DIR}/ folder at or below it{why}")
    cases: list[Case] = []
    for day in days:
        day_cases, day_skipped = load_day(day, before=before, after=after, min_spans=min_spans, read_spans=read_spans)
        cases += day_cases
        skipped += day_skipped
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        raise EvaluationError(f"nezha:{path}: case id(s) {duplicated[:3]} occur in two day folders")
    return cases, skipped


def load_day(
    path: Path, *, before: pd.Timedelta, after: pd.Timedelta, min_spans: int = 1, read_spans=None
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of one Nezha day; see the module docstring."""
    if read_spans is None:
        read_spans = read_span_files
    path = Path(path)
    if not (path / LABEL_FILE).is_file():
        raise EvaluationError(f"nezha:{path}: no {LABEL_FILE}")
    trace_dir = path / TRACE_DIR
    if not trace_dir.is_dir():
        raise EvaluationError(f"nezha:{path}: no {TRACE_DIR}/ folder of minute trace files")
    faults = read_labels(path)
    if not faults:
        return [], []
    seen: dict[str, int] = {}
    for fault in faults:
        cid = case_id_of(fault)
        seen[cid] = seen.get(cid, 0) + 1
        fault["case_id"] = cid if seen[cid] == 1 else f"{cid}#{seen[cid]}"

    start = min(f["inject"] for f in faults) - before
    end = max(f["inject"] for f in faults) + after
    spans = read_spans(trace_dir, start=start, end=end)
    start_us = spans["start_us"].to_numpy()
    if len(start_us) > 1 and (np.diff(start_us) < 0).any():
        order = np.argsort(start_us, kind="stable")
        spans = spans.take(order).reset_index(drop=True)
        start_us = start_us[order]
    source_skipped = dict(spans.attrs.get("skipped", {}))
    metrics, metric_skipped = day_metrics(path, spans)

    cases, skipped = [], []
    for fault in faults:
        inject = fault["inject"]
        reason = usability(start_us, inject, before, after, min_spans)
        if reason is not None:
            skipped.append((fault["case_id"], reason))
            continue
        lo, hi = np.searchsorted(start_us, [(inject - before).value // 1000, (inject + after).value // 1000])
        window = spans.iloc[lo:hi].reset_index(drop=True)
        window.attrs = {"source": f"{trace_dir} [{inject - before}, {inject + after})"}
        cases.append(
            Case(
                case_id=fault["case_id"],
                root_causes=[fault["service"]],
                fault_type=str(fault["inject_type"]),
                inject_time=inject,
                end_time=inject + NOMINAL_FAULT_DURATION,
                spans=window,
                metric_series=_window(metrics, inject - before, inject + after),
                metadata={
                    "inject_pod": fault["inject_pod"],
                    "inject_time_label": fault.get("inject_time"),
                    "window": f"{format_time(inject - before)} to {format_time(inject + after)}",
                    "end_time_source": f"nominal fault duration of the data set ({NOMINAL_FAULT_DURATION})",
                    "spans": int(hi - lo),
                    "reader_skipped_whole_day": source_skipped,
                    "day": inject.strftime("%Y-%m-%d"),
                    "folder": str(path),
                    "metrics_skipped": metric_skipped,
                },
            )
        )
    return cases, skipped


def day_metrics(path: Path, spans: pd.DataFrame) -> tuple[pd.DataFrame | None, list[tuple[str, str]]]:
    """The day's per-pod metrics (``metric/<pod>_metric.csv``) as a MetricSeries ``(time, service,
    pod)``, and what was left out; ``(None, [...])`` without a usable ``metric/`` folder.

    A pod's service is the one the spans name for that pod (their ``pod`` column), else the pod
    name minus its two last ``-`` parts (:func:`service_of_pod`)."""
    folder = path / METRIC_DIR
    if not folder.is_dir():
        return None, [(METRIC_DIR, "no metric/ folder")]
    try:
        frame = read_pod_metrics(folder)
    except CollectError as exc:
        return None, [(METRIC_DIR, str(exc))]
    pairs = spans[["pod", "service"]].dropna().drop_duplicates() if len(spans) else spans
    known = {str(p): str(s) for p, s in zip(pairs["pod"], pairs["service"], strict=True) if str(p)}

    def service_of(pod: str) -> str:
        return known.get(pod) or service_of_pod(pod)

    series = attach_services(frame, service_of)
    return series, list(series.attrs.get("skipped", []))


def _window(metrics: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame | None:
    """The rows of the day's MetricSeries in ``[start, end)`` (a case holds its own window only)."""
    if metrics is None:
        return None
    times = metrics.index.get_level_values("time")
    return metrics[(times >= start) & (times < end)]
