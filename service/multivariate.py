"""Azure Anomaly Detector's multivariate API (MVAD, v1.1) on the framework's multivariate detectors
(:mod:`detectors.multivariate`; ``"mtad-gat"`` by default, any registered multivariate name).

``dataSource`` is a local path or a ``file://`` URL inside the service's data dir, or an HTTP(S)
URL fetched with a size and time bound (:func:`download`; the original read Azure Blob SAS URLs): with ``dataSchema``
``OneTable`` a CSV with a ``timestamp`` column and one column per variable, with ``MultiTable`` a
folder or a zip of CSVs ``timestamp,value``, one per variable (the file name is the variable).
Alignment (``alignMode`` Inner|Outer), filling (``fillNAMethod``, ``paddingValue``), the missing
ratio and the variable limits are the detectors' (:mod:`detectors.multivariate.base`); a
detector's :class:`core.DetectorError` becomes a 400 with the detector's message.
"""

from __future__ import annotations

import io
import pickle
import re
import threading
import urllib.error
import urllib.request
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from core.detector import DetectorError
from detectors import make_detector
from detectors.multivariate.base import WINDOW_RANGE
from service.errors import AzureError

MODEL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCHEMAS = ("OneTable", "MultiTable")
ALIGN = ("Inner", "Outer")
FILL = ("Previous", "Subsequent", "Linear", "Zero", "Fixed", "NotFill")
MAX_MODELS = 300
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
"""The largest HTTP(S) data source fetched (Azure's limit on a training blob is 2 GB)."""
DOWNLOAD_TIMEOUT_S = 30.0
ZIP_MAGIC = b"PK\x03\x04"
DOWNLOADS = "downloads"
"""The folder of the data dir that holds fetched HTTP(S) data sources."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_id(model_id: str, what: str = "model") -> str:
    """A model or result id (a UUID the service made); any other text is 'not found'."""
    if not MODEL_ID.match(model_id):
        code = "ModelNotExist" if what == "model" else "ResultNotExist"
        raise AzureError(code, f"The {what} {model_id!r} does not exist.", 404)
    return model_id


def _time(value: Any, field: str) -> pd.Timestamp:
    if value in (None, ""):
        raise AzureError(f"Required{field[0].upper()}{field[1:]}", f"The '{field}' field is required.")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise AzureError("InvalidTimestampFormat", f"The '{field}' field is not an ISO-8601 time: {value!r}.") from None
    if pd.isna(stamp):
        raise AzureError("InvalidTimestampFormat", f"The '{field}' field is not an ISO-8601 time: {value!r}.")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_path(source: Any, root: Path) -> Path:
    """The file or folder of ``dataSource``: a path or file:// URL resolving inside ``root``."""
    if not isinstance(source, str) or not source:
        raise AzureError("RequiredSource", "The 'dataSource' field is required.")
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        return download(source, root / DOWNLOADS)
    if parsed.scheme == "file":
        raw = unquote(parsed.path)
    elif parsed.scheme in ("",) or len(parsed.scheme) == 1:  # a bare path (or a Windows drive letter)
        raw = source
    else:
        raise AzureError("InvalidBlobURL", f"The 'dataSource' scheme {parsed.scheme!r} is not supported.")
    if "\x00" in raw:
        raise AzureError("InvalidBlobURL", "The 'dataSource' is not a valid path.")
    try:
        path = Path(raw)
        path = (root / path).resolve() if not path.is_absolute() else path.resolve()
        base = root.resolve()
        if path != base and base not in path.parents:
            raise AzureError("InvalidBlobURL", "The 'dataSource' must be inside the service's data directory.")
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the file system, say
        raise AzureError("InvalidBlobURL", "The 'dataSource' is not a valid path.") from None
    if not exists:
        raise AzureError("FileNotExist", f"The data source {source!r} does not exist.")
    return path


def download(url: str, folder: Path, *, limit: int | None = None, timeout_s: float | None = None) -> Path:
    """An HTTP(S) ``dataSource`` (the real service reads a blob SAS URL) fetched into a new file of
    ``folder``, named by the service, never by the URL: at most ``limit`` bytes
    (:data:`MAX_DOWNLOAD_BYTES`), ``timeout_s`` per read (:data:`DOWNLOAD_TIMEOUT_S`), redirects
    as urllib follows them. A zip is named ``.zip``, anything else ``.csv``; what it holds is
    checked by :func:`read_source`. Errors are Azure's codes: 404 ``FileNotExist``, 401/403
    ``StorageReadError``, too large ``FileSizeTooLarge``, anything else (a timeout, a refused
    connection, another status) ``ReadingFileError``."""
    limit = MAX_DOWNLOAD_BYTES if limit is None else limit
    timeout_s = DOWNLOAD_TIMEOUT_S if timeout_s is None else timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": "rca-fluxev-service"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            declared = answer.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise AzureError("FileSizeTooLarge", f"The data source is larger than {limit} bytes.")
            data = answer.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise AzureError("FileNotExist", f"The data source {url!r} does not exist (HTTP 404).") from None
        if exc.code in (401, 403):
            raise AzureError("StorageReadError", f"The data source {url!r} refused access (HTTP {exc.code}).") from None
        raise AzureError("ReadingFileError", f"The data source {url!r} answered HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AzureError("ReadingFileError", f"The data source {url!r} could not be read ({exc}).") from None
    if len(data) > limit:
        raise AzureError("FileSizeTooLarge", f"The data source is larger than {limit} bytes.")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".zip" if data[:4] == ZIP_MAGIC else ".csv"
    path = folder / f"{uuid.uuid4()}{suffix}"
    path.write_bytes(data)
    return path


def _csv(data: bytes | Path, name: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise AzureError("ReadingFileError", f"{name}: cannot read the CSV ({exc}).") from None
    if "timestamp" not in frame.columns:
        raise AzureError("FileColumnsNotExist", f"{name}: no 'timestamp' column.")
    try:
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
    except (ValueError, TypeError):
        raise AzureError("InvalidTimestampFormat", f"{name}: a timestamp is not an ISO-8601 time.") from None
    return frame.drop(columns="timestamp").set_index(pd.DatetimeIndex(stamps, name="timestamp"))


def read_source(path: Path, schema: str):
    """The variables of a data source: a DataFrame (OneTable) or a mapping of Series (MultiTable)."""
    if schema == "OneTable":
        if not path.is_file():
            raise AzureError("FileNotExist", "OneTable: the data source must be one CSV file.")
        frame = _csv(path, path.name)
        if frame.shape[1] == 0:
            raise AzureError("NoVariablesFound", f"{path.name}: no variable columns.")
        return frame
    tables: dict[str, bytes | Path] = {}
    if path.is_dir():
        tables = {p.stem: p for p in sorted(path.glob("*.csv"))}
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            tables = {
                Path(info.filename).stem: archive.read(info)
                for info in archive.infolist()
                if info.filename.endswith(".csv") and not info.is_dir()
            }
    else:
        raise AzureError("FileNotExist", "MultiTable: the data source must be a folder or a zip of CSV files.")
    if not tables:
        raise AzureError("NoVariablesFound", "MultiTable: no CSV files in the data source.")
    out = {}
    for name, data in tables.items():
        frame = _csv(data, f"{name}.csv")
        if list(frame.columns) != ["value"]:
            raise AzureError("FileColumnsNotExist", f"{name}.csv: columns must be exactly timestamp,value.")
        out[name] = frame["value"]
    return out


def _window(frame_or_map, start: pd.Timestamp, end: pd.Timestamp):
    if isinstance(frame_or_map, dict):
        return {k: v[(v.index >= start) & (v.index <= end)] for k, v in frame_or_map.items()}
    return frame_or_map[(frame_or_map.index >= start) & (frame_or_map.index <= end)]


class Multivariate:
    """Models and batch results in the store's ``models/mvad`` folder and SQLite (module docstring)."""

    def __init__(self, root: Path, db, lock: threading.Lock, pool, detector: str = "mtad-gat", params=None):
        self.root = root
        self.folder = root / "models" / "mvad"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.lock = lock
        self.pool = pool
        self.detector = detector
        self.params = dict(params or {})
        with self.lock, self.db:
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS mv_model (id TEXT PRIMARY KEY, created TEXT, updated TEXT, info TEXT);"
                "CREATE TABLE IF NOT EXISTS mv_result (id TEXT PRIMARY KEY, model_id TEXT, created TEXT, body TEXT);"
            )
            rows = self.db.execute("SELECT id, info FROM mv_model").fetchall()
        for row in rows:  # training that a stop interrupted will not finish
            info = _loads(row[1])
            if info["status"] in ("CREATED", "RUNNING"):
                info.update(status="FAILED", errors=[{"code": "UnexpectedError", "message": "service restarted"}])
                self._save(row[0], info)

    # ------------------------------------------------------------------ storage
    def _save(self, model_id: str, info: dict) -> None:
        with self.lock, self.db:
            self.db.execute("UPDATE mv_model SET info = ?, updated = ? WHERE id = ?", (_dumps(info), now(), model_id))

    def _row(self, model_id: str) -> dict:
        check_id(model_id)
        with self.lock:
            row = self.db.execute(
                "SELECT id, created, updated, info FROM mv_model WHERE id = ?", (model_id,)
            ).fetchone()
        if row is None:
            raise AzureError("ModelNotExist", f"The model {model_id!r} does not exist.", 404)
        return {"modelId": row[0], "createdTime": row[1], "lastUpdatedTime": row[2], "modelInfo": _loads(row[3])}

    def _file(self, model_id: str) -> Path:
        return self.folder / f"{check_id(model_id)}.pkl"

    # ------------------------------------------------------------------ models
    def train(self, body: Any) -> dict:
        """Check ModelInfo, store the model as CREATED and train it on the pool."""
        if not isinstance(body, dict):
            raise AzureError("InvalidJsonFormat", "The request body must be a JSON object.")
        schema = body.get("dataSchema") or "OneTable"
        if schema not in SCHEMAS:
            raise AzureError(
                "InvalidDataSchema", f"The 'dataSchema' field must be OneTable or MultiTable, got {schema!r}."
            )
        path = source_path(body.get("dataSource"), self.root)
        start, end = _time(body.get("startTime"), "startTime"), _time(body.get("endTime"), "endTime")
        if start > end:
            raise AzureError("InvalidTimestampFormat", "The 'startTime' must not be after the 'endTime'.")
        window = body.get("slidingWindow", 300)
        low, high = WINDOW_RANGE
        if isinstance(window, bool) or not isinstance(window, int) or not low <= window <= high:
            raise AzureError(
                "InvalidSlidingWindow", f"The 'slidingWindow' field must be an integer between {low} and {high}."
            )
        policy = body.get("alignPolicy") or {}
        if not isinstance(policy, dict):
            raise AzureError("InvalidJsonFormat", "The 'alignPolicy' field must be an object.")
        align = policy.get("alignMode") or "Outer"
        fill = policy.get("fillNAMethod") or "Linear"
        padding = policy.get("paddingValue")
        if align not in ALIGN:
            raise AzureError("InvalidAlignMode", f"The 'alignMode' field must be Inner or Outer, got {align!r}.")
        if fill not in FILL:
            raise AzureError("InvalidFillNAMethod", f"The 'fillNAMethod' field must be one of {', '.join(FILL)}.")
        if fill == "NotFill" and align == "Outer":
            raise AzureError("InvalidFillNAMethod", "The 'fillNAMethod' cannot be NotFill when alignMode is Outer.")
        if fill == "Fixed" and padding is None:
            raise AzureError("RequiredPaddingValue", "The 'paddingValue' field is required when fillNAMethod is Fixed.")
        name = body.get("displayName")
        if name is not None and (not isinstance(name, str) or len(name) > 24):
            raise AzureError("InvalidDisplayName", "The 'displayName' field must be text of at most 24 characters.")
        with self.lock:
            count = self.db.execute("SELECT COUNT(*) FROM mv_model").fetchone()[0]
        if count >= MAX_MODELS:
            raise AzureError("TooManyModels", f"At most {MAX_MODELS} models; delete one first.")
        info = {
            "dataSource": body["dataSource"],
            "dataSchema": schema,
            "startTime": iso(start),
            "endTime": iso(end),
            "displayName": name,
            "slidingWindow": window,
            "alignPolicy": {"alignMode": align, "fillNAMethod": fill, "paddingValue": padding},
            "status": "CREATED",
            "errors": [],
            "diagnosticsInfo": {"modelState": {}, "variableStates": []},
        }
        model_id = str(uuid.uuid4())
        stamp = now()
        with self.lock, self.db:
            self.db.execute("INSERT INTO mv_model VALUES (?, ?, ?, ?)", (model_id, stamp, stamp, _dumps(info)))
        self.pool.submit(self._train, model_id, path, info, start, end)
        return self._row(model_id)

    def _make(self, info: dict):
        params = dict(self.params)
        fill = info["alignPolicy"]["fillNAMethod"]
        params.update(
            align_mode=info["alignPolicy"]["alignMode"], fill_na_method="Linear" if fill == "NotFill" else fill
        )
        if fill == "Fixed":
            params["padding_value"] = float(info["alignPolicy"]["paddingValue"])
        detector = make_detector(self.detector, **params)
        if "sliding_window" in detector.get_params():
            detector.set_params(sliding_window=info["slidingWindow"])
        if "progress" in detector.get_params() and "progress" not in self.params:
            detector.set_params(progress=False)  # no progress bars on a server's terminal
        return detector

    def _train(self, model_id: str, path: Path, info: dict, start, end) -> None:
        info = dict(info, status="RUNNING")
        self._save(model_id, info)
        try:
            data = _window(read_source(path, info["dataSchema"]), start, end)
            detector = self._make(info).fit(data)
            with open(self._file(model_id), "wb") as out:
                pickle.dump({"name": self.detector, "state": detector.state_dict()}, out)
        except AzureError as exc:
            info.update(status="FAILED", errors=[{"code": exc.code, "message": exc.message}])
        except (DetectorError, OSError, ValueError) as exc:
            info.update(status="FAILED", errors=[{"code": "InvalidInput", "message": str(exc)}])
        else:
            state = dict(getattr(detector, "diagnostics_", {}) or {})
            info.update(
                status="READY",
                diagnosticsInfo={
                    "modelState": {
                        k: state[k]
                        for k in ("epochIds", "trainLosses", "validationLosses", "latenciesInSeconds")
                        if k in state
                    },
                    "variableStates": detector.variable_states_,
                },
            )
        self._save(model_id, info)

    def get(self, model_id: str) -> dict:
        return self._row(model_id)

    def list(self, skip: int, top: int) -> dict:
        with self.lock:
            total = self.db.execute("SELECT COUNT(*) FROM mv_model").fetchone()[0]
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM mv_model ORDER BY created DESC, id LIMIT ? OFFSET ?", (top, skip)
                )
            ]
        models = [self._row(i) for i in ids]
        more = skip + len(models) < total
        return {
            "models": models,
            "currentCount": total,
            "maxCount": MAX_MODELS,
            "nextLink": f"/multivariate/models?skip={skip + top}&top={top}" if more else None,
        }

    def delete(self, model_id: str) -> None:
        self._row(model_id)
        with self.lock, self.db:
            self.db.execute("DELETE FROM mv_model WHERE id = ?", (model_id,))
        self._file(model_id).unlink(missing_ok=True)

    def _ready(self, model_id: str):
        info = self._row(model_id)["modelInfo"]
        if info["status"] == "FAILED":
            raise AzureError("ModelFailed", f"The model {model_id!r} failed to train.")
        if info["status"] != "READY":
            raise AzureError("ModelNotReady", f"The model {model_id!r} is not ready yet ({info['status']}).")
        from detectors import detector_class

        with open(self._file(model_id), "rb") as source:
            saved = pickle.load(source)
        return detector_class(saved["name"]).from_state(saved["state"])

    # ------------------------------------------------------------------ inference
    def detect_batch(self, model_id: str, body: Any) -> dict:
        """Start a batch detection; the result (CREATED, then READY or FAILED) is read by its id."""
        if not isinstance(body, dict):
            raise AzureError("InvalidJsonFormat", "The request body must be a JSON object.")
        self._ready(model_id)
        info = self._row(model_id)["modelInfo"]
        path = source_path(body.get("dataSource"), self.root)
        start, end = _time(body.get("startTime"), "startTime"), _time(body.get("endTime"), "endTime")
        top = _top(body.get("topContributorCount", 10))
        result_id = str(uuid.uuid4())
        setup = {
            "dataSource": body["dataSource"],
            "topContributorCount": top,
            "startTime": iso(start),
            "endTime": iso(end),
        }
        out = {
            "resultId": result_id,
            "summary": {"status": "CREATED", "errors": [], "variableStates": [], "setupInfo": setup},
            "results": [],
        }
        with self.lock, self.db:
            self.db.execute("INSERT INTO mv_result VALUES (?, ?, ?, ?)", (result_id, model_id, now(), _dumps(out)))
        self.pool.submit(self._batch, model_id, result_id, path, info["dataSchema"], start, end, top, out)
        return out

    def _store_result(self, result_id: str, out: dict) -> None:
        with self.lock, self.db:
            self.db.execute("UPDATE mv_result SET body = ? WHERE id = ?", (_dumps(out), result_id))

    def _batch(self, model_id, result_id, path, schema, start, end, top, out) -> None:
        out = dict(out)
        out["summary"] = dict(out["summary"], status="RUNNING")
        self._store_result(result_id, out)
        try:
            detector = self._ready(model_id)
            data = _window(read_source(path, schema), start, end)
            states = detector.anomaly_states(data, top_contributor_count=top)
            out["summary"].update(status="READY", variableStates=detector.prepare(data, "data")[3])
            out["results"] = [_state(s) for s in states]
        except AzureError as exc:
            out["summary"].update(status="FAILED", errors=[{"code": exc.code, "message": exc.message}])
        except (DetectorError, OSError, ValueError) as exc:
            out["summary"].update(status="FAILED", errors=[{"code": "InvalidInput", "message": str(exc)}])
        self._store_result(result_id, out)

    def result(self, result_id: str) -> dict:
        check_id(result_id, "result")
        with self.lock:
            row = self.db.execute("SELECT body FROM mv_result WHERE id = ?", (result_id,)).fetchone()
        if row is None:
            raise AzureError("ResultNotExist", f"The result {result_id!r} does not exist.", 404)
        return _loads(row[0])

    def detect_last(self, model_id: str, body: Any) -> dict:
        """Detect the last timestamp of the variables sent inline."""
        if not isinstance(body, dict):
            raise AzureError("InvalidJsonFormat", "The request body must be a JSON object.")
        detector = self._ready(model_id)
        top = _top(body.get("topContributorCount", 10))
        variables = body.get("variables")
        if not isinstance(variables, list) or not variables:
            raise AzureError("NoVariablesFound", "The 'variables' field must list the model's variables.")
        data = {}
        for i, item in enumerate(variables):
            if not isinstance(item, dict) or not isinstance(item.get("variable"), str):
                raise AzureError("VariableParseError", f"variables[{i}]: needs 'variable', 'timestamps' and 'values'.")
            stamps, values = item.get("timestamps"), item.get("values")
            if not isinstance(stamps, list) or not isinstance(values, list) or len(stamps) != len(values):
                raise AzureError(
                    "VariableParseError", f"variables[{i}]: 'timestamps' and 'values' must be lists of one length."
                )
            try:
                index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
                data[item["variable"]] = pd.Series([float(v) for v in values], index=index)
            except (TypeError, ValueError):
                raise AzureError(
                    "VariableParseError", f"variables[{i}]: a timestamp or value cannot be read."
                ) from None
        try:
            states = detector.anomaly_states(data, top_contributor_count=top)
            variable_states = detector.prepare(data, "variables")[3]
        except DetectorError as exc:
            raise AzureError("InvalidInput", str(exc)) from None
        return {"variableStates": variable_states, "results": [_state(states[-1])] if states else []}


def _top(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 30:
        raise AzureError("InvalidTopContributorCount", "The 'topContributorCount' field must be an integer 1..30.")
    return value


def _state(state: dict) -> dict:
    stamp = state["timestamp"]
    out = dict(state)
    out["timestamp"] = iso(pd.Timestamp(stamp).tz_convert("UTC")) if pd.Timestamp(stamp).tzinfo else str(stamp)
    return out


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=_plain)


def _loads(text: str) -> Any:
    import json

    return json.loads(text)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime):
        return iso(pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value))
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")
