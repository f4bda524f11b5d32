"""The FastAPI application: Azure Anomaly Detector's univariate v1.1 routes and Tencent Metis'
routes on the framework's detectors (docs/service.md).

``create_app(data_dir, keys=(), max_body_bytes=...)``: with ``keys``, every route but the OpenAPI
document needs the header ``Ocp-Apim-Subscription-Key`` holding one of them (401 otherwise); a
body larger than ``max_body_bytes`` is refused with 413. Training runs in a bounded pool of worker
threads; a failing job marks its task failed and the pool goes on.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.detector import DetectorError
from core.errors import FrameworkError
from detectors.metis import extract_features, metis_series, train_model
from service import metis, schemas, univariate
from service.errors import AzureError, MetisError, ServiceError
from service.multivariate import Multivariate
from service.store import Store

AZURE = "/anomalydetector/v1.1"
MAX_BODY_BYTES = 16 * 1024 * 1024
KEY_HEADER = "Ocp-Apim-Subscription-Key"


# Azure's request and response models (the OpenAPI document; the checks are in service.univariate)
class TimeSeriesPoint(BaseModel):
    timestamp: str | None = None
    value: float


class UnivariateDetectionOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    series: list[TimeSeriesPoint] | None = None
    granularity: str | None = None
    customInterval: int | None = None
    period: int | None = None
    maxAnomalyRatio: float | None = None
    sensitivity: int | None = None
    imputeMode: str | None = None
    imputeFixedValue: float | None = None


class UnivariateChangePointDetectionOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    series: list[TimeSeriesPoint] | None = None
    granularity: str | None = None
    customInterval: int | None = None
    period: int | None = None
    stableTrendWindow: int | None = None
    threshold: float | None = None


class UnivariateEntireDetectionResult(BaseModel):
    period: int
    expectedValues: list[float]
    upperMargins: list[float]
    lowerMargins: list[float]
    isAnomaly: list[bool]
    isNegativeAnomaly: list[bool]
    isPositiveAnomaly: list[bool]
    severity: list[float]


class UnivariateLastDetectionResult(BaseModel):
    period: int
    suggestedWindow: int
    expectedValue: float
    upperMargin: float
    lowerMargin: float
    isAnomaly: bool
    isNegativeAnomaly: bool
    isPositiveAnomaly: bool
    severity: float


class UnivariateChangePointDetectionResult(BaseModel):
    period: int
    isChangePoint: list[bool]
    confidenceScores: list[float]


class AzureErrorBody(BaseModel):
    code: str
    message: str


class MetisRequest(BaseModel):
    viewId: str = Field(description="指标集ID")
    viewName: str
    attrId: str
    attrName: str
    taskId: str | None = Field(default=None, description="PredictValue only: a trained model")
    window: int | None = Field(default=None, description="w; default len(dataA) - 1")
    time: str
    dataC: str = Field(description="2w + 1 comma-separated values, one week ago")
    dataB: str = Field(description="2w + 1 comma-separated values, yesterday")
    dataA: str = Field(description="w + 1 comma-separated values ending at the tested point")


class MetisEnvelope(BaseModel):
    code: int
    msg: str
    data: Any = None


FIELD_CODES = {
    "series": "InvalidSeries",
    "granularity": "InvalidGranularity",
    "customInterval": "InvalidCustomInterval",
    "period": "InvalidPeriod",
    "maxAnomalyRatio": "InvalidModelArgument",
    "sensitivity": "InvalidModelArgument",
    "stableTrendWindow": "InvalidModelArgument",
    "threshold": "InvalidModelArgument",
    "imputeMode": "InvalidImputeMode",
    "imputeFixedValue": "InvalidImputeFixedValue",
}


def azure_error(exc: AzureError) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message}, exc.status, headers={"x-ms-error-code": exc.code})


def _metis_json(code: int, data: Any = "") -> JSONResponse:
    return JSONResponse(metis.envelope(code, data))


class Service:
    """The state behind the routes: the store, the worker pool, the keys."""

    def __init__(self, data_dir: str | Path, keys=(), workers: int = 2, mv_detector="mtad-gat", mv_params=None):
        self.store = Store(data_dir)
        self.keys = frozenset(keys)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rca-serve-train")
        self._lock = threading.Lock()
        self.mv = Multivariate(self.store.root, self.store.db, self.store.lock, self.pool, mv_detector, mv_params)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.store.close()

    # Metis training ------------------------------------------------------------
    def start_training(self, query: dict) -> str:
        selected = self.store.query_samples(query)
        positive = sum(s["positiveOrNegative"] == "positive" for s in selected)
        negative = len(selected) - positive
        if positive == 0 or negative == 0:
            raise MetisError(metis.LACK_SAMPLE, f"{positive} positive and {negative} negative samples selected")
        task_id = self.store.new_task(query, positive, negative)
        self.pool.submit(self._train, task_id, selected)
        return task_id

    def _train(self, task_id: str, samples: list[dict]) -> None:
        try:
            groups: dict[int, list] = {}
            labels: dict[int, list] = {}
            for s in samples:
                row, _ = metis_series(s["dataA"], s["dataB"], s["dataC"], int(s["window"]))
                groups.setdefault(len(row), []).append(row)
                labels.setdefault(len(row), []).append(1 if s["positiveOrNegative"] == "positive" else 0)
            features = np.concatenate([extract_features(np.array(rows)) for rows in groups.values()])
            normal = np.concatenate([np.array(labels[k]) for k in groups])
            path = self.store.metis_model(task_id)
            tmp = path.with_suffix(".tmp")
            train_model(features, normal, tmp, threads=1)
            tmp.replace(path)
        except (DetectorError, ServiceError, OSError, ValueError) as exc:
            self.store.finish_task(task_id, "failed", str(exc))
            return
        self.store.finish_task(task_id, "complete")

    def model_of(self, body: dict) -> str:
        task_id = body.get("taskId")
        if task_id in (None, ""):
            return "default"
        task_id = str(task_id)
        if not task_id.isdigit():
            raise MetisError(metis.CHECK_PARAM_FAILED, "taskId must be the id of a training task")
        tasks = self.store.tasks(task_id)
        if not tasks or tasks[0]["status"] != "complete":
            state = tasks[0]["status"] if tasks else "unknown"
            raise MetisError(metis.CHECK_PARAM_FAILED, f"taskId {task_id} has no trained model ({state})")
        return str(self.store.metis_model(task_id))


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetisError(metis.CHECK_PARAM_FAILED, f"request body is not valid JSON: {exc}") from None


SQLITE_INT = range(-(2**63), 2**63)


def _is_id(value: Any) -> bool:
    """An integer that SQLite can hold (JSON allows any size)."""
    return isinstance(value, int) and not isinstance(value, bool) and value in SQLITE_INT


def _sample_filters(body: Any) -> dict:
    """The sample filters of QuerySample, CountSample and Train: scalars, ``beginTime``/``endTime``
    integers (seconds) that SQLite can compare (else 1002, never a server error)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise MetisError(metis.CHECK_PARAM_FAILED, "request body must be a JSON object")
    out = {}
    for key in (*metis.SAMPLE_FIELDS, "beginTime", "endTime"):
        value = body.get(key)
        if key in ("dataC", "dataB", "dataA") or value in (None, ""):
            continue
        if key in ("beginTime", "endTime", "dataTime"):
            try:
                value = int(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
            except ValueError:
                value = None
            if value is None or value not in SQLITE_INT:
                raise MetisError(metis.CHECK_PARAM_FAILED, f"{key} must be an integer time in seconds")
        elif not isinstance(value, str | float) and not _is_id(value):
            raise MetisError(metis.CHECK_PARAM_FAILED, f"{key} must be a text or a number")
        out[key] = value
    return out


async def _metis_body(request: Request) -> dict:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise MetisError(metis.CHECK_PARAM_FAILED, "request body must be a JSON object")
    return body


def _samples_from(request_body: bytes, content_type: str) -> list:
    if "json" in content_type:
        try:
            body = json.loads(request_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MetisError(metis.FILE_FORMAT_ERR, f"request body is not valid JSON: {exc}") from None
        samples = body.get("samples") if isinstance(body, dict) else body
        if not isinstance(samples, list):
            raise MetisError(metis.FILE_FORMAT_ERR, 'expected {"samples": [...]} or a list of samples')
        return samples
    try:
        text = request_body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetisError(metis.FILE_FORMAT_ERR, "the CSV is not UTF-8") from None
    return list(csv.DictReader(io.StringIO(text)))


def create_app(
    data_dir: str | Path,
    keys=(),
    max_body_bytes: int = MAX_BODY_BYTES,
    workers: int = 2,
    mv_detector: str = "mtad-gat",
    mv_params: dict | None = None,
) -> FastAPI:
    """The service on ``data_dir`` (module docstring); ``app.state.service`` holds its state;
    ``mv_detector`` (with ``mv_params``) is the registered multivariate detector of MVAD's models."""
    service = Service(data_dir, keys, workers, mv_detector, mv_params)
    app = FastAPI(
        title="rca-fluxev detection service",
        description="Azure Anomaly Detector (univariate v1.1) and Tencent Metis compatible APIs (docs/service.md).",
        version="1.1",
        responses={
            401: {"model": AzureErrorBody, "description": "A missing or wrong Ocp-Apim-Subscription-Key"},
            413: {"model": AzureErrorBody, "description": "The request body is larger than the limit"},
        },
    )
    app.state.service = service

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if service.keys and request.url.path not in ("/openapi.json", "/docs"):
            if request.headers.get(KEY_HEADER) not in service.keys:
                return JSONResponse(
                    {"code": "Unauthorized", "message": f"Access denied: a valid {KEY_HEADER} header is required."},
                    401,
                )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse(
                {"code": "RequestTooLarge", "message": f"The request body exceeds {max_body_bytes} bytes."}, 413
            )
        return await call_next(request)

    @app.exception_handler(AzureError)
    async def on_azure(request: Request, exc: AzureError):
        return azure_error(exc)

    @app.exception_handler(MetisError)
    async def on_metis(request: Request, exc: MetisError):
        return _metis_json(exc.code, exc.detail)

    @app.exception_handler(FrameworkError)
    async def on_framework(request: Request, exc: FrameworkError):
        # a detector refused the input (a DetectorError naming it): the client's fault, never a 500
        if request.url.path.startswith("/anomalydetector/"):
            return azure_error(AzureError("BadArgument", str(exc)))
        return _metis_json(metis.CHECK_PARAM_FAILED, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/anomalydetector/"):
            code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadArgument")
            return azure_error(AzureError(code, str(exc.detail), exc.status_code))
        return JSONResponse({"detail": exc.detail}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ())]
        if first.get("type") == "json_invalid" or loc in (["body"], []):
            code, message = "InvalidJsonFormat", "The request body is not a valid JSON object."
        else:
            field = loc[1] if len(loc) > 1 else ""
            code = FIELD_CODES.get(field, "BadArgument")
            message = f"The '{'.'.join(loc[1:])}' field is invalid: {first.get('msg', '')}."
        return azure_error(AzureError(code, message))

    # Azure univariate --------------------------------------------------------------
    azure_errors: dict[int | str, dict[str, Any]] = {400: {"model": AzureErrorBody, "description": "Bad request"}}
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": AzureErrorBody, "description": "ModelNotExist or ResultNotExist"}
    }

    @app.post(
        f"{AZURE}/timeseries/entire/detect", response_model=UnivariateEntireDetectionResult, responses=azure_errors
    )
    def entire_detect(options: UnivariateDetectionOptions) -> dict:
        """Detect anomalies for the entire series in batch."""
        return univariate.entire(options.model_dump())

    @app.post(f"{AZURE}/timeseries/last/detect", response_model=UnivariateLastDetectionResult, responses=azure_errors)
    def last_detect(options: UnivariateDetectionOptions) -> dict:
        """Detect the anomaly status of the latest point of the series."""
        return univariate.last(options.model_dump())

    @app.post(
        f"{AZURE}/timeseries/changepoint/detect",
        response_model=UnivariateChangePointDetectionResult,
        responses=azure_errors,
    )
    def changepoint_detect(options: UnivariateChangePointDetectionOptions) -> dict:
        """Evaluate the change point score of every series point."""
        return univariate.changepoint(options.model_dump())

    # Azure multivariate ------------------------------------------------------------------
    mv = f"{AZURE}/multivariate"

    async def _azure_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AzureError("InvalidJsonFormat", "The request body is not a valid JSON object.") from None

    def _header(name: str) -> dict[str, Any]:
        return {name: {"schema": {"type": "string"}}}

    @app.post(
        f"{mv}/models",
        status_code=201,
        responses={
            201: {"model": schemas.AnomalyDetectionModel, "description": "Created", "headers": _header("Location")},
            **azure_errors,
        },
        openapi_extra=schemas.json_body(schemas.ModelInfoRequest),
    )
    async def train_model_route(request: Request):
        """Train a multivariate model (asynchronous: poll the model until READY or FAILED)."""
        model = service.mv.train(await _azure_body(request))
        location = f"{str(request.base_url).rstrip('/')}{mv}/models/{model['modelId']}"
        return JSONResponse(model, 201, headers={"Location": location})

    @app.get(f"{mv}/models", responses={200: {"model": schemas.ModelList}, **azure_errors})
    def list_models(request: Request, skip: int = 0, top: int = 10):
        """The models, most recent first, ``top`` (default 10) after ``skip``."""
        if skip < 0 or not 1 <= top <= 1000:
            raise AzureError("InvalidRequestParameterError", "skip must be >= 0 and top in 1..1000.")
        out = service.mv.list(skip, top)
        if out["nextLink"]:
            out["nextLink"] = f"{str(request.base_url).rstrip('/')}{mv}/models?skip={skip + top}&top={top}"
        return out

    @app.post(
        f"{mv}/models/{{model_id}}:detect-batch",
        status_code=202,
        responses={
            202: {
                "model": schemas.BatchDetectionResult,
                "description": "Accepted",
                "headers": {**_header("Operation-Location"), **_header("Operation-Id")},
            },
            **azure_errors,
            **not_found,
        },
        openapi_extra=schemas.json_body(schemas.BatchDetectionOptions),
    )
    async def detect_batch(model_id: str, request: Request):
        """Start batch inference; poll ``Operation-Location`` for the result."""
        out = service.mv.detect_batch(model_id, await _azure_body(request))
        location = f"{str(request.base_url).rstrip('/')}{mv}/detect-batch/{out['resultId']}"
        return JSONResponse(out, 202, headers={"Operation-Location": location, "Operation-Id": out["resultId"]})

    @app.post(
        f"{mv}/models/{{model_id}}:detect-last",
        responses={200: {"model": schemas.LastDetectionResult}, **azure_errors, **not_found},
        openapi_extra=schemas.json_body(schemas.LastDetectionOptions),
    )
    async def detect_last(model_id: str, request: Request):
        """Synchronous inference on the variables sent: the last timestamp's state."""
        return service.mv.detect_last(model_id, await _azure_body(request))

    @app.get(
        f"{mv}/models/{{model_id}}",
        responses={200: {"model": schemas.AnomalyDetectionModel}, **azure_errors, **not_found},
    )
    def get_model(model_id: str):
        """A model: its info, status, errors and diagnostics."""
        return service.mv.get(model_id)

    @app.delete(f"{mv}/models/{{model_id}}", status_code=204, responses={**azure_errors, **not_found})
    def delete_model(model_id: str):
        service.mv.delete(model_id)
        return Response(status_code=204)

    @app.get(
        f"{mv}/detect-batch/{{result_id}}",
        responses={200: {"model": schemas.BatchDetectionResult}, **azure_errors, **not_found},
    )
    def batch_result(result_id: str):
        """A batch inference result: summary (status) and per-timestamp results."""
        return service.mv.result(result_id)

    # Metis ---------------------------------------------------------------------------
    metis_doc = {
        "requestBody": {"content": {"application/json": {"schema": MetisRequest.model_json_schema()}}, "required": True}
    }
    not_post = ["GET", "PUT", "DELETE", "PATCH"]

    def _not_post() -> JSONResponse:
        return _metis_json(metis.NOT_POST)

    @app.post("/PredictValue", response_model=MetisEnvelope, openapi_extra=metis_doc)
    async def predict_value(request: Request):
        """Metis 量值检测: is the last point of dataA anomalous (ret 0) with p = P(normal)."""
        body = await _metis_body(request)
        data = metis.predict_value(body, service.model_of(body))
        if data["ret"] == 0:
            service.store.add_anomaly(body, "value", data["p"])
        return metis.envelope(metis.OK, data)

    @app.post("/PredictRate", response_model=MetisEnvelope, openapi_extra=metis_doc)
    async def predict_rate(request: Request):
        """Metis 率值检测: 3-sigma on the three windows, p the two-sided normal tail probability."""
        body = await _metis_body(request)
        data = metis.predict_rate(body)
        if data["ret"] == 0:
            service.store.add_anomaly(body, "rate", data["p"])
        return metis.envelope(metis.OK, data)

    for path in ("/PredictValue", "/PredictRate", "/ImportSample", "/QuerySample", "/UpdateSample"):
        app.add_api_route(path, _not_post, methods=not_post, include_in_schema=False)
    for path in ("/DeleteSample", "/CountSample", "/Train", "/QueryTrain", "/DeleteTrain", "/SearchAnomaly"):
        app.add_api_route(path, _not_post, methods=not_post, include_in_schema=False)

    @app.post(
        "/ImportSample",
        response_model=MetisEnvelope,
        openapi_extra=schemas.json_body(schemas.SampleImport, extra={"text/csv": {"schema": {"type": "string"}}}),
    )
    async def import_sample(request: Request):
        """Import labelled samples: the template's CSV (text/csv) or JSON ``{"samples": [...]}``."""
        raw = await request.body()
        rows = _samples_from(raw, request.headers.get("content-type", ""))
        samples = [metis.check_sample(row, f"sample {i + 1}") for i, row in enumerate(rows)]
        ids = service.store.add_samples(samples)
        positive = sum(s["positiveOrNegative"] == "positive" for s in samples)
        return metis.envelope(
            metis.OK,
            {
                "positiveCount": positive,
                "negativeCount": len(samples) - positive,
                "totalCount": len(samples),
                "ids": ids,
            },
        )

    @app.post("/QuerySample", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.SampleQuery, False))
    async def query_sample(request: Request):
        """Samples by source, trainOrTest, positiveOrNegative, window, view/attr and dataTime range."""
        found = service.store.query_samples(_sample_filters(await _json_body(request)))
        return metis.envelope(metis.OK, {"count": len(found), "samples": found})

    @app.post("/CountSample", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.SampleQuery, False))
    async def count_sample(request: Request):
        found = service.store.query_samples(_sample_filters(await _json_body(request)))
        positive = sum(s["positiveOrNegative"] == "positive" for s in found)
        return metis.envelope(
            metis.OK, {"positiveCount": positive, "negativeCount": len(found) - positive, "totalCount": len(found)}
        )

    def _sample_id(body: dict) -> int:
        sample_id = body.get("id")
        if not isinstance(sample_id, int) or not _is_id(sample_id):
            raise MetisError(metis.CHECK_PARAM_FAILED, "id must be the integer id of a sample")
        return sample_id

    @app.post("/UpdateSample", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.SampleUpdate))
    async def update_sample(request: Request):
        """Change fields of sample ``id`` (the others are kept)."""
        body = await _metis_body(request)
        sample_id = _sample_id(body)
        current = service.store.get_sample(sample_id)
        if current is None:
            raise MetisError(metis.CHECK_PARAM_FAILED, f"no sample with id {sample_id}")
        merged = {k: body.get(k, current[k]) for k in metis.SAMPLE_FIELDS}
        service.store.update_sample(sample_id, metis.check_sample(merged, f"sample {sample_id}"))
        return metis.envelope(metis.OK, service.store.get_sample(sample_id))

    @app.post("/DeleteSample", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.SampleDelete))
    async def delete_sample(request: Request):
        """Delete sample ``id`` (or the list ``ids``)."""
        body = await _metis_body(request)
        ids = body.get("ids", [body.get("id")])
        if not isinstance(ids, list) or not ids or not all(_is_id(i) for i in ids):
            raise MetisError(metis.CHECK_PARAM_FAILED, "id must be the integer id of a sample")
        return metis.envelope(metis.OK, {"deleted": service.store.delete_samples(ids)})

    @app.post("/Train", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.SampleQuery, False))
    async def train(request: Request):
        """Train xgboost on the selected samples in the background; ``data.taskId`` names the model."""
        filters = _sample_filters(await _json_body(request))
        query = {
            k: filters[k]
            for k in ("trainOrTest", "positiveOrNegative", "source", "beginTime", "endTime")
            if k in filters
        }
        return metis.envelope(metis.OK, {"taskId": service.start_training(query)})

    @app.post("/QueryTrain", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.TaskSelect, False))
    async def query_train(request: Request):
        """Training tasks (one with ``taskId``): status running, complete or failed, sample counts."""
        body = await _json_body(request) or {}
        task_id = body.get("taskId") if isinstance(body, dict) else None
        tasks = service.store.tasks(None if task_id in (None, "") else str(task_id))
        out = [
            {
                "taskId": t["task_id"],
                "status": t["status"],
                "positiveCount": t["positive_count"],
                "negativeCount": t["negative_count"],
                "message": t["message"],
            }
            for t in tasks
        ]
        return metis.envelope(metis.OK, {"count": len(out), "tasks": out})

    @app.post("/DeleteTrain", response_model=MetisEnvelope, openapi_extra=schemas.json_body(schemas.TaskSelect))
    async def delete_train(request: Request):
        body = await _metis_body(request)
        task_id = str(body.get("taskId", ""))
        if not task_id.isdigit():
            raise MetisError(metis.CHECK_PARAM_FAILED, "taskId must be the id of a training task")
        return metis.envelope(metis.OK, {"deleted": int(service.store.delete_task(task_id))})

    @app.post("/SearchAnomaly", response_model=MetisEnvelope)
    async def search_anomaly(request: Request):
        """The anomalies PredictValue/PredictRate found (ret 0), for labelling."""
        found = service.store.anomalies()
        return metis.envelope(metis.OK, {"count": len(found), "anomalies": found})

    return app
