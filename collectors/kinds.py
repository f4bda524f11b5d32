"""Span kind inference for sources that do not record it (e.g. the Nezha minute CSVs).

OpenTelemetry marks a span ``server`` when it handles a request that came from another
process and ``client`` when it waits for another process. Without that field, the trace
structure tells the same story; the rule, applied in this order, uses no service names:

1. a span whose parent is in another service is a ``server`` span (the request entered
   the process there), and so is a root span, unless rule 2 applies to it;
2. any other span with a child in *another* service is a ``client`` span (it called that
   service); a root span is one too when its operation is an RPC method of a service
   its own service does not serve (a trace started by an instrumented client);
3. a span with no child in another service is still a ``client`` span whose callee
   emitted nothing (uninstrumented, or its spans were lost) when other spans of the same
   (service, operation) do call another service, or when it has no children, most spans of
   its (service, operation) have none, and its operation names a call to something this
   service does not serve (``AdServiceImpl/getAds`` with children on an ad service is
   internal work):

   - an RPC method ``[/][package.]Service/Method`` whose ``Service`` is not among the RPC
     services this service's own server spans handle (``hipstershop.CartService/GetCart``
     on a frontend is a client call; ``hipstershop.Frontend/Recv.`` is not);
   - a database statement named the OpenTelemetry way, ``<VERB> <db>.<table>``
     (``SELECT shop.items``);

4. a span whose parent is missing from the data and whose operation is an RPC method of
   a service this service serves is a ``server`` span;
5. everything else is ``internal``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from collectors.keys import parent_positions
from collectors.spanframe import KIND_DTYPE, KINDS

RPC_METHOD = re.compile(r"^/?(?P<service>[\w.\-]+)/(?P<method>[\w.\-]+)$")
DB_STATEMENT = re.compile(
    r"^(?P<verb>SELECT|INSERT|UPDATE|DELETE|REPLACE|UPSERT|CALL|MERGE)\s+(?P<db>[\w\-]+)\.(?P<table>[\w\-]+)$",
    re.IGNORECASE,
)


def rpc_service_name(operation: str) -> str | None:
    """The unqualified RPC service of ``[/][package.]Service/Method``, else None.

    ``hipstershop.CartService/GetCart`` -> ``CartService``;
    ``/grpc.shop.Email/Send`` -> ``Email``.
    """
    match = RPC_METHOD.match(str(operation).strip())
    if not match:
        return None
    return match.group("service").rsplit(".", 1)[-1] or None


def db_name(operation: str) -> str | None:
    """The database of an OpenTelemetry-named statement span ``SELECT db.table``, else None."""
    match = DB_STATEMENT.match(str(operation).strip())
    return match.group("db") if match else None


def infer_kinds(frame: pd.DataFrame, *, only_unknown: bool = True, parent: np.ndarray | None = None) -> pd.Series:
    """Span kinds from the trace structure (rules in the module docstring).

    With ``only_unknown`` the kinds a source recorded are kept and only ``unknown``
    ones are replaced. ``parent`` (row positions of parents, -1 for none) may be passed
    when already known. Returns a Series aligned with ``frame``.
    """
    n = len(frame)
    codes = np.full(n, KINDS.index("internal"), dtype=np.int8)
    if n:
        if parent is None:
            parent = parent_positions(frame)
        server, client = _server_client(frame, parent)
        codes[server] = KINDS.index("server")
        codes[client] = KINDS.index("client")
    result = pd.Series(pd.Categorical.from_codes(codes, dtype=KIND_DTYPE), index=frame.index)
    if only_unknown and "kind" in frame.columns:
        recorded = frame["kind"].astype(KIND_DTYPE)
        known = recorded.notna() & (recorded != "unknown")
        result = result.where(~known, recorded)
    return result


def _server_client(frame: pd.DataFrame, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(frame)
    svc = frame["service"].astype("category").cat.codes.to_numpy().astype(np.int64)
    has_parent = parent >= 0
    parent_svc = np.where(has_parent, svc[np.maximum(parent, 0)], -1)
    cross_parent = has_parent & (parent_svc != svc)
    cross_child = np.zeros(n, dtype=bool)
    cross_child[parent[cross_parent]] = True
    any_child = np.zeros(n, dtype=bool)
    any_child[parent[has_parent]] = True
    is_root = frame["parent_id"].isna().to_numpy()
    orphan = ~is_root & ~has_parent

    operation = frame["operation"].astype("category")
    op_codes = operation.cat.codes.to_numpy().astype(np.int64)
    categories = operation.cat.categories
    rpc_names = [rpc_service_name(c) or "" for c in categories]
    rpc_ids = {name: i for i, name in enumerate(sorted(set(rpc_names) | {""}))}
    rpc_of_cat = np.array([rpc_ids[r] for r in rpc_names] + [rpc_ids[""]], dtype=np.int64)
    db_of_cat = np.array([db_name(c) is not None for c in categories] + [False], dtype=bool)
    rpc = rpc_of_cat[op_codes]
    no_rpc = rpc_ids[""]
    is_db = db_of_cat[op_codes]

    width = np.int64(len(rpc_ids) + 1)
    pair = svc * width + rpc
    sure_server = cross_parent | (is_root & ~cross_child)
    serves_own = np.isin(pair, np.unique(pair[sure_server])) & (rpc != no_rpc)
    foreign_rpc = (rpc != no_rpc) & ~serves_own
    server = cross_parent | (is_root & ~(cross_child & foreign_rpc))

    group = svc * np.int64(len(categories) + 1) + op_codes
    group_codes, group_index = pd.factorize(group)
    n_groups = len(group_index)
    calls_out = np.bincount(group_codes, weights=cross_child, minlength=n_groups) > 0
    with_children = np.bincount(group_codes, weights=any_child, minlength=n_groups)
    sizes = np.bincount(group_codes, minlength=n_groups)
    mostly_leaf = with_children * 2 < sizes
    leaf = ~server & ~cross_child
    lost_callee = leaf & calls_out[group_codes]
    foreign_call = leaf & ~any_child & (foreign_rpc | is_db) & mostly_leaf[group_codes]
    orphan_server = leaf & orphan & serves_own & ~lost_callee
    client = (~server & cross_child) | lost_callee | foreign_call
    return server | orphan_server, client & ~orphan_server
