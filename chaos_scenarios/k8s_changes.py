"""Change events from a Kubernetes cluster, through the ``kubernetes`` client.

:func:`cluster_changes` lists, in one namespace and a time window:

- **rollouts**: every ReplicaSet created in the window (a Deployment rollout creates one per
  new pod template; its ``deployment.kubernetes.io/revision`` annotation numbers them) gives a
  ``rollout`` :class:`core.changes.Change` at the ReplicaSet's ``creationTimestamp``, with the
  image tag of its first container as the version;
- **restarts**: every container whose last run terminated in the window (``lastState.terminated
  .finishedAt`` of a pod's container status) gives a ``restart`` change naming the pod, the
  reason (``OOMKilled``, ``Error``...) and the exit code.

The service is the object's ``app`` label (the label the Kubernetes backend selects pods by),
else the owning Deployment's name. Scaling events (a changed replica count without a new
ReplicaSet) leave no dated trace in these objects and are not listed.
"""

from __future__ import annotations

from typing import Any

from chaos_scenarios.errors import ScenarioError
from core.changes import Change
from core.times import to_timestamp

REVISION = "deployment.kubernetes.io/revision"


def _service(meta: Any) -> str | None:
    labels = getattr(meta, "labels", None) or {}
    if labels.get("app"):
        return str(labels["app"])
    for owner in getattr(meta, "owner_references", None) or []:
        if owner.kind == "Deployment":
            return str(owner.name)
    return None


def _image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def cluster_changes(api_client, namespace: str, since, until) -> list[Change]:
    """Rollouts and container restarts in ``namespace`` within ``[since, until]`` (see the module
    docstring), sorted by time; ``api_client`` is a ``kubernetes.client.ApiClient``."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    lo = to_timestamp(since, "since", error=ScenarioError)
    hi = to_timestamp(until, "until", error=ScenarioError)
    if hi < lo:
        raise ScenarioError(f"cluster_changes: until {hi} is before since {lo}")
    try:
        replicasets = client.AppsV1Api(api_client).list_namespaced_replica_set(namespace).items
        pods = client.CoreV1Api(api_client).list_namespaced_pod(namespace).items
    except ApiException as exc:
        raise ScenarioError(
            f"listing ReplicaSets and pods in {namespace!r} failed: HTTP {exc.status} {exc.reason}"
        ) from exc
    changes: list[Change] = []
    for rs in replicasets:
        meta = rs.metadata
        service = _service(meta)
        if meta is None or service is None or meta.creation_timestamp is None:
            continue
        created = meta.creation_timestamp
        when = to_timestamp(created, f"ReplicaSet {meta.name}: creationTimestamp", error=ScenarioError)
        if not lo <= when <= hi:
            continue
        revision = (meta.annotations or {}).get(REVISION, "?")
        template = rs.spec.template.spec if rs.spec and rs.spec.template else None
        containers = template.containers if template is not None else []
        image = containers[0].image if containers else ""
        changes.append(
            Change(
                service,
                when,
                "rollout",
                f"ReplicaSet {meta.name}, revision {revision}" + (f", image {image}" if image else ""),
                _image_tag(image or ""),
            )
        )
    for pod in pods:
        service = _service(pod.metadata)
        if pod.metadata is None or service is None or pod.status is None:
            continue
        name = str(pod.metadata.name)
        for status in pod.status.container_statuses or []:
            terminated = status.last_state.terminated if status.last_state else None
            if terminated is None or terminated.finished_at is None:
                continue
            when = to_timestamp(terminated.finished_at, f"pod {name}: finishedAt", error=ScenarioError)
            if not lo <= when <= hi:
                continue
            detail = (
                f"pod {name} container {status.name}: {terminated.reason or 'terminated'}, "
                f"exit code {terminated.exit_code}, {status.restart_count} restart(s)"
            )
            changes.append(Change(service, when, "restart", detail, pods=(name,)))
    return sorted(changes, key=lambda c: (c.time, c.service))
