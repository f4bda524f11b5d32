"""The ChangeRCA layout: per-pod per-edge 1-minute series around a faulty release.

A case folder ``<case>/`` holds ``<case>.json`` (``fault``, ``fault_release_service``,
``detect_timestamp``, the release ``plan``) and one CSV per pod and edge,
``<pod>_<caller>_<callee>.csv`` with columns ``Time,Timestamp,SuccessRate,Latency,...``
at one row a minute. Other CSVs (``dependency.csv``, ``source_success.csv``...) and
sub-folders (other tools' outputs) are ignored.

The per-pod rows are aggregated per ``(minute, caller, callee)`` into an EdgeSeries
(``docs/interfaces.md``):

- a file belongs to the *client side* of the edge when the pod is one of the caller's
  (pod name starts with ``"<caller>-"``), to the *server side* when it is one of the
  callee's; a file that matches neither is listed in ``metadata["ignored_files"]``;
- ``Timestamp`` (Unix seconds, a second or so after the minute) is rounded to the
  nearest minute;
- ``Latency`` is a per-pod figure: a pod's files for different edges carry the same
  ``Latency`` values (checked on the sample), so it is the pod's own latency, not the
  edge's. ``server_mean_ms`` = mean ``Latency`` over the callee's pods (milliseconds:
  values of 1-40 for these calls); ``latency_mean_ms`` takes the same value, as the
  EdgeSeries contract says for an edge without a client-side figure (the caller's
  ``Latency`` is the caller's own, not what it waited for this edge). The percentile
  columns are NaN (one figure a minute);
- ``SuccessRate`` is per edge and side (a caller pod's files differ per callee). Both
  sides observe the same calls and a failure recorded by either side is a failure of
  the call, so ``error_rate = max(client-side, server-side)`` of ``1 - SuccessRate/100``,
  each side averaged over its pods with equal weight (the data hold no request counts);
- ``calls`` is the number of pod reports for the edge in that minute (both sides),
  **not** a request count, which the data set does not record; ``calls == 0`` marks a
  minute without any report. ``errors`` is the number of those reports whose
  ``SuccessRate`` is below 100. ``frame.attrs["calls_are"] = "pod reports"`` says so.

PATH may be one case folder or any folder above case folders (the published ``data/`` folder,
one folder per day): :func:`find_case_folders` finds them at any depth and lists what it skipped.

Fault start: ``detect_timestamp``. The JSON's ``plan`` gives the faulty service's
first release step (``release_time``, about a minute before its rollout completes);
The plan becomes the case's change events (:func:`plan_changes`, ``Case.changes``): every
service released in the experiment, the faulty one and the innocent ones alike.
``detect_timestamp`` is the first whole minute at which the new version's pod reports
traffic (its CSV starts there) and, in the sample, the minute at which its errors
appear. The fault persists until the end of the experiment, so ``end_time`` is
``None``. The release times are kept in ``metadata``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import units
from core.changes import Change
from evaluation.cases import Case, read_json, to_timestamp, usability
from evaluation.errors import EvaluationError

REQUIRED_KEYS = ("fault_release_service", "detect_timestamp")
REQUIRED_COLUMNS = ("Timestamp", "SuccessRate", "Latency")
METRIC_COLUMNS = ("CPUUsageRate(%)", "MemoryUsageRate(%)")
"""The pod's own metrics a file may carry beside the edge's (``Case.metric_series``)."""
BUCKET = pd.Timedelta(minutes=1)
UNIT_FACTORS = np.array([units.UNITS[u] for u in ("s", "ms", "us", "ns")], dtype=np.float64)
LAST_SECOND = pd.Timestamp.max.value // 10**9
SERIES_COLUMNS = (
    "calls",
    "errors",
    "error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "server_mean_ms",
    "server_p50_ms",
    "server_p90_ms",
    "server_p99_ms",
)


def case_json(folder: Path) -> Path:
    return folder / f"{folder.name}.json"


def is_case_folder(folder: Path) -> bool:
    path = case_json(folder)
    if not path.is_file():
        return False
    try:
        data = read_json(path)
    except EvaluationError:
        return False
    return isinstance(data, dict) and "fault_release_service" in data


def looks_like(path: Path, depth: int = 3) -> bool:
    """A ChangeRCA case folder, or a folder with one at most ``depth`` levels below it."""
    if is_case_folder(path):
        return True
    if depth <= 0:
        return False
    return any(p.is_dir() and looks_like(p, depth - 1) for p in sorted(path.iterdir()))


def edge_files(folder: Path) -> list[tuple[Path, str, str, str]]:
    """``(file, pod, caller, callee)`` for every ``<pod>_<caller>_<callee>.csv``."""
    out = []
    for file in sorted(folder.glob("*.csv")):
        parts = file.stem.rsplit("_", 2)
        if len(parts) == 3 and all(parts):
            out.append((file, parts[0], parts[1], parts[2]))
    return out


def read_edge_file(file: Path) -> pd.DataFrame:
    """One per-pod edge CSV -> columns ``Timestamp, SuccessRate, Latency`` and those of
    :data:`METRIC_COLUMNS` it has (floats)."""
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{file}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise EvaluationError(f"{file}: missing column(s) {missing}; has {list(frame.columns)}")
    extra = [c for c in METRIC_COLUMNS if c in frame.columns]
    frame = frame[[*REQUIRED_COLUMNS, *extra]]
    for column in (*REQUIRED_COLUMNS, *extra):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise EvaluationError(
                f"{file}: column {column!r} row {row + 2} has {frame[column].iloc[row]!r}, not a number"
            )
        frame[column] = values.astype(float)
    if frame["Timestamp"].isna().any():
        row = int(np.flatnonzero(frame["Timestamp"].isna().to_numpy())[0])
        raise EvaluationError(f"{file}: row {row + 2} has no Timestamp")
    stamps = frame["Timestamp"].to_numpy()
    codes = units.unit_codes(stamps, "s")
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise EvaluationError(f"{file}: column 'Timestamp' row {row + 2} has {float(stamps[row])!r}, not a Unix time")
    converted = units.conversions(codes, "s", "Timestamp")
    if converted:
        frame["Timestamp"] = stamps / np.take(UNIT_FACTORS, codes)
        units.warn_converted(converted, str(file), "s")
    if (frame["Timestamp"] < 0).any() or (frame["Timestamp"] > LAST_SECOND).any():
        raise EvaluationError(f"{file}: column 'Timestamp' holds times before 1970 or after 2262")
    return frame


def build_edge_series(folder: Path) -> tuple[pd.DataFrame, list[str], pd.DataFrame, pd.DataFrame | None]:
    """The case's EdgeSeries, the names of the files that matched neither end of their edge, its
    PodSeries (:func:`pod_series_of`) and its MetricSeries (:func:`metric_series_of`; None without
    CPU or memory columns)."""
    rows, ignored = [], []
    for file, pod, caller, callee in edge_files(folder):
        if pod.startswith(callee + "-"):
            end = "server"
        elif pod.startswith(caller + "-"):
            end = "client"
        else:
            ignored.append(f"{file.name}: pod {pod!r} belongs to neither {caller!r} nor {callee!r}")
            continue
        frame = read_edge_file(file)
        if frame.empty:
            continue
        frame["caller"], frame["callee"], frame["side"], frame["pod"] = caller, callee, end, pod
        rows.append(frame)
    if not rows:
        raise EvaluationError(f"{folder}: no <pod>_<caller>_<callee>.csv edge files")
    data = pd.concat(rows, ignore_index=True)
    seconds = (data["Timestamp"] / 60.0).round() * 60.0
    data["time"] = pd.to_datetime(seconds.astype("int64"), unit="s", utc=True).astype("datetime64[ns, UTC]")
    data["failed"] = data["SuccessRate"] < 100.0
    grouped = data.groupby(["time", "caller", "callee", "side"], observed=True).agg(
        reports=("SuccessRate", "size"),
        failed=("failed", "sum"),
        success=("SuccessRate", "mean"),
        latency=("Latency", "mean"),
    )
    wide = grouped.unstack("side")

    def side(column: str, name: str) -> pd.Series:
        if (column, name) in wide.columns:
            return wide[(column, name)]
        return pd.Series(np.nan, index=wide.index)

    server_latency = side("latency", "server")
    failed_share = pd.concat([1.0 - side("success", "client") / 100.0, 1.0 - side("success", "server") / 100.0], axis=1)
    out = pd.DataFrame(index=wide.index)
    out["calls"] = side("reports", "client").fillna(0) + side("reports", "server").fillna(0)
    out["errors"] = side("failed", "client").fillna(0) + side("failed", "server").fillna(0)
    out["error_rate"] = failed_share.max(axis=1, skipna=True)
    out["latency_mean_ms"] = server_latency
    out["server_mean_ms"] = server_latency

    times = pd.date_range(
        out.index.get_level_values("time").min(), out.index.get_level_values("time").max(), freq=BUCKET, tz="UTC"
    )
    edges = out.index.droplevel("time").unique().sort_values()
    full = pd.MultiIndex.from_tuples([(t, a, b) for t in times for a, b in edges], names=["time", "caller", "callee"])
    out = out.reindex(full)
    out["calls"] = out["calls"].fillna(0).astype("int64")
    out["errors"] = out["errors"].fillna(0).astype("int64")
    for column in SERIES_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    out = out[list(SERIES_COLUMNS)]
    out.attrs["bucket"] = BUCKET
    out.attrs["calls_are"] = "pod reports"
    out.attrs["source"] = str(folder)
    return out, ignored, pod_series_of(data), metric_series_of(data)


def metric_series_of(data: pd.DataFrame) -> pd.DataFrame | None:
    """MetricSeries ``(time, service, pod)``: each pod's CPU and memory usage rates of a minute, the
    mean over its files (a pod's files for different edges, client and server side alike, carry
    its own figures); the pod's service is the end of the edge it belongs to. None when no file
    has those columns."""
    columns = [c for c in METRIC_COLUMNS if c in data.columns and data[c].notna().any()]
    if not columns:
        return None
    service = data["callee"].where(data["side"] == "server", data["caller"])
    frame = data.assign(service=service)
    out = frame.groupby(["time", "service", "pod"], observed=True)[columns].mean()
    out.attrs["bucket"] = BUCKET
    return out.sort_index()


def pod_series_of(data: pd.DataFrame) -> pd.DataFrame:
    """PodSeries ``(time, service, pod)`` of the server side: each callee pod's reports of a minute
    (one per edge into it): ``calls`` = reports, ``errors`` = reports below 100 % success,
    ``error_rate`` = 1 - mean ``SuccessRate`` / 100, ``latency_mean_ms`` = mean ``Latency``."""
    server = data[data["side"] == "server"].rename(columns={"callee": "service"})
    grouped = server.groupby(["time", "service", "pod"], observed=True)
    out = pd.DataFrame(
        {
            "calls": grouped["SuccessRate"].size().astype("int64"),
            "errors": grouped["failed"].sum().astype("int64"),
            "error_rate": 1.0 - grouped["SuccessRate"].mean() / 100.0,
            "latency_mean_ms": grouped["Latency"].mean(),
        }
    )
    out.attrs["bucket"] = BUCKET
    return out.sort_index()


def find_case_folders(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every case folder at or below ``path``, and ``(folder, why)`` for folders that look like one but are not.

    The data set as published (its ``data/`` folder) holds one folder per day and one per case
    below it; any depth is accepted. A case folder's own sub-folders (other tools' outputs) are not
    searched. Listed as skipped: a folder whose ``<name>.json`` is not a ChangeRCA label (invalid
    JSON, no ``fault_release_service``), and a folder of ``<pod>_<caller>_<callee>.csv`` files
    without a ``<name>.json``.
    """
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(path):
        here = Path(folder)
        dirs.sort()
        name = _relative(here, path)
        if f"{here.name}.json" in files:
            reason = _not_a_label(case_json(here))
            if reason is None:
                found.append(here)
                dirs[:] = []  # a case folder's sub-folders hold other tools' outputs
                continue
            skipped.append((name, reason))
        elif n_edges := len(edge_files(here)):
            skipped.append((name, f"{n_edges} edge CSV file(s) but no {here.name}.json label"))
    return found, skipped


def _relative(folder: Path, root: Path) -> str:
    relative = folder.relative_to(root)
    return folder.name if str(relative) == "." else relative.as_posix()


def _not_a_label(path: Path) -> str | None:
    try:
        data = read_json(path)
    except EvaluationError as exc:
        return f"{path.name} unusable: {exc}"
    if not isinstance(data, dict):
        return f"{path.name} is not a JSON object"
    if "fault_release_service" not in data:
        return f"{path.name} has no fault_release_service (not a ChangeRCA case label)"
    return None


STEP_FIELDS = ("release_pod", "delete_pod", "release_complete_time", "release_complete_timestamp")


def plan_changes(plan: Any, where: str) -> list[Change]:
    """The release ``plan`` of a case as change events: one :class:`Change` per rollout step.

    A service's plan has ``release_time`` (the start of its rollout) and ``process``, one step per
    new pod: the per-version pod counts after the step (``v1: 4, v2: 1``), ``release_pod``,
    ``delete_pod`` and ``release_complete_timestamp``. Steps are ordered by completion. The first
    step is dated by ``release_time``; a later step by its ``release_complete_timestamp`` (the
    steps' own keys are not in time order in the data and are not used). The version rolled out
    is the one that holds the most pods after the last step.
    """
    if plan is None:
        return []
    if not isinstance(plan, dict):
        raise EvaluationError(f"{where}: plan must be an object mapping services to releases, got {plan!r}")
    changes = []
    for service, release in plan.items():
        here = f"{where}: plan.{service}"
        if not isinstance(release, dict):
            raise EvaluationError(f"{here}: expected an object, got {release!r}")
        start = to_timestamp(release.get("release_time"), f"{here}.release_time", units=True)
        process = release.get("process") or {}
        if not isinstance(process, dict):
            raise EvaluationError(f"{here}.process: expected an object of steps, got {process!r}")
        steps = []
        for key, step in process.items():
            if not isinstance(step, dict):
                raise EvaluationError(f"{here}.process.{key}: expected an object, got {step!r}")
            done = to_timestamp(
                step.get("release_complete_timestamp"), f"{here}.process.{key}.release_complete_timestamp", units=True
            )
            steps.append((done, key, step))
        steps.sort(key=lambda s: s[0])
        if not steps:
            changes.append(Change(service, start, "rollout", "release started (no steps recorded)"))
            continue
        last = steps[-1][2]
        counts = {k: v for k, v in last.items() if k not in STEP_FIELDS and isinstance(v, int)}
        version = max(counts, key=lambda k: counts[k]) if counts else ""
        target = release.get("target_replica")
        for i, (done, _key, step) in enumerate(steps):
            new = [str(p) for p in step.get("release_pod") or []]
            old = [str(p) for p in step.get("delete_pod") or []]
            share = f"{step.get(version)}/{target} pods on {version}" if version in step and target else ""
            detail = ", ".join(
                x for x in (f"{' '.join(new)} replaces {' '.join(old)}" if new and old else "", share) if x
            )
            when = start if i == 0 else done
            changes.append(
                Change(service, when, "rollout", detail if i == 0 else f"step {i + 1}: {detail}", version, tuple(new))
            )
    return sorted(changes, key=lambda c: (c.time, c.service))


def load_changerca(
    path: Path, *, before: pd.Timedelta, after: pd.Timedelta, min_spans: int = 1
) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of a ChangeRCA folder: one case folder, or any folder above case folders (the data set's
    ``data/`` root with its day folders); see :func:`find_case_folders`. A case id is the case
    folder's name (its path below ``path`` when two folders share a name)."""
    path = Path(path)
    if not path.is_dir():
        raise EvaluationError(f"changerca:{path}: not a directory")
    folders, skipped = find_case_folders(path)
    if not folders:
        why = "; ".join(f"{n}: {r}" for n, r in skipped[:3])
        raise EvaluationError(
            f"changerca:{path}: no case folder with a <case>.json at or below it" + (f" ({why})" if why else "")
        )
    names = [f.name for f in folders]
    cases: list[Case] = []
    for folder in folders:
        case_id = folder.name if names.count(folder.name) == 1 else _relative(folder, path)
        label_path = case_json(folder)
        label = read_json(label_path)
        if not isinstance(label, dict):
            raise EvaluationError(f"{label_path}: expected a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in label]
        if missing:
            raise EvaluationError(f"{label_path}: missing field(s) {missing}")
        service = label["fault_release_service"]
        if not isinstance(service, str) or not service:
            raise EvaluationError(f"{label_path}: fault_release_service must be a service name, got {service!r}")
        inject = to_timestamp(label["detect_timestamp"], f"{label_path}: detect_timestamp", units=True)
        series, ignored, pods, metrics = build_edge_series(folder)
        reporting = series.index.get_level_values("time")[series["calls"].to_numpy() > 0]
        times_us = np.unique(reporting.asi8 // 1000)
        reason = usability(times_us, inject, before, after, min_spans, what="reporting minutes")
        if reason is not None:
            skipped.append((case_id, reason))
            continue
        plan = label.get("plan") or {}
        release = plan.get(service, {}) if isinstance(plan, dict) else {}
        changes = plan_changes(label.get("plan"), str(label_path))
        cases.append(
            Case(
                case_id=case_id,
                root_causes=[service],
                fault_type=str(label.get("fault") or "unknown"),
                inject_time=inject,
                end_time=None,
                edge_series=series,
                changes=changes,
                pod_series=pods,
                metric_series=metrics,
                metadata={
                    "detect_time": label.get("detect_time"),
                    "release_time": release.get("release_time") if isinstance(release, dict) else None,
                    "normal_services": label.get("normal_service_list", []),
                    "experiment": [label.get("experiment_time"), label.get("experiemnt_end_time")],
                    "ignored_files": ignored,
                    "edges": int(series.index.droplevel("time").nunique()),
                    "day": inject.strftime("%Y-%m-%d"),
                    "folder": _relative(folder, path),
                },
            )
        )
    return cases, skipped
