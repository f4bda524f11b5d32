"""RCAEval ``traces.csv``: ``traceID, spanID, parentSpanID, serviceName, operationName,
methodName, startTime, duration`` (µs; header names matched case-insensitively), with a
status / response-code column when present.

The operation is ``operationName`` (``methodName`` is kept as ``rpc_method``). A status
column (``statusCode``, ``status_code``, ``responseCode``, ``response_code``, ``status``,
``http.status_code``) is read as an HTTP code when it is numeric >= 100 (error when >= 500),
as a gRPC code when numeric < 100 (error when non-zero), else as a word (``error`` / ``ok`` /
``unset``; any other word drops the span, counted as ``unknown_status``). Times are read by the
rule of :mod:`core.units` (documented unit: microseconds).
Kinds are recorded when a ``spanKind``/``kind`` column exists, else inferred
(:func:`collectors.kinds.infer_kinds`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from collectors.errors import CollectError
from collectors.kinds import infer_kinds
from collectors.spanframe import make_spanframe

REQUIRED = ("traceID", "spanID", "parentSpanID", "serviceName", "operationName", "startTime", "duration")
STATUS_COLUMNS = ("statusCode", "status_code", "responseCode", "response_code", "status", "http.status_code")
KIND_COLUMNS = ("spanKind", "span_kind", "kind")
POD_COLUMNS = ("podName", "pod", "hostName", "host")


def canonical(fields: Sequence[str]) -> dict[str, str]:
    """Header name -> canonical name, case-insensitively (``traceId`` and ``traceID`` both work)."""
    wanted = {name.lower(): name for name in (*REQUIRED, "methodName", *STATUS_COLUMNS, *KIND_COLUMNS, *POD_COLUMNS)}
    out: dict[str, str] = {}
    for field in fields:
        canonical = wanted.get(field.strip().lower())
        if canonical and canonical not in out.values():
            out[field] = canonical
    return out


def is_rcaeval_header(fields: Sequence[str]) -> bool:
    return set(REQUIRED).issubset(canonical(fields).values())


def _status(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    words = values.astype("string").str.strip().str.lower()
    status = pd.Series("unset", index=values.index, dtype=object)
    code = (numeric == numeric.round()) & (numeric >= 0) & (numeric < 600)
    odd = (numeric.notna() & ~code).to_numpy()
    numeric = numeric.where(code)
    http = numeric.where(numeric >= 100)
    grpc = numeric.where(numeric < 100)
    status[(http >= 500).fillna(False).to_numpy()] = "error"
    status[((http < 500) & (http >= 100)).fillna(False).to_numpy()] = "ok"
    status[(grpc != 0).fillna(False).to_numpy() & grpc.notna().to_numpy()] = "error"
    status[(grpc == 0).fillna(False).to_numpy()] = "ok"
    word = (numeric.isna() & words.notna() & (words != "")).fillna(False).to_numpy()
    errors = words.isin(["error", "err", "false", "fail", "failed", "status_code_error"]).fillna(False).to_numpy()
    oks = words.isin(["ok", "success", "true", "status_code_ok"]).fillna(False).to_numpy()
    unset = words.isin(["unset", "status_code_unset", "none", "nan"]).fillna(False).to_numpy()
    status[word & errors] = "error"
    status[word & oks] = "ok"
    unknown = word & ~errors & ~oks & ~unset
    status[unknown] = words[unknown].to_numpy()
    status[odd] = "status code " + values[odd].astype(str)
    return status, http.round().astype("Int64"), grpc.round().astype("Int64")


def read_rcaeval_csv(path) -> pd.DataFrame:
    """SpanFrame of an RCAEval ``traces.csv`` (rows with unreadable fields are counted as ``malformed_row``)."""
    path = Path(path)
    skipped: Counter[str] = Counter()

    def on_invalid(row):
        skipped["malformed_row"] += 1
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
        names = table.column_names
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise CollectError(f"{path}: not a readable CSV: {exc}") from exc
    renamed = [canonical(names).get(c, c) for c in names]
    twice = sorted({c for c in renamed if renamed.count(c) > 1})
    if twice:
        raise CollectError(f"{path}: column(s) {twice} appear more than once in the header")
    table = table.rename_columns(renamed)
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if binary:
        raise CollectError(f"{path}: column(s) {binary} hold bytes that are not UTF-8 text")
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise CollectError(f"{path}: RCAEval traces.csv lacks column(s) {missing}")
    string = pd.StringDtype("pyarrow")
    raw = table.to_pandas(types_mapper={pa.string(): string, pa.large_string(): string}.get)
    ids = {c: raw[c].astype(string) for c in ("traceID", "spanID", "parentSpanID")}
    parent = ids["parentSpanID"].mask(ids["parentSpanID"].str.strip().isin(["", "root", "0", "None", "nan"]))
    frame = pd.DataFrame(
        {
            "trace_id": ids["traceID"],
            "span_id": ids["spanID"],
            "parent_id": parent,
            "service": raw["serviceName"].astype(object),
            "operation": raw["operationName"].astype(object),
            "start_us": raw["startTime"],
            "duration_us": raw["duration"],
            "kind": "unknown",
            "status": "unset",
            "pod": None,
        }
    )
    if "methodName" in raw:
        frame["rpc_method"] = raw["methodName"].astype(string)
    kind_column = next((c for c in KIND_COLUMNS if c in raw), None)
    if kind_column:
        kinds = raw[kind_column].astype("string").str.strip().str.lower().str.removeprefix("span_kind_")
        frame["kind"] = kinds.where(kinds.isin(["server", "client", "internal", "producer", "consumer"]), "unknown")
    status_column = next((c for c in STATUS_COLUMNS if c in raw), None)
    if status_column:
        status, http, grpc = _status(raw[status_column])
        frame["status"] = status.to_numpy()
        if http.notna().any():
            frame["http_status"] = http.to_numpy()
        if grpc.notna().any():
            frame["grpc_status"] = grpc.to_numpy()
    pod_column = next((c for c in POD_COLUMNS if c in raw), None)
    if pod_column:
        frame["pod"] = raw[pod_column].astype(object)
    frame = make_spanframe(frame.reset_index(drop=True), source=str(path), skipped=skipped)
    frame["kind"] = infer_kinds(frame, only_unknown=True)
    return frame
