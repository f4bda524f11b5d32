"""The Kubernetes backend: ChaosMesh objects through the ``kubernetes`` client, spans from Jaeger.

- ``inject`` creates the chaos object (CustomObjectsApi, group ``chaos-mesh.org/v1alpha1``) and
  polls it until ChaosMesh reports it in effect: condition ``AllInjected`` is ``True`` and every
  ``status.experiment.containerRecords[]`` has a successful ``Apply`` event. The injection time is
  the latest such event's timestamp (the cluster's clock, not ours).
- ``recover`` deletes the object, polls until it is gone (ChaosMesh's finalizer recovers the pods
  first), takes the recovery time from the ``Recover`` events (or the server's deletion
  timestamp), then waits until the target's pods are Running and Ready again.
- Namespaces must be on the allow-list and never one of :data:`DENIED_NAMESPACES`.
- Every object this tool creates carries ``app.kubernetes.io/managed-by: rca-fluxev``;
  :func:`cleanup_owned` deletes all of them (``rca chaos cleanup``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from chaos_scenarios.backend import Injection
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.manifests import (
    GROUP,
    MANAGED_BY,
    MANAGED_BY_KEY,
    OWNED_SELECTOR,
    PLURALS,
    VERSION,
    manifest_target,
)
from collectors import JaegerClient

DENIED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "chaos-mesh", "chaos-testing"})
DEFAULT_ALLOWED_NAMESPACES = ("default", "online-boutique")


def _api_exception():
    from kubernetes.client.exceptions import ApiException

    return ApiException


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status is not None:
        body = getattr(exc, "body", "") or ""
        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            message = str(body)[:200]
        return f"HTTP {status} {getattr(exc, 'reason', '')}: {message}".strip()
    return f"{type(exc).__name__}: {exc}"


def check_namespace_allowed(namespace: str, allowed: Iterable[str] | None) -> None:
    if namespace in DENIED_NAMESPACES:
        raise ScenarioError(f"namespace {namespace!r} is never a fault target (protected: {sorted(DENIED_NAMESPACES)})")
    if allowed is not None and namespace not in set(allowed):
        raise ScenarioError(
            f"namespace {namespace!r} is not on the allow-list {sorted(set(allowed))}; "
            f"add it with --allow-namespace {namespace}"
        )


class KubernetesBackend:
    """Runs faults on a real cluster (see the module docstring)."""

    name = "k8s"

    def __init__(
        self,
        *,
        api_client=None,
        context: str | None = None,
        allowed_namespaces: Iterable[str] | None = DEFAULT_ALLOWED_NAMESPACES,
        jaeger_url: str | None = None,
        poll_interval: float = 2.0,
        inject_timeout: float = 180.0,
        recover_timeout: float = 300.0,
        ready_timeout: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.api_client = api_client
        self.context = context
        self.allowed_namespaces = tuple(allowed_namespaces) if allowed_namespaces is not None else None
        self.jaeger_url = jaeger_url
        self.poll_interval = poll_interval
        self.inject_timeout = inject_timeout
        self.recover_timeout = recover_timeout
        self.ready_timeout = ready_timeout
        self.sleep = sleep
        self.clock = clock
        self.created_: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.offset_ = 0.0

    # -- clients -------------------------------------------------------------------------------
    def _client(self):
        if self.api_client is None:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException

            configuration = client.Configuration()
            try:
                config.load_kube_config(
                    config_file=os.environ.get("KUBECONFIG") or None,
                    context=self.context,
                    client_configuration=configuration,
                )
            except (ConfigException, OSError, TypeError) as kube_exc:  # no usable kubeconfig: try in-cluster
                try:
                    config.load_incluster_config(client_configuration=configuration)
                except ConfigException:
                    raise ScenarioError(
                        f"no Kubernetes configuration found ({kube_exc}); start a cluster "
                        "(`rca lab up`) or point KUBECONFIG at one"
                    ) from kube_exc
            self.api_client = client.ApiClient(configuration)
        return self.api_client

    def _custom(self):
        from kubernetes import client

        return client.CustomObjectsApi(self._client())

    def _core(self):
        from kubernetes import client

        return client.CoreV1Api(self._client())

    # -- Backend protocol ----------------------------------------------------------------------
    def now(self) -> float:
        """The cluster's clock (our clock plus the offset measured from the API server's Date header),
        so that hold times line up with the injection times ChaosMesh reports and with span times."""
        return self.clock() + self.offset_

    def _estimate_offset(self, asked: float, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        offset = server - (asked + self.clock()) / 2
        self.offset_ = offset if abs(offset) > 2.0 else 0.0  # the header has 1 s resolution

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def preflight(self, suite) -> None:
        import urllib3
        from kubernetes import client

        for namespace in suite.namespaces:
            check_namespace_allowed(namespace, self.allowed_namespaces)
        self.jaeger_url = self.jaeger_url or suite.jaeger_url
        host = self._client().configuration.host
        try:
            asked = self.clock()
            _, _, headers = client.VersionApi(self._client()).get_code_with_http_info()
        except (_api_exception(), urllib3.exceptions.HTTPError, OSError) as exc:
            raise ScenarioError(
                f"cannot reach the Kubernetes API at {host} ({_describe(exc)}); "
                "is the cluster running? (`rca lab status`)"
            ) from exc
        self._estimate_offset(asked, (headers or {}).get("Date"))
        problems: list[str] = []
        missing: set[str] = set()
        for namespace in suite.namespaces:
            found = self._check_namespace(namespace, sorted({f.kind for f in suite.faults}))
            missing |= {namespace} if any("does not exist" in p for p in found) else set()
            problems += found
        for fault in suite.faults:
            if fault.namespace not in missing:
                problems += self._check_pods(fault.namespace, fault.target, f"fault {fault.name}")
            peer_namespace = fault.peer and (fault.peer.namespace or fault.namespace)
            if fault.peer is not None and peer_namespace not in missing:
                problems += self._check_pods(peer_namespace, fault.peer.service, f"fault {fault.name} (peer)")
        problems += self._check_jaeger(self.jaeger_url)
        if problems:
            raise ScenarioError("pre-flight checks failed:\n  - " + "\n  - ".join(problems))

    def _check_namespace(self, namespace: str, kinds: list[str]) -> list[str]:
        ApiException = _api_exception()
        try:
            self._core().read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return [f"namespace {namespace!r} does not exist (deploy the application first: `rca lab up`)"]
            return [f"cannot read namespace {namespace!r}: {_describe(exc)}"]
        problems = []
        for kind in kinds:
            plural = PLURALS[kind]
            try:
                listed = self._custom().list_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, label_selector=OWNED_SELECTOR
                )
            except ApiException as exc:
                if exc.status == 404:
                    problems.append(
                        f"ChaosMesh CRD {plural}.{GROUP} is not installed "
                        "(install ChaosMesh: `rca lab up` or helm, see docs/chaos.md)"
                    )
                else:
                    problems.append(f"cannot list {kind} in {namespace!r}: {_describe(exc)}")
                continue
            leftovers = [item["metadata"]["name"] for item in listed.get("items", [])]
            if leftovers:
                problems.append(
                    f"{kind} object(s) {leftovers} from an earlier run are still in {namespace!r}; "
                    f"remove them with `rca chaos cleanup --namespace {namespace}`"
                )
        return problems

    def _check_pods(self, namespace: str, service: str, what: str) -> list[str]:
        try:
            pods = self._core().list_namespaced_pod(namespace, label_selector=f"app={service}").items
        except _api_exception() as exc:
            return [f"{what}: cannot list pods app={service} in {namespace!r}: {_describe(exc)}"]
        running = [p for p in pods if p.status is not None and p.status.phase == "Running"]
        if not running:
            phases = [p.status.phase if p.status else "?" for p in pods]
            return [
                f"{what}: no running pod with label app={service} in namespace {namespace!r} "
                f"(found {len(pods)} pod(s){': ' + ', '.join(phases) if phases else ''})"
            ]
        return []

    @staticmethod
    def _check_jaeger(url: str) -> list[str]:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/api/services", timeout=5) as response:
                json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return [
                f"Jaeger is not reachable at {url} ({exc}); forward its port with "
                "`kubectl -n observability port-forward svc/jaeger 16686:16686`"
            ]
        return []

    def inject(self, manifest: dict) -> Injection:
        kind, namespace, name = self._identity(manifest)
        ApiException = _api_exception()
        self.created_[(kind, namespace, name)] = manifest
        try:
            self._custom().create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], body=manifest)
        except ApiException as exc:
            if exc.status == 409:
                del self.created_[(kind, namespace, name)]
                raise ScenarioError(
                    f"{kind}/{name} already exists in {namespace!r} (left over from an earlier "
                    f"run?); remove it with `rca chaos cleanup --namespace {namespace}`"
                ) from exc
            if exc.status in (401, 403):
                raise ScenarioError(f"not allowed to create {kind} in {namespace!r}: {_describe(exc)}") from exc
            raise ScenarioError(f"creating {kind}/{name} in {namespace!r} failed: {_describe(exc)}") from exc
        deadline = self.clock() + self.inject_timeout
        status: dict[str, Any] = {}
        while True:
            obj = self._get(kind, namespace, name)
            if obj is None:
                raise ScenarioError(f"{kind}/{name} disappeared before it was injected")
            status = obj.get("status") or {}
            records = (status.get("experiment") or {}).get("containerRecords") or []
            failed = [
                e.get("message", "")
                for r in records
                for e in r.get("events") or []
                if e.get("operation") == "Apply" and e.get("type") == "Failed"
            ]
            if failed and self.clock() >= deadline:
                raise ScenarioError(f"{kind}/{name} could not be injected: {failed[-1]}")
            if _condition(status, "AllInjected") and records and all(_applied(r) for r in records):
                times = [
                    _parse_time(e["timestamp"])
                    for r in records
                    for e in r.get("events") or []
                    if e.get("operation") == "Apply" and e.get("type") == "Succeeded"
                ]
                injected_at = (
                    max(t for t in times if t is not None)
                    if any(times)
                    else _parse_time(obj["metadata"].get("creationTimestamp"))
                )
                if injected_at is None:
                    raise ScenarioError(f"{kind}/{name}: status has no event timestamps to date the injection")
                return Injection(injected_at=injected_at, pods=sorted({_pod_of(r["id"]) for r in records}))
            if self.clock() >= deadline:
                raise ScenarioError(
                    f"{kind}/{name} not injected after {self.inject_timeout:g}s "
                    f"(last status: {json.dumps(status)[:400]})"
                )
            self.sleep(self.poll_interval)

    def recover(self, manifest: dict) -> float:
        kind, namespace, name = self._identity(manifest)
        if (kind, namespace, name) not in self.created_:
            # never created by this backend (e.g. create answered 409): not ours to delete here
            return self.now()
        recovered_at = self._delete_and_wait(kind, namespace, name)
        self.created_.pop((kind, namespace, name), None)
        self._wait_ready(namespace, manifest_target(manifest))
        return recovered_at

    def changes(self, namespace: str, since, until) -> list:
        """Rollouts and container restarts in ``namespace`` within ``[since, until]`` as change
        events (:func:`chaos_scenarios.k8s_changes.cluster_changes`)."""
        from chaos_scenarios.k8s_changes import cluster_changes

        check_namespace_allowed(namespace, self.allowed_namespaces)
        return cluster_changes(self._client(), namespace, since, until)

    def collect_spans(self, start: float, end: float):
        if not self.jaeger_url:
            raise ScenarioError("no Jaeger URL: set defaults.jaeger_url in the suite or --jaeger-url")
        return JaegerClient(self.jaeger_url).collect(start, end)

    def cleanup(self) -> None:
        for kind, namespace, name in list(self.created_):
            self._delete_and_wait(kind, namespace, name)
            self.created_.pop((kind, namespace, name), None)

    # -- helpers -------------------------------------------------------------------------------
    def _identity(self, manifest: dict) -> tuple[str, str, str]:
        kind = manifest.get("kind")
        meta = manifest.get("metadata") or {}
        if kind not in PLURALS:
            raise ScenarioError(f"unsupported chaos kind {kind!r}")
        if (meta.get("labels") or {}).get(MANAGED_BY_KEY) != MANAGED_BY:
            raise ScenarioError(
                f"{kind}/{meta.get('name')}: refusing to touch an object not labelled {MANAGED_BY_KEY}={MANAGED_BY}"
            )
        check_namespace_allowed(meta.get("namespace", ""), self.allowed_namespaces)
        return kind, meta["namespace"], meta["name"]

    def _get(self, kind: str, namespace: str, name: str) -> dict | None:
        ApiException = _api_exception()
        try:
            return self._custom().get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ScenarioError(f"reading {kind}/{name} in {namespace!r} failed: {_describe(exc)}") from exc

    def _delete_and_wait(self, kind: str, namespace: str, name: str) -> float:
        ApiException = _api_exception()
        try:
            self._custom().delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
        except ApiException as exc:
            if exc.status != 404:
                raise ScenarioError(
                    f"deleting {kind}/{name} in {namespace!r} failed: {_describe(exc)}; "
                    f"retry with `rca chaos cleanup --namespace {namespace}`"
                ) from exc
        deadline = self.clock() + self.recover_timeout
        recovered: float | None = None
        deleted_at: float | None = None
        while True:
            obj = self._get(kind, namespace, name)
            if obj is None:
                break
            deleted_at = _parse_time(obj["metadata"].get("deletionTimestamp")) or deleted_at
            records = ((obj.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
            times = [
                _parse_time(e["timestamp"])
                for r in records
                for e in r.get("events") or []
                if e.get("operation") == "Recover" and e.get("type") == "Succeeded"
            ]
            recovered = max([t for t in times if t is not None] + ([recovered] if recovered else []), default=None)
            if self.clock() >= deadline:
                raise ScenarioError(
                    f"{kind}/{name} still exists {self.recover_timeout:g}s after deletion; "
                    f"check ChaosMesh (kubectl -n {namespace} describe {PLURALS[kind]} {name})"
                )
            self.sleep(self.poll_interval)
        if recovered is not None:
            return recovered
        if deleted_at is not None:
            return deleted_at
        print(
            f"warning: {kind}/{name} vanished before its recovery was recorded; using the local clock", file=sys.stderr
        )
        return self.now()

    def _wait_ready(self, namespace: str, service: str) -> None:
        deadline = self.clock() + self.ready_timeout
        while True:
            try:
                pods = self._core().list_namespaced_pod(namespace, label_selector=f"app={service}").items
            except _api_exception() as exc:
                raise ScenarioError(f"listing pods app={service} in {namespace!r} failed: {_describe(exc)}") from exc
            if pods and all(_pod_ready(p) for p in pods):
                return
            if self.clock() >= deadline:
                raise ScenarioError(
                    f"pods app={service} in {namespace!r} not ready {self.ready_timeout:g}s after the fault was removed"
                )
            self.sleep(self.poll_interval)


def _condition(status: dict, kind: str) -> bool:
    return any(c.get("type") == kind and str(c.get("status")) == "True" for c in status.get("conditions") or [])


def _applied(record: dict) -> bool:
    return any(e.get("operation") == "Apply" and e.get("type") == "Succeeded" for e in record.get("events") or []) or (
        record.get("injectedCount", 0) > 0 and not record.get("events")
    )


def _pod_of(record_id: str) -> str:
    parts = record_id.split("/")
    return parts[1] if len(parts) >= 2 else parts[0]


def _pod_ready(pod) -> bool:
    if pod.status is None or pod.status.phase != "Running" or pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def cleanup_owned(
    backend: KubernetesBackend, namespaces: Iterable[str] | None = None, *, dry_run: bool = False
) -> list[str]:
    """Delete every ChaosMesh object labelled as ours (in ``namespaces``, or cluster-wide); returns them."""
    ApiException = _api_exception()
    api = backend._custom()
    found: list[tuple[str, str, str]] = []
    for kind, plural in PLURALS.items():
        try:
            if namespaces:
                items = [
                    i
                    for ns in namespaces
                    for i in api.list_namespaced_custom_object(
                        GROUP, VERSION, ns, plural, label_selector=OWNED_SELECTOR
                    ).get("items", [])
                ]
            else:
                items = api.list_cluster_custom_object(GROUP, VERSION, plural, label_selector=OWNED_SELECTOR).get(
                    "items", []
                )
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise ScenarioError(f"listing {kind} objects failed: {_describe(exc)}") from exc
        found += [
            (kind, i["metadata"]["namespace"], i["metadata"]["name"])
            for i in items
            if (i["metadata"].get("labels") or {}).get(MANAGED_BY_KEY) == MANAGED_BY
        ]
    if not dry_run:
        for kind, namespace, name in found:
            backend._delete_and_wait(kind, namespace, name)
    return [f"{kind} {namespace}/{name}" for kind, namespace, name in found]
