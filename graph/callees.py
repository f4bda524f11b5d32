"""Naming the callee of a client span whose callee emitted no span (uninstrumented or lost).

The callee is taken, in this order, from the span's attributes ``peer_service``,
``rpc_service``, ``server_address`` (OTel ``server.address`` / ``net.peer.name``), and then
from its operation name: an RPC method ``[/][package.]Service/Method`` or an OpenTelemetry
database statement ``SELECT db.table`` (callee ``db``).

An RPC service name ``Service`` becomes a service name through :class:`CalleeResolver`:

1. the user's ``mapping`` (``{"CartService": "carts"}``; keys may be the full
   ``package.Service``, the bare ``Service``, a peer address or a database name);
2. the services seen *serving* that RPC service in the same data (their server spans carry
   operations ``package.Service/...``), the most frequent one;
3. otherwise the RPC service name lower-cased (``CartService`` -> ``cartservice``).

Host names are cut to their first DNS label without port (``carts.prod.svc:7070`` -> ``carts``).
No system's service names are built in.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from collectors.kinds import db_name, rpc_service_name

ATTRIBUTE_COLUMNS = ("peer_service", "rpc_service", "server_address")


def host_label(address: str) -> str:
    """``carts.prod.svc.cluster.local:7070`` -> ``carts``; IP addresses are kept whole."""
    host = str(address).strip()
    if host.startswith("[") and "]" in host:
        return host[1 : host.index("]")]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host.replace(".", "").isdigit() or ":" in host:
        return host
    return host.split(".", 1)[0]


class CalleeResolver:
    """Turns attribute values and operation names into callee service names (rules in the module docstring)."""

    def __init__(self, mapping: Mapping[str, str] | None = None, served: Mapping[str, str] | None = None):
        self.mapping = dict(mapping or {})
        self.served = dict(served or {})

    @classmethod
    def from_spans(cls, spans: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> CalleeResolver:
        """Learn which service serves each RPC service from the server spans of ``spans``."""
        servers = spans.loc[spans["kind"].isin(["server", "consumer"]), ["service", "operation"]]
        counts = servers.groupby(["service", "operation"], observed=True).size()
        votes: dict[str, dict[str, int]] = {}
        for (service, operation), count in counts.items():
            rpc = rpc_service_name(operation)
            if rpc:
                votes.setdefault(rpc, {}).setdefault(str(service), 0)
                votes[rpc][str(service)] += int(count)
        served = {rpc: max(by_service, key=lambda s: (by_service[s], s)) for rpc, by_service in votes.items()}
        return cls(mapping, served)

    def _mapped(self, *keys: str) -> str | None:
        for key in keys:
            if key in self.mapping:
                return self.mapping[key]
        return None

    def rpc_service(self, name: str) -> str:
        full = str(name).strip().lstrip("/")
        short = full.rsplit(".", 1)[-1]
        return self._mapped(full, short) or self.served.get(short) or short.lower()

    def peer(self, value: str) -> str:
        return self._mapped(str(value)) or str(value)

    def address(self, value: str) -> str:
        label = host_label(value)
        return self._mapped(str(value), label) or label

    def operation(self, operation: str) -> tuple[str | None, str]:
        """``(callee, how)`` from an operation name; callee None when the name says nothing."""
        rpc = rpc_service_name(operation)
        if rpc:
            full = str(operation).strip().lstrip("/").split("/", 1)[0]
            return self.rpc_service(full), "operation"
        database = db_name(operation)
        if database:
            return self._mapped(database) or database, "operation"
        return None, "unplaced"

    def resolve(self, attributes: Mapping[str, object], operation: str) -> tuple[str | None, str]:
        """``(callee, how)`` for one client span; ``how`` is ``attribute``, ``operation`` or ``unplaced``."""
        for column, convert in (
            ("peer_service", self.peer),
            ("rpc_service", self.rpc_service),
            ("server_address", self.address),
        ):
            value = attributes.get(column)
            if value is not None and not pd.isna(value) and str(value).strip():
                return convert(str(value)), "attribute"
        return self.operation(operation)
