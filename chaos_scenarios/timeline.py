"""A whole suite as one continuous timeline: normal traffic, then the faults one after another.

Separate 10-minute case folders are too short for a monitor, which needs the history a live
system gives it. :func:`run_timeline` drives a backend through

    lead-in of normal traffic | for each case: warm-up, inject, hold, recover, cool-down

on one clock and writes one folder::

    <out>/timeline.json   {"format": "rca-timeline/1", "suite", "backend", "seed", "start", "end",
                           "lead_in", "created", "faults": [CaseLabel as JSON, ...]}
    <out>/spans.parquet   every span of [start, end], in start order, written in chunks
    <out>/manifests.yaml  every ChaosMesh manifest applied, as YAML documents

The faults' ``injected_at`` / ``recovered_at`` are recorded as the backends record them for case
folders; ``window_start`` / ``window_end`` delimit each case's segment of the timeline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from tqdm import tqdm

from chaos_scenarios.backend import Backend
from chaos_scenarios.case_folder import CaseLabel
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.runner import default_run_id, plan_cases, play_case
from chaos_scenarios.spec import Suite, parse_duration

TIMELINE_FORMAT = "rca-timeline/1"
TIMELINE_FILE = "timeline.json"
SPANS_FILE = "spans.parquet"
MANIFESTS_FILE = "manifests.yaml"
CHUNK_SECONDS = 600.0


def run_timeline(
    suite: Suite,
    backend: Backend,
    out_dir: str | Path,
    *,
    lead_in: Any = 3600.0,
    progress: bool = True,
    seed: int | None = None,
) -> Path:
    """Run ``suite`` as one timeline on ``backend`` (module docstring); returns the folder."""
    lead = parse_duration(lead_in, "lead_in")
    out_dir = Path(out_dir)
    if (out_dir / TIMELINE_FILE).exists() or (out_dir / SPANS_FILE).exists():
        raise ScenarioError(f"{out_dir}: already holds a timeline; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = default_run_id(suite, seed)
    cases = plan_cases(suite, run_id)
    labels: list[CaseLabel] = []
    bar = tqdm(
        total=len(cases) + 1,
        desc=f"{suite.name} timeline [{backend.name}]",
        unit="step",
        file=sys.stderr,
        disable=not progress,
    )
    try:
        backend.preflight(suite)
        start = backend.now()
        bar.set_postfix_str(f"lead-in {lead:g}s", refresh=True)
        backend.wait(lead)
        bar.update(1)
        for case in cases:
            labels.append(play_case(case, suite, backend, seed, bar))
            bar.update(1)
        end = backend.now()
    finally:
        bar.close()
        backend.cleanup()
    spans = write_timeline_spans(backend, start, end, out_dir / SPANS_FILE, progress=progress)
    with open(out_dir / MANIFESTS_FILE, "w") as fh:
        yaml.safe_dump_all([m for case in cases for m in case.manifests], fh, sort_keys=False)
    info = {
        "format": TIMELINE_FORMAT,
        "suite": suite.name,
        "backend": backend.name,
        "seed": seed,
        "run_id": run_id,
        "start": start,
        "end": end,
        "lead_in": lead,
        "spans": spans,
        "created": pd.Timestamp.now(tz="UTC").isoformat(),
        "faults": [label.to_json() for label in labels],
    }
    (out_dir / TIMELINE_FILE).write_text(json.dumps(info, indent=2))
    return out_dir


def write_timeline_spans(backend: Backend, start: float, end: float, path: Path, *, progress: bool = True) -> int:
    """Collect [start, end] in chunks of :data:`CHUNK_SECONDS` and append them to one Parquet file
    (memory stays one chunk); returns the number of spans written."""
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    total = 0
    chunks = max(1, int(-(-(end - start) // CHUNK_SECONDS)))
    try:
        for i in tqdm(range(chunks), desc="collect spans", unit="chunk", file=sys.stderr, disable=not progress):
            lo = start + i * CHUNK_SECONDS
            hi = min(end, lo + CHUNK_SECONDS)
            frame = backend.collect_spans(lo, hi)
            if i:
                frame = frame.loc[frame["start_us"].to_numpy() >= int(lo * 1e6)]
            frame = frame.sort_values("start_us", kind="stable")
            table = _plain(pa.Table.from_pandas(frame, preserve_index=False))
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table.cast(schema))
            total += len(frame)
    finally:
        if writer is not None:
            writer.close()
    return total


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary (categorical) columns as plain strings, so every chunk has the same schema."""
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def read_timeline(path: str | Path) -> dict[str, Any]:
    """The ``timeline.json`` of a timeline folder, checked."""
    path = Path(path)
    try:
        info = json.loads((path / TIMELINE_FILE).read_text())
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: no {TIMELINE_FILE}; not a timeline folder") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path / TIMELINE_FILE}: not valid JSON ({exc})") from exc
    if not isinstance(info, dict) or info.get("format") != TIMELINE_FORMAT:
        raise ScenarioError(f"{path / TIMELINE_FILE}: format is {info.get('format')!r}, expected {TIMELINE_FORMAT!r}")
    if not (path / SPANS_FILE).is_file():
        raise ScenarioError(f"{path}: no {SPANS_FILE}")
    faults = info.get("faults")
    if not isinstance(faults, list):
        raise ScenarioError(f"{path / TIMELINE_FILE}: 'faults' must be a list")
    info["labels"] = [
        CaseLabel.from_json(f, where=f"{path / TIMELINE_FILE}: faults[{i}]") for i, f in enumerate(faults)
    ]
    return info


def is_timeline(path: str | Path) -> bool:
    path = Path(path)
    if not (path / TIMELINE_FILE).is_file():
        return False
    try:
        return json.loads((path / TIMELINE_FILE).read_text()).get("format") == TIMELINE_FORMAT
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
