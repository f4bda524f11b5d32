"""The per-call table: one row per call from a caller service to a callee service.

A call is found in one of two ways:

- **span pair**: a parent span and its child span in a different service. When the parent
  is a client (or producer) span, the call's latency is the parent's duration (what the caller
  waited, network included) and its time is the parent's start; otherwise (the caller emits
  no client span) both come from the child. ``server_us`` is the child's duration (what the
  callee spent). A client span with several children in the same callee counts once (the
  earliest child; the others are counted in ``attrs["extra_children"]``).
- **client span without a callee span**: the callee is named from attributes or the
  operation (see :mod:`graph.callees`); ``server_us`` is NaN. Client spans whose callee
  cannot be named are counted in ``attrs["unplaced"]`` by ``(service, operation)``.

Only durations are used, never differences of start times across hosts, so clock skew
between hosts (a child starting before its parent) cannot produce negative values. A span
whose parent is not in the data starts a new tree: ``attrs["orphans"]`` counts them,
``attrs["roots"]`` counts spans without a parent; orphan server spans have no caller and make
no call.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from collectors.keys import parent_positions
from collectors.spanframe import make_spanframe
from graph.callees import ATTRIBUTE_COLUMNS, CalleeResolver
from graph.errors import GraphError

CALLER_KINDS = ("client", "producer")


def is_calls_table(frame: pd.DataFrame) -> bool:
    return isinstance(frame, pd.DataFrame) and {"caller", "callee", "latency_us"}.issubset(frame.columns)


def calls(spans: pd.DataFrame, callee_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per-call table of a SpanFrame (rules in the module docstring).

    Columns: ``start_us`` (int64, caller-side start), ``caller``, ``callee``, ``operation``
    (the caller-side span's operation), ``latency_us`` (int64, caller waited), ``server_us``
    (float64 µs, callee spent; NaN when the callee emitted no span), ``error`` (bool: either
    side's status is error), ``callee_from`` (``span``, ``attribute`` or ``operation``).
    ``callee_map`` overrides callee naming (see :class:`graph.callees.CalleeResolver`).
    """
    if not isinstance(spans, pd.DataFrame):
        raise GraphError(f"calls: expected a SpanFrame (pandas DataFrame), got {type(spans).__name__}")
    if (
        "kind" not in spans.columns
        or not isinstance(spans["kind"].dtype, pd.CategoricalDtype)
        or not isinstance(spans["service"].dtype, pd.CategoricalDtype)
    ):
        spans = make_spanframe(spans, source="calls input")
    n = len(spans)
    parent = parent_positions(spans) if n else np.zeros(0, dtype=np.int64)
    service = spans["service"]
    svc = service.cat.codes.to_numpy().astype(np.int64)
    names = np.asarray(service.cat.categories.astype(str), dtype=object)
    caller_side = np.isin(
        spans["kind"].cat.codes.to_numpy(), [spans["kind"].cat.categories.get_loc(k) for k in CALLER_KINDS]
    )
    error = (spans["status"] == "error").to_numpy()
    start = spans["start_us"].to_numpy()
    duration = spans["duration_us"].to_numpy()
    op_codes = spans["operation"].cat.codes.to_numpy()

    has_parent = parent >= 0
    child = np.flatnonzero(has_parent & (svc != np.where(has_parent, svc[np.maximum(parent, 0)], -1)))
    par = parent[child]
    pairs = pd.DataFrame({"parent": par, "callee": svc[child], "start": start[child], "child": child})
    pairs = pairs.sort_values(["parent", "callee", "start"], kind="stable")
    repeat = pairs.duplicated(["parent", "callee"]).to_numpy() & caller_side[pairs["parent"].to_numpy()]
    extra_children = int(repeat.sum())
    pairs = pairs.loc[~repeat]
    child, par = pairs["child"].to_numpy(), pairs["parent"].to_numpy()
    client_parent = caller_side[par]
    row_of = np.where(client_parent, par, child)
    pair_table = pd.DataFrame(
        {
            "start_us": start[row_of],
            "caller": names[svc[par]],
            "callee": names[svc[child]],
            "op": op_codes[row_of],
            "latency_us": duration[row_of],
            "server_us": duration[child].astype(np.float64),
            "error": error[par] & client_parent | error[child],
            "callee_from": "span",
        }
    )

    called = np.zeros(n, dtype=bool)
    called[par[client_parent]] = True
    lonely = np.flatnonzero(caller_side & ~called)
    resolver = CalleeResolver.from_spans(spans, callee_map)
    lonely_table, unplaced = _resolve_lonely(spans, lonely, resolver, names, svc, op_codes)
    lonely_rows = lonely_table["row"].to_numpy() if len(lonely_table) else np.zeros(0, dtype=np.int64)
    lonely_frame = pd.DataFrame(
        {
            "start_us": start[lonely_rows],
            "caller": names[svc[lonely_rows]],
            "callee": lonely_table["callee"].to_numpy(dtype=object) if len(lonely_table) else np.zeros(0, dtype=object),
            "op": op_codes[lonely_rows],
            "latency_us": duration[lonely_rows],
            "server_us": np.full(len(lonely_rows), np.nan),
            "error": error[lonely_rows],
            "callee_from": lonely_table["how"].to_numpy(dtype=object)
            if len(lonely_table)
            else np.zeros(0, dtype=object),
        }
    )
    table = pd.concat([pair_table, lonely_frame], ignore_index=True)
    table = table.sort_values(["start_us"], kind="stable").reset_index(drop=True)
    operation = (
        pd.Categorical.from_codes(
            table["op"].to_numpy().astype(np.int64), categories=spans["operation"].cat.categories, validate=False
        )
        if len(spans["operation"].cat.categories)
        else pd.Categorical([None] * len(table))
    )
    out = pd.DataFrame(
        {
            "start_us": table["start_us"].to_numpy(np.int64),
            "caller": pd.Categorical(table["caller"].to_numpy(dtype=object)),
            "callee": pd.Categorical(table["callee"].to_numpy(dtype=object)),
            "operation": operation,
            "latency_us": table["latency_us"].to_numpy(np.int64),
            "server_us": table["server_us"].to_numpy(np.float64),
            "error": table["error"].to_numpy(bool),
            "callee_from": pd.Categorical(
                table["callee_from"].to_numpy(dtype=object), categories=["span", "attribute", "operation"]
            ),
        }
    )
    roots = int(spans["parent_id"].isna().sum())
    out.attrs.update(
        {
            "roots": roots,
            "orphans": int((~has_parent).sum()) - roots,
            "trees": int((~has_parent).sum()),
            "extra_children": extra_children,
            "unplaced": unplaced,
            "spans": n,
        }
    )
    return out


def _resolve_lonely(spans, rows, resolver, names, svc, op_codes):
    """Name the callee of each client span in ``rows``; group by distinct attribute values for speed."""
    unplaced: dict[str, int] = {}
    if len(rows) == 0:
        return pd.DataFrame(columns=["row", "callee", "how"]), unplaced
    present = [c for c in ATTRIBUTE_COLUMNS if c in spans.columns]
    keys = pd.DataFrame({"svc": svc[rows], "op": op_codes[rows]})
    for column in present:
        keys[column] = spans[column].to_numpy(dtype=object)[rows]
    keys = keys.astype(dict.fromkeys(present, object))
    group_cols = ["svc", "op", *present]
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys[group_cols].fillna("\0")))
    categories = spans["operation"].cat.categories
    callee_of, how_of = [], []
    for values in uniques:
        record = dict(zip(group_cols, values))
        attributes = {c: (None if record[c] == "\0" else record[c]) for c in present}
        operation = categories[record["op"]] if record["op"] >= 0 else ""
        callee, how = resolver.resolve(attributes, operation)
        caller = names[record["svc"]]
        if callee is not None and callee == caller:
            callee, how = None, "unplaced"
        callee_of.append(callee)
        how_of.append(how)
    callee_arr = np.asarray(callee_of, dtype=object)[codes]
    how_arr = np.asarray(how_of, dtype=object)[codes]
    placed = how_arr != "unplaced"
    if (~placed).any():
        lost = pd.DataFrame(
            {"svc": names[svc[rows[~placed]]], "op": np.asarray(categories, dtype=object)[op_codes[rows[~placed]]]}
        )
        for (service, operation), count in lost.value_counts().items():
            unplaced[f"{service}: {operation}"] = int(count)
    return pd.DataFrame({"row": rows[placed], "callee": callee_arr[placed], "how": how_arr[placed]}), unplaced
