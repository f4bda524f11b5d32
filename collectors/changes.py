"""``read_changes``: change events (:class:`core.changes.Change`) from a CSV or JSON file.

- CSV (``changes.csv``): a header with at least ``service`` and ``time``, optionally ``kind``
  (default ``rollout``), ``detail``, ``version`` and ``pods`` (pod names separated by spaces or
  ``;``). Times are anything :func:`core.to_timestamp` reads (Unix seconds, ISO text; numbers in
  ms/µs/ns by the unit rule of :mod:`core.units`).
- JSON: a list of objects with the same fields, or ``{"changes": [...]}``.

A row that cannot be read is an error naming the file, the row and the field; an unknown column
or field is refused (a typo would otherwise drop what it holds without a word).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from collectors.errors import CollectError
from core.changes import Change, change_from_dict
from core.times import to_timestamp

FIELDS = ("service", "time", "kind", "detail", "version", "pods")


def read_changes(path) -> list[Change]:
    """The changes of a ``.csv`` or ``.json`` file, sorted by time (see the module docstring)."""
    if not isinstance(path, (str, Path)) or (isinstance(path, str) and not path.strip()):
        raise CollectError(f"read_changes: expected a path to a changes CSV or JSON file, got {path!r}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CollectError(f"{path}: no such changes file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CollectError(f"{path}: cannot be read ({exc})") from exc
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        changes = _from_json(path, text)
    else:
        changes = _from_csv(path, text)
    return sorted(changes, key=lambda c: (c.time, c.service))


def _from_json(path: Path, text: str) -> list[Change]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CollectError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, dict) and set(data) == {"changes"}:
        data = data["changes"]
    if not isinstance(data, list):
        raise CollectError(f'{path}: expected a list of changes or {{"changes": [...]}}, got {type(data).__name__}')
    out = []
    for i, item in enumerate(data):
        where = f"{path}: change {i}"
        if isinstance(item, dict) and isinstance(item.get("time"), (int, float)) and not isinstance(item["time"], bool):
            item = {**item, "time": to_timestamp(item["time"], f"{where}: time", error=CollectError, units=True)}
        out.append(change_from_dict(item, where, CollectError))
    return out


def _from_csv(path: Path, text: str) -> list[Change]:
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CollectError(f"{path}: empty; expected a header with {', '.join(FIELDS)}")
    header = [cell.strip() for cell in rows[0]]
    unknown = [c for c in header if c not in FIELDS]
    if unknown:
        raise CollectError(f"{path}: unknown column(s) {unknown}; a changes file has {', '.join(FIELDS)}")
    missing = [c for c in ("service", "time") if c not in header]
    if missing:
        raise CollectError(f"{path}: missing column(s) {missing}; has {header}")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}: row {number}"
        if len(row) != len(header):
            raise CollectError(f"{where}: {len(row)} field(s), the header has {len(header)}")
        record: dict = {k: v.strip() for k, v in zip(header, row)}
        if record["time"]:
            record["time"] = to_timestamp(record["time"], f"{where}: time", error=CollectError, units=True)
        out.append(change_from_dict(record, where, CollectError))
    return out
