"""The service's state under ``--data-dir``: ``service.db`` (stdlib sqlite3) for samples, training
tasks and detected anomalies, and ``models/`` for the trained model files; a restart on the same
directory keeps all of them. Model files are named by the store (``metis/<taskId>.ubj``, the task
id a number it made), never by a request, so no user input reaches a file path.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from service.errors import ServiceError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    view_name TEXT, view_id TEXT, attr_name TEXT, attr_id TEXT, source TEXT,
    train_or_test TEXT, positive_or_negative TEXT, window INTEGER,
    data_c TEXT, data_b TEXT, data_a TEXT, data_time INTEGER
);
CREATE TABLE IF NOT EXISTS train_task (
    task_id TEXT PRIMARY KEY, status TEXT, created REAL, finished REAL,
    positive_count INTEGER, negative_count INTEGER, query TEXT, message TEXT
);
CREATE TABLE IF NOT EXISTS anomaly (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    view_id TEXT, view_name TEXT, attr_id TEXT, attr_name TEXT, time TEXT,
    data_c TEXT, data_b TEXT, data_a TEXT, kind TEXT, p TEXT, mark_flag INTEGER DEFAULT 0
);
"""
COLUMNS = {
    "viewName": "view_name",
    "viewId": "view_id",
    "attrName": "attr_name",
    "attrId": "attr_id",
    "source": "source",
    "trainOrTest": "train_or_test",
    "positiveOrNegative": "positive_or_negative",
    "window": "window",
    "dataC": "data_c",
    "dataB": "data_b",
    "dataA": "data_a",
    "dataTime": "data_time",
}


class Store:
    """SQLite tables and the model directory of one data dir (module docstring)."""

    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir)
        try:
            (self.root / "models" / "metis").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"data dir: cannot use {self.root}: {exc}") from exc
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.root / "service.db", check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        with self.lock, self.db:
            self.db.executescript(SCHEMA)
            # a task that was running when the service stopped will not finish
            self.db.execute(
                "UPDATE train_task SET status = 'failed', message = 'service restarted during training' "
                "WHERE status = 'running'"
            )

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self.lock, self.db:
            cur = self.db.execute(sql, args)
            return cur.rowcount

    # samples ------------------------------------------------------------------
    @staticmethod
    def _sample_out(row: dict) -> dict:
        out = {key: row[col] for key, col in COLUMNS.items()}
        out["id"] = row["id"]
        return out

    def add_samples(self, samples: list[dict]) -> list[int]:
        cols = ", ".join(COLUMNS.values())
        marks = ", ".join("?" for _ in COLUMNS)
        with self.lock, self.db:
            return [
                int(
                    self.db.execute(
                        f"INSERT INTO sample ({cols}) VALUES ({marks})", tuple(s[k] for k in COLUMNS)
                    ).lastrowid
                    or 0
                )
                for s in samples
            ]

    def query_samples(self, filters: dict) -> list[dict]:
        """Samples matching ``filters`` (template field names; ``beginTime``/``endTime`` on dataTime)."""
        where, args = [], []
        for key, col in COLUMNS.items():
            if key in ("dataC", "dataB", "dataA"):
                continue
            if filters.get(key) not in (None, ""):
                where.append(f"{col} = ?")
                args.append(filters[key])
        if filters.get("beginTime") not in (None, ""):
            where.append("data_time >= ?")
            args.append(int(filters["beginTime"]))
        if filters.get("endTime") not in (None, ""):
            where.append("data_time <= ?")
            args.append(int(filters["endTime"]))
        sql = "SELECT * FROM sample" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [self._sample_out(r) for r in self._rows(sql, tuple(args))]

    def get_sample(self, sample_id: int) -> dict | None:
        rows = self._rows("SELECT * FROM sample WHERE id = ?", (sample_id,))
        return self._sample_out(rows[0]) if rows else None

    def update_sample(self, sample_id: int, sample: dict) -> None:
        sets = ", ".join(f"{col} = ?" for col in COLUMNS.values())
        self._write(f"UPDATE sample SET {sets} WHERE id = ?", (*(sample[k] for k in COLUMNS), sample_id))

    def delete_samples(self, ids: list[int]) -> int:
        with self.lock, self.db:
            return sum(self.db.execute("DELETE FROM sample WHERE id = ?", (i,)).rowcount for i in ids)

    # training tasks -----------------------------------------------------------
    def new_task(self, query: dict, positive: int, negative: int) -> str:
        with self.lock, self.db:
            task_id = str(int(time.time() * 1000))
            while self.db.execute("SELECT 1 FROM train_task WHERE task_id = ?", (task_id,)).fetchone():
                task_id = str(int(task_id) + 1)
            self.db.execute(
                "INSERT INTO train_task VALUES (?, 'running', ?, NULL, ?, ?, ?, '')",
                (task_id, time.time(), positive, negative, json.dumps(query)),
            )
        return task_id

    def finish_task(self, task_id: str, status: str, message: str = "") -> None:
        self._write(
            "UPDATE train_task SET status = ?, finished = ?, message = ? WHERE task_id = ?",
            (status, time.time(), message, task_id),
        )

    def tasks(self, task_id: str | None = None) -> list[dict]:
        if task_id is None:
            return self._rows("SELECT * FROM train_task ORDER BY created")
        return self._rows("SELECT * FROM train_task WHERE task_id = ?", (task_id,))

    def delete_task(self, task_id: str) -> bool:
        path = self.metis_model(task_id)
        removed = self._write("DELETE FROM train_task WHERE task_id = ?", (task_id,)) > 0
        if removed and path.exists():
            path.unlink()
        return removed

    def metis_model(self, task_id: str) -> Path:
        """The model file of training task ``task_id`` (digits only, checked by the caller)."""
        if not task_id.isdigit():
            raise ServiceError(f"taskId: must be digits, got {task_id!r}")
        return self.root / "models" / "metis" / f"{task_id}.ubj"

    # anomalies ----------------------------------------------------------------
    def add_anomaly(self, body: dict, kind: str, p: str) -> None:
        keys = ("viewId", "viewName", "attrId", "attrName", "time", "dataC", "dataB", "dataA")
        self._write(
            "INSERT INTO anomaly (view_id, view_name, attr_id, attr_name, time, data_c, data_b, data_a, kind, p) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*(str(body[k]) if not isinstance(body[k], list) else ",".join(map(str, body[k])) for k in keys), kind, p),
        )

    def anomalies(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM anomaly ORDER BY id")
