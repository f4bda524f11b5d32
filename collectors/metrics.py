"""Per-pod metrics as a second source: a folder of ``<pod>_metric.csv[.gz]`` files (the Nezha layout).

:func:`read_pod_metrics` reads every ``*_metric.csv`` / ``*_metric.csv.gz`` of a folder into one
frame indexed by ``(time, pod)`` with one float column per numeric metric (CPU, memory,
syscalls, network, latency, workload...), the column names as the files spell them.

- time comes from the ``Time`` string (``2022-08-22 03:51:19.640328427 +0000 UTC m=+0.146``: the
  part before `` m=`` is parsed, its offset honoured); a numeric ``TimeStamp`` column is not used,
  as it is wrong in places in the Nezha data (one pod's is off by 2e8 s);
- the pod is the ``PodName`` column, else the file name minus ``_metric.csv``;
- a column with any value that is not a number (other than empty) is not a metric and is left
  out; a column that is constant over the whole file (``PodSuccessRate(%)`` is 0 throughout in the
  Nezha data) carries no evidence and is left out too;
- rows without a readable time are dropped; duplicate ``(time, pod)`` rows keep the first.

What was left out is listed in ``frame.attrs["skipped"]`` (``[(what, why), ...]``): files that
are not metric files (``source_50.csv``, ``dependency.csv``), dropped columns and dropped rows.
A folder with no ``*_metric.csv`` file, or a metric file without ``Time`` or without any usable
metric, is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collectors.errors import CollectError

SUFFIXES = ("_metric.csv", "_metric.csv.gz")
TIME_COLUMN = "Time"
POD_COLUMN = "PodName"
NOT_METRICS = ("TimeStamp", "Timestamp")


def metric_files(folder: Path) -> list[tuple[Path, str]]:
    """``(file, pod from the file name)`` for every metric file of ``folder``, by name."""
    out = []
    for file in sorted(folder.iterdir()):
        for suffix in SUFFIXES:
            if file.is_file() and file.name.endswith(suffix) and len(file.name) > len(suffix):
                out.append((file, file.name[: -len(suffix)]))
    return out


def parse_times(values: pd.Series) -> pd.Series:
    """Go-style time strings (``... +0000 UTC m=+0.14``) or ISO times -> UTC timestamps (NaT if unreadable)."""
    text = values.astype("string").str.split(" m=", n=1, regex=False).str[0]
    text = text.str.replace(r"\s+[A-Z]{2,5}$", "", regex=True)
    return pd.to_datetime(text, utc=True, errors="coerce", format="mixed")


def read_metric_file(file: Path, pod: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One metric file -> (frame indexed by ``(time, pod)``, what was left out)."""
    try:
        raw = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise CollectError(f"{file}: cannot be read as CSV ({exc})") from exc
    if TIME_COLUMN not in raw.columns:
        raise CollectError(f"{file}: no {TIME_COLUMN!r} column; has {list(raw.columns)}")
    skipped: list[tuple[str, str]] = []
    times = parse_times(raw[TIME_COLUMN])
    bad = int(times.isna().sum())
    if bad:
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        skipped.append((f"{file.name}: {bad} row(s)", f"unreadable {TIME_COLUMN}, first at row {row + 2}"))
    pods = (
        raw[POD_COLUMN].astype("string").fillna(pod) if POD_COLUMN in raw.columns else pd.Series(pod, index=raw.index)
    )
    columns: dict[str, pd.Series] = {}
    for column in raw.columns:
        if column in (TIME_COLUMN, POD_COLUMN, *NOT_METRICS):
            continue
        values = pd.to_numeric(raw[column], errors="coerce")
        if (values.isna() & raw[column].notna()).any():
            skipped.append((f"{file.name}: {column}", "not numeric"))
            continue
        finite = values[np.isfinite(values)]
        if finite.empty or finite.nunique() == 1:
            skipped.append((f"{file.name}: {column}", "constant throughout the file" if len(finite) else "empty"))
            continue
        columns[column] = values.astype(float)
    if not columns:
        raise CollectError(f"{file}: no numeric metric column that varies; has {list(raw.columns)}")
    frame = pd.DataFrame(columns)
    frame.index = pd.MultiIndex.from_arrays([times, pods.astype(str)], names=["time", "pod"])
    frame = frame[times.notna().to_numpy()]
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        skipped.append(
            (f"{file.name}: {int(duplicated.sum())} duplicate row(s)", "same (time, pod) as an earlier row, first kept")
        )
        frame = frame[~duplicated]
    return frame, skipped


def read_pod_metrics(folder) -> pd.DataFrame:
    """Every metric file of ``folder`` in one frame indexed by ``(time, pod)`` (module docstring)."""
    if not isinstance(folder, (str, Path)) or (isinstance(folder, str) and not folder.strip()):
        raise CollectError(f"read_pod_metrics: expected a folder of <pod>_metric.csv files, got {folder!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise CollectError(f"{folder}: not a folder of <pod>_metric.csv files")
    files = metric_files(folder)
    if not files:
        raise CollectError(f"{folder}: no <pod>_metric.csv or <pod>_metric.csv.gz file")
    skipped: list[tuple[str, str]] = []
    taken = {f for f, _ in files}
    for other in sorted(folder.iterdir()):
        if other not in taken:
            skipped.append((other.name, "not a <pod>_metric.csv file"))
    frames = []
    for file, pod in files:
        frame, left_out = read_metric_file(file, pod)
        frames.append(frame)
        skipped += left_out
    out = pd.concat(frames).sort_index()
    out.attrs["skipped"] = skipped
    out.attrs["source"] = str(folder)
    return out
