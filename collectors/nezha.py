"""Per-minute span CSVs of the Nezha / TraStrainer data sets (``HH_MM_trace.csv.gz``).

Columns ``TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,
Duration`` (Duration in µs). ``ParentID == "root"`` marks a root span; there is no status
column (status ``unset``) and no span kind (inferred by :func:`collectors.kinds.infer_kinds`).
The service is the pod name minus its two last ``-`` parts (a Kubernetes Deployment pod is
``<deployment>-<replicaset hash>-<suffix>``). Spans are selected by their start time, and
rows that appear verbatim in two files (adjacent minute files overlap) are dropped and
counted as ``verbatim_duplicate``.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from collectors.errors import CollectError
from collectors.keys import cycle_members, duplicate_spans, id_codes, parent_positions
from collectors.kinds import infer_kinds
from collectors.spanframe import KIND_DTYPE, KINDS, STATUS_DTYPE, STATUSES, drop_parent_cycles, make_spanframe
from core import units

COLUMNS = ("TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "Duration")
HEADER_FIELDS = frozenset(COLUMNS)
_DICT = pa.dictionary(pa.int32(), pa.string())
_TYPES = {
    "TraceID": pa.string(),
    "SpanID": pa.string(),
    "ParentID": pa.string(),
    "PodName": _DICT,
    "OperationName": _DICT,
    "StartTimeUnixNano": pa.int64(),
    "Duration": pa.int64(),
}
PRUNE_MARGIN_US = 10 * 60 * 1_000_000


def is_nezha_header(fields: Sequence[str]) -> bool:
    """True when a CSV header carries the Nezha span columns."""
    return HEADER_FIELDS.issubset(f.strip() for f in fields)


def service_from_pod(pod: str) -> str:
    """``cartservice-579f59597d-wc2lz`` -> ``cartservice``; names with fewer than three parts are kept."""
    parts = str(pod).rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[0] else str(pod)


def read_nezha_csv(
    paths, start_us: int | None = None, end_us: int | None = None, *, source: str | None = None, progress: bool = False
) -> pd.DataFrame:
    """Read one or more Nezha minute files into a SpanFrame (spans with start in [start, end)).

    When a time range is given, files whose first rows lie more than 10 minutes outside it
    are not read (each file holds about one minute of spans).
    """
    files = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    source = source or (str(files[0]) if len(files) == 1 else f"{len(files)} Nezha span files")
    if start_us is not None or end_us is not None:
        files = [f for f in files if _may_overlap(f, start_us, end_us)]
    skipped: Counter[str] = Counter()
    tables = _read_tables(files, skipped, progress, start_us, end_us)
    if not tables:
        return _to_spanframe(None, start_us, end_us, skipped, source)
    holder = [pa.concat_tables(tables, promote_options="permissive")]
    del tables
    return _to_spanframe(holder, start_us, end_us, skipped, source)


def _window(table: pa.Table, start_us: int | None, end_us: int | None) -> pa.Table:
    """The rows of one file that may start in the window (by the unit rule, as :func:`_to_spanframe`
    reads them) and the rows with unreadable times (kept so that they are counted)."""
    if (start_us is None and end_us is None) or not table.num_rows:
        return table
    nanos = table["StartTimeUnixNano"].to_numpy()
    codes = units.unit_codes(nanos, "ns")
    start = units.convert(nanos, codes, "us")
    keep = np.ones(len(start), dtype=bool)
    if start_us is not None:
        keep &= start >= start_us
    if end_us is not None:
        keep &= start < end_us
    keep |= codes < 0
    duration = table["Duration"].to_numpy()
    if duration.dtype.kind == "f":
        keep |= ~np.isfinite(duration)
    return table if keep.all() else table.filter(pa.array(keep))


def _read_tables(files, skipped: Counter, progress: bool, start_us=None, end_us=None) -> list[pa.Table]:
    def read(path: Path):
        bad: Counter[str] = Counter()

        def on_invalid(row):
            bad["malformed_row"] += 1
            return "skip"

        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(include_columns=list(COLUMNS), column_types=_TYPES),
            )
        except pa.ArrowInvalid as exc:
            if "In CSV column" in str(exc) or "conversion" in str(exc).lower():
                bad.clear()
                table = _read_lenient(path, bad)
            else:
                raise CollectError(f"{path}: not a readable Nezha span CSV: {exc}") from exc
        except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            raise CollectError(f"{path}: cannot read: {exc}") from exc
        return _window(table, start_us, end_us), bad

    items = files
    if progress:
        from tqdm import tqdm

        items = tqdm(files, desc="span files", unit="file", leave=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read, items))
    for _, bad in results:
        skipped.update(bad)
    return [t for t, _ in results if t.num_rows]


def _read_lenient(path: Path, bad: Counter) -> pa.Table:
    """Fallback when a numeric column holds text or numbers beyond int64: read those columns as
    float64 (NaN where unreadable, counted later as invalid times)."""
    text_types = {c: (pa.string() if t in (pa.int64(),) else t) for c, t in _TYPES.items()}

    def on_invalid(row):
        bad["malformed_row"] += 1
        return "skip"

    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=list(COLUMNS), column_types=text_types),
    )
    arrays = {c: table[c] for c in ("TraceID", "SpanID", "ParentID", "PodName", "OperationName")}
    for column in ("StartTimeUnixNano", "Duration"):
        values = pd.to_numeric(pd.Series(table[column].to_pandas()), errors="coerce")
        arrays[column] = pa.array(values.to_numpy(dtype=np.float64))
    return pa.table(arrays)


def _may_overlap(path: Path, start_us: int | None, end_us: int | None) -> bool:
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            head = handle.read(64 * 1024)
    except (OSError, EOFError):
        return True
    lines = head.decode("utf-8", "replace").splitlines()[:-1]
    if len(lines) < 2:
        return True
    header = lines[0].split(",")
    if "StartTimeUnixNano" not in header:
        return True
    col = header.index("StartTimeUnixNano")
    starts = []
    for line in lines[1:]:
        parts = line.split(",")
        if len(parts) == len(header) and parts[col].isdigit():
            starts.append(int(parts[col]) // 1000)
    if not starts:
        return True
    lo, hi = min(starts), max(starts)
    if start_us is not None and hi < start_us - PRUNE_MARGIN_US:
        return False
    if end_us is not None and lo > end_us + PRUNE_MARGIN_US:
        return False
    return True


def _to_spanframe(holder, start_us, end_us, skipped: Counter, source: str) -> pd.DataFrame:
    """SpanFrame of the one table in ``holder`` (a list, emptied here so the table can be freed early)."""
    if holder is None:
        empty = pd.DataFrame(
            {
                c: pd.Series([], dtype=object)
                for c in ("trace_id", "span_id", "parent_id", "service", "operation", "kind", "status", "pod")
            }
        )
        empty["start_us"] = np.array([], dtype=np.int64)
        empty["duration_us"] = np.array([], dtype=np.int64)
        return make_spanframe(empty, source=source, skipped=skipped)
    string = pd.StringDtype("pyarrow")
    raw = holder.pop().to_pandas(types_mapper={pa.string(): string, pa.large_string(): string}.get)
    nanos = raw["StartTimeUnixNano"].to_numpy()
    start_units = units.unit_codes(nanos, "ns")
    converted = units.conversions(start_units, "ns", "StartTimeUnixNano")
    start = units.convert(nanos, start_units, "us")
    invalid = start_units < 0
    duration = raw["Duration"].to_numpy()
    if duration.dtype != np.int64:
        invalid |= ~np.isfinite(duration)
    skipped["invalid_start_time"] += int((start_units < 0).sum())
    skipped["invalid_duration"] += int((invalid & (start_units >= 0)).sum())
    keep = ~invalid
    if start_us is not None:
        keep &= start >= start_us
    if end_us is not None:
        keep &= start < end_us
    if not keep.all():
        raw, start = raw.loc[keep].reset_index(drop=True), start[keep]
    pod = raw["PodName"].astype("category")
    service = _services_of_pods(pod)
    parent = raw["ParentID"]
    parent = parent.mask(parent.isin(["root", ""]))
    frame = pd.DataFrame(
        {
            "trace_id": raw["TraceID"],
            "span_id": raw["SpanID"],
            "parent_id": parent,
            "service": service,
            "operation": raw["OperationName"].astype("category"),
            "start_us": start,
            "duration_us": raw["Duration"].to_numpy(),
            "kind": pd.Categorical.from_codes(
                np.full(len(raw), KINDS.index("unknown"), dtype=np.int8), dtype=KIND_DTYPE
            ),
            "status": pd.Categorical.from_codes(
                np.full(len(raw), STATUSES.index("unset"), dtype=np.int8), dtype=STATUS_DTYPE
            ),
            "pod": pod,
        }
    )
    del raw, parent, pod, service, start
    codes = id_codes(frame)
    repeated, first = duplicate_spans(frame, codes, with_first=True)
    verbatim = np.zeros(len(frame), dtype=bool)
    if repeated.any():
        rows = np.flatnonzero(repeated)
        same = np.ones(len(rows), dtype=bool)
        for values in (
            codes[1],
            frame["pod"].cat.codes.to_numpy(),
            frame["operation"].cat.codes.to_numpy(),
            frame["start_us"].to_numpy(),
            frame["duration_us"].to_numpy(),
        ):
            same &= values[rows] == values[first]
        verbatim[rows[same]] = True
    clash = repeated & ~verbatim
    skipped["verbatim_duplicate"] += int(verbatim.sum())
    skipped["duplicate_span"] += int(clash.sum())
    frame = make_spanframe(
        frame,
        source=source,
        skipped=skipped,
        drop_duplicates=False,
        drop=repeated if repeated.any() else None,
        converted=converted,
        check_cycles=False,
    )
    if repeated.any():
        codes = (codes[0][~repeated], codes[1][~repeated])
    parent = parent_positions(frame, codes) if len(frame) == len(codes[0]) else parent_positions(frame)
    cycles = cycle_members(parent)
    if cycles.any():
        skipped = Counter(frame.attrs["skipped"])
        frame = drop_parent_cycles(frame, skipped, parent)
        frame.attrs["skipped"] = dict(sorted(skipped.items()))
        parent = parent_positions(frame)
    frame["kind"] = infer_kinds(frame, only_unknown=False, parent=parent)
    return frame


def _services_of_pods(pod: pd.Series) -> pd.Categorical:
    names = [service_from_pod(p) for p in pod.cat.categories]
    categories = sorted(set(names))
    lookup = {name: i for i, name in enumerate(categories)}
    to_service = np.array([lookup[name] for name in names] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(to_service[pod.cat.codes.to_numpy()], categories=categories)
