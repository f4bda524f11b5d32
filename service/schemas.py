"""The OpenAPI description of Azure MVAD's (v1.1) bodies and of Metis' management routes.

These routes read their bodies as raw JSON (service.multivariate checks them to answer Azure's
error codes), so the models here only describe the request and response bodies in
``/openapi.json``; they are not used to validate anything.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    code: str
    message: str


class AlignPolicy(BaseModel):
    alignMode: Literal["Inner", "Outer"] | None = None
    fillNAMethod: Literal["Previous", "Subsequent", "Linear", "Zero", "Fixed", "NotFill"] | None = None
    paddingValue: float | None = None


class ModelInfoRequest(BaseModel):
    dataSource: str = Field(description="A path or file:// URL inside the data dir, or an HTTP(S) URL")
    dataSchema: Literal["OneTable", "MultiTable"] | None = None
    startTime: str
    endTime: str
    displayName: str | None = Field(default=None, max_length=24)
    slidingWindow: int | None = Field(default=None, ge=28, le=2880)
    alignPolicy: AlignPolicy | None = None


class VariableState(BaseModel):
    variable: str
    filledNARatio: float
    effectiveCount: int
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None


class ModelState(BaseModel):
    epochIds: list[int] | None = None
    trainLosses: list[float] | None = None
    validationLosses: list[float] | None = None
    latenciesInSeconds: list[float] | None = None


class DiagnosticsInfo(BaseModel):
    modelState: ModelState
    variableStates: list[VariableState]


class ModelInfo(BaseModel):
    dataSource: str
    dataSchema: Literal["OneTable", "MultiTable"]
    startTime: str
    endTime: str
    displayName: str | None = None
    slidingWindow: int
    alignPolicy: AlignPolicy
    status: Literal["CREATED", "RUNNING", "READY", "FAILED"]
    errors: list[ErrorResponse]
    diagnosticsInfo: DiagnosticsInfo


class AnomalyDetectionModel(BaseModel):
    modelId: str
    createdTime: str
    lastUpdatedTime: str
    modelInfo: ModelInfo


class ModelList(BaseModel):
    models: list[AnomalyDetectionModel]
    currentCount: int
    maxCount: int
    nextLink: str | None = None


class BatchDetectionOptions(BaseModel):
    dataSource: str = Field(description="A path or file:// URL inside the data dir, or an HTTP(S) URL")
    topContributorCount: int | None = Field(default=None, ge=1, le=30)
    startTime: str
    endTime: str


class CorrelationChanges(BaseModel):
    changedVariables: list[str]
    changedValues: list[float]


class AnomalyInterpretation(BaseModel):
    variable: str
    contributionScore: float
    correlationChanges: CorrelationChanges


class AnomalyValue(BaseModel):
    isAnomaly: bool
    severity: float
    score: float
    interpretation: list[AnomalyInterpretation]


class AnomalyState(BaseModel):
    timestamp: str
    value: AnomalyValue | None = None
    errors: list[ErrorResponse] | None = None


class BatchSetupInfo(BaseModel):
    dataSource: str
    topContributorCount: int
    startTime: str
    endTime: str


class BatchSummary(BaseModel):
    status: Literal["CREATED", "RUNNING", "READY", "FAILED"]
    errors: list[ErrorResponse]
    variableStates: list[VariableState]
    setupInfo: BatchSetupInfo


class BatchDetectionResult(BaseModel):
    resultId: str
    summary: BatchSummary
    results: list[AnomalyState]


class VariableValues(BaseModel):
    variable: str
    timestamps: list[str]
    values: list[float]


class LastDetectionOptions(BaseModel):
    variables: list[VariableValues]
    topContributorCount: int | None = Field(default=None, ge=1, le=30)


class LastDetectionResult(BaseModel):
    variableStates: list[VariableState]
    results: list[AnomalyState]


class SampleQuery(BaseModel):
    """Filters of QuerySample, CountSample and Train (all optional)."""

    source: str | None = None
    trainOrTest: str | None = None
    positiveOrNegative: str | None = None
    window: int | str | None = None
    viewId: str | None = None
    viewName: str | None = None
    attrId: str | None = None
    attrName: str | None = None
    beginTime: str | None = None
    endTime: str | None = None


class Sample(BaseModel):
    viewName: str
    viewId: str
    attrName: str
    attrId: str
    source: str
    trainOrTest: str
    positiveOrNegative: str
    window: int | str
    dataC: str
    dataB: str
    dataA: str
    dataTime: int | str


class SampleImport(BaseModel):
    samples: list[Sample]


class SampleUpdate(BaseModel):
    id: int
    viewName: str | None = None
    viewId: str | None = None
    attrName: str | None = None
    attrId: str | None = None
    source: str | None = None
    trainOrTest: str | None = None
    positiveOrNegative: str | None = None
    window: int | str | None = None
    dataC: str | None = None
    dataB: str | None = None
    dataA: str | None = None
    dataTime: int | str | None = None


class SampleDelete(BaseModel):
    id: int | None = None
    ids: list[int] | None = None


class TaskSelect(BaseModel):
    taskId: str | None = None


def json_body(model: type[BaseModel], required: bool = True, extra: dict[str, Any] | None = None) -> dict:
    """``openapi_extra`` describing a route's JSON request body by ``model`` (and other media types)."""
    content: dict[str, Any] = {"application/json": {"schema": inline(model)}}
    content.update(extra or {})
    return {"requestBody": {"content": content, "required": required}}


def inline(model: type[BaseModel]) -> dict:
    """``model``'s JSON schema with its ``$defs`` inlined (a ``$ref`` inside ``openapi_extra`` would
    resolve against the whole document, where those ``$defs`` are not)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)
