"""A TEST DOUBLE of the Kubernetes API server (plus Jaeger's /api/services), on 127.0.0.1.

It is not Kubernetes: it speaks just enough of the real REST wire format for the calls the
``kubernetes`` Python client makes in ``chaos_scenarios.k8s`` (version, namespaces, pods,
ReplicaSets, and ChaosMesh custom objects), records every request (method, path, query, JSON body) so tests can
check what the real client sent, and plays ChaosMesh's part: a created chaos object gets
``AllInjected`` and ``Apply`` events after ``inject_after`` reads, and after a DELETE it gets
``Recover`` events and disappears after ``recover_after`` reads. ``fail()`` makes the next
matching requests return an API error (403/404/409/500 ...).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAOS_PREFIX = "/apis/chaos-mesh.org/v1alpha1"
KINDS = {
    "podchaos": "PodChaos",
    "networkchaos": "NetworkChaos",
    "stresschaos": "StressChaos",
    "httpchaos": "HTTPChaos",
    "iochaos": "IOChaos",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Failure:
    method: str
    path_pattern: str
    status: int
    times: int = 1


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


@dataclass
class FakeKubernetes:
    """State of the fake cluster; ``start()`` serves it and returns the base URL."""

    clock: Callable[[], float]
    namespaces: set[str] = field(default_factory=lambda: {"default", "online-boutique"})
    pods: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> pod objects
    replicasets: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> ReplicaSet objects
    crds: set[str] = field(default_factory=lambda: set(KINDS))
    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (ns, plural, name)
    inject_after: int = 2
    recover_after: int = 2
    unready_after_recover: int = 1
    inject_error: str | None = None
    services: list[str] = field(default_factory=lambda: ["frontend"])
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    deleted: list[tuple[str, str, str]] = field(default_factory=list)
    _unready: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_service(self, namespace: str, service: str, replicas: int = 1, phase: str = "Running") -> None:
        for i in range(replicas):
            self.pods.setdefault(namespace, []).append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"{service}-{i}", "namespace": namespace, "labels": {"app": service}},
                    "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]},
                }
            )

    def add_replicaset(
        self, namespace: str, service: str, name: str, created: float, revision: int, image: str, replicas: int = 1
    ) -> None:
        """A ReplicaSet owned by Deployment ``service`` (as a rollout creates one), created at ``created``."""
        self.replicasets.setdefault(namespace, []).append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"app": service},
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "creationTimestamp": rfc3339(created),
                    "ownerReferences": [
                        {"apiVersion": "apps/v1", "kind": "Deployment", "name": service, "uid": f"uid-{service}"}
                    ],
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": service}},
                    "template": {
                        "metadata": {"labels": {"app": service}},
                        "spec": {"containers": [{"name": "server", "image": image}]},
                    },
                },
                "status": {"replicas": replicas},
            }
        )

    def add_restart(
        self,
        namespace: str,
        pod: str,
        finished: float,
        reason: str = "OOMKilled",
        exit_code: int = 137,
        restarts: int = 1,
    ) -> None:
        """Pod ``pod``'s container ``server`` was restarted: its last run terminated at ``finished``."""
        obj = next(p for p in self.pods[namespace] if p["metadata"]["name"] == pod)
        obj["status"]["containerStatuses"] = [
            {
                "name": "server",
                "ready": True,
                "restartCount": restarts,
                "image": "server:1",
                "imageID": "",
                "state": {"running": {"startedAt": rfc3339(finished + 1)}},
                "lastState": {"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": rfc3339(finished)}},
            }
        ]

    def add_object(self, manifest: dict) -> None:
        """An object that already exists in the cluster (e.g. left over from an earlier run)."""
        namespace = manifest["metadata"]["namespace"]
        plural = next(p for p, k in KINDS.items() if k == manifest["kind"])
        self._create(namespace, plural, manifest)

    def fail(self, method: str, path_pattern: str, status: int, times: int = 1) -> None:
        self.failures.append(Failure(method, path_pattern, status, times))

    def start(self) -> str:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def date_time_string(self, timestamp=None):
                return super().date_time_string(double.clock())

            def _handle(self):
                parsed = urllib.parse.urlparse(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                code, payload = double.handle(self.command, parsed.path, query, body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling ----------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Request(method, path, query, body))
            for failure in self.failures:
                if failure.times > 0 and failure.method == method and re.search(failure.path_pattern, path):
                    failure.times -= 1
                    return failure.status, _status(failure.status, "Injected", f"injected HTTP {failure.status}")
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        if path.rstrip("/") == "/version":
            return 200, {
                "major": "1",
                "minor": "30",
                "gitVersion": "v1.30.0",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.22.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path == "/api/services":
            return 200, {"data": self.services, "total": len(self.services)}
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)
        if m and method == "GET":
            if m[1] not in self.namespaces:
                return 404, _status(404, "NotFound", f'namespaces "{m[1]}" not found')
            return 200, {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": m[1]},
                "status": {"phase": "Active"},
            }
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
        if m and method == "GET":
            return 200, self._pod_list(m[1], query.get("labelSelector"))
        m = re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/replicasets", path)
        if m and method == "GET":
            items = [
                r
                for r in self.replicasets.get(m[1], [])
                if _matches(r["metadata"]["labels"], query.get("labelSelector"))
            ]
            return 200, {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": items}
        m = re.fullmatch(CHAOS_PREFIX + r"/([^/]+)", path)
        if m and method == "GET":
            if m[1] not in self.crds:
                return 404, _status(404, "NotFound", "the server could not find the requested resource")
            items = [
                o
                for (ns, plural, _), o in self.objects.items()
                if plural == m[1] and _matches(o["metadata"].get("labels", {}), query.get("labelSelector"))
            ]
            return 200, {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": KINDS[m[1]] + "List", "items": items}
        m = re.fullmatch(CHAOS_PREFIX + r"/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?", path)
        if m:
            namespace, plural, name = m[1], m[2], m[3]
            if plural not in self.crds:
                return 404, _status(404, "NotFound", "the server could not find the requested resource")
            if name is None and method == "GET":
                items = [
                    o
                    for (ns, p, _), o in self.objects.items()
                    if ns == namespace
                    and p == plural
                    and _matches(o["metadata"].get("labels", {}), query.get("labelSelector"))
                ]
                return 200, {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": KINDS[plural] + "List", "items": items}
            if name is None and method == "POST":
                return self._create(namespace, plural, body)
            if name is not None and method == "GET":
                return self._get(namespace, plural, name)
            if name is not None and method == "DELETE":
                return self._delete(namespace, plural, name)
        return 404, _status(404, "NotFound", f"the double does not serve {method} {path}")

    def _pod_list(self, namespace, selector):
        items = []
        for pod in self.pods.get(namespace, []):
            if not _matches(pod["metadata"]["labels"], selector):
                continue
            pod = json.loads(json.dumps(pod))
            service = pod["metadata"]["labels"].get("app")
            if self._unready.get(service, 0) > 0:
                pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
            items.append(pod)
        for service in {p["metadata"]["labels"].get("app") for p in items}:
            if self._unready.get(service, 0) > 0:
                self._unready[service] -= 1
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    def _create(self, namespace, plural, body):
        problems = []
        if not isinstance(body, dict):
            problems.append("body is not an object")
        else:
            if body.get("apiVersion") != "chaos-mesh.org/v1alpha1":
                problems.append(f"apiVersion {body.get('apiVersion')!r}")
            if body.get("kind") != KINDS[plural]:
                problems.append(f"kind {body.get('kind')!r} posted to {plural}")
            if body.get("metadata", {}).get("namespace") not in (None, namespace):
                problems.append("metadata.namespace differs from the URL")
        if problems:
            return 400, _status(400, "BadRequest", "; ".join(problems))
        name = body["metadata"]["name"]
        key = (namespace, plural, name)
        if key in self.objects:
            return 409, _status(409, "AlreadyExists", f'{plural}.chaos-mesh.org "{name}" already exists')
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(
            namespace=namespace,
            uid=f"uid-{len(self.requests)}",
            creationTimestamp=rfc3339(self.clock()),
            resourceVersion="1",
        )
        obj["status"] = {"experiment": {}, "conditions": [{"type": "AllInjected", "status": "False"}]}
        obj["_reads"] = 0
        self.objects[key] = obj
        return 201, self._public(obj)

    @staticmethod
    def _public(obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _records(self, obj, operation):
        selector = obj["spec"]["selector"]
        namespace = selector["namespaces"][0]
        pods = self._pod_list(namespace, ",".join(f"{k}={v}" for k, v in selector["labelSelectors"].items()))
        stamp = rfc3339(self.clock())
        obj.setdefault("status", {}).setdefault("experiment", {})
        records = obj["status"]["experiment"].get("containerRecords") or [
            {
                "id": f"{namespace}/{p['metadata']['name']}",
                "selectorKey": ".",
                "phase": "Not Injected",
                "injectedCount": 0,
                "recoveredCount": 0,
                "events": [],
            }
            for p in pods["items"]
        ]
        for record in records:
            if operation == "Apply":
                if self.inject_error:
                    record["events"].append(
                        {"operation": "Apply", "type": "Failed", "timestamp": stamp, "message": self.inject_error}
                    )
                    continue
                record.update(phase="Injected", injectedCount=record["injectedCount"] + 1)
            else:
                record.update(phase="Not Injected", recoveredCount=record["recoveredCount"] + 1)
            record["events"].append({"operation": operation, "type": "Succeeded", "timestamp": stamp})
        obj["status"]["experiment"]["containerRecords"] = records
        obj["status"]["experiment"]["desiredPhase"] = "Run" if operation == "Apply" else "Stop"

    def _get(self, namespace, plural, name):
        obj = self.objects.get((namespace, plural, name))
        if obj is None:
            return 404, _status(404, "NotFound", f'{plural}.chaos-mesh.org "{name}" not found')
        obj["_reads"] += 1
        deleting = "deletionTimestamp" in obj["metadata"]
        if not deleting and obj["_reads"] >= self.inject_after and not _injected(obj):
            self._records(obj, "Apply")
            if not self.inject_error:
                obj["status"]["conditions"] = [
                    {"type": "AllInjected", "status": "True"},
                    {"type": "AllRecovered", "status": "False"},
                ]
        if deleting:
            obj["_delete_reads"] += 1
            if obj["_delete_reads"] == self.recover_after:
                self._records(obj, "Recover")
                obj["status"]["conditions"] = [
                    {"type": "AllInjected", "status": "False"},
                    {"type": "AllRecovered", "status": "True"},
                ]
            elif obj["_delete_reads"] > self.recover_after:
                self._remove(namespace, plural, name)
                return 404, _status(404, "NotFound", f'{plural}.chaos-mesh.org "{name}" not found')
        return 200, self._public(obj)

    def _delete(self, namespace, plural, name):
        obj = self.objects.get((namespace, plural, name))
        if obj is None:
            return 404, _status(404, "NotFound", f'{plural}.chaos-mesh.org "{name}" not found')
        obj["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock()))
        obj["_delete_reads"] = obj.get("_delete_reads", 0)
        if self.recover_after == 0:
            self._remove(namespace, plural, name)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _remove(self, namespace, plural, name):
        obj = self.objects.pop((namespace, plural, name))
        self.deleted.append((namespace, plural, name))
        service = obj["spec"]["selector"]["labelSelectors"].get("app")
        self._unready[service] = self.unready_after_recover


def _injected(obj) -> bool:
    return any(c["type"] == "AllInjected" and c["status"] == "True" for c in obj["status"].get("conditions", []))
