"""Builders: one suite fault -> one ChaosMesh manifest (``apiVersion: chaos-mesh.org/v1alpha1``).

Supported kinds and actions, with their ``parameters`` (ChaosMesh's own field names):

=============  ==============  =====================================================================
kind           action          parameters (``*`` = required)
=============  ==============  =====================================================================
PodChaos       pod-kill        gracePeriod
PodChaos       pod-failure     --
PodChaos       container-kill  containerNames*
NetworkChaos   delay           latency*, jitter, correlation
NetworkChaos   loss            loss*, correlation
NetworkChaos   duplicate       duplicate*, correlation
NetworkChaos   corrupt         corrupt*, correlation
NetworkChaos   partition       --
NetworkChaos   bandwidth       rate*, limit*, buffer*
StressChaos    cpu             workers*, load, containerNames
StressChaos    memory          workers*, size, containerNames
HTTPChaos      abort           port*, path, method, target
HTTPChaos      delay           port*, delay*, path, method, target
HTTPChaos      replace         port*, code, body, headers, path, method, target
IOChaos        latency         volumePath*, delay*, path, percent, methods, containerNames
IOChaos        fault           volumePath*, errno*, path, percent, methods, containerNames
=============  ==============  =====================================================================

Pods are selected by ``app=<target>`` in the fault's namespace. Every object carries
``app.kubernetes.io/managed-by: rca-fluxev`` and ``rca-fluxev/run: <run id>`` so that
``rca chaos cleanup`` can find it. ``spec.duration`` is the fault's duration: if the runner dies,
ChaosMesh still ends the fault on its own.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.spec import Fault, format_duration

API_VERSION = "chaos-mesh.org/v1alpha1"
GROUP, VERSION = "chaos-mesh.org", "v1alpha1"
MANAGED_BY_KEY, MANAGED_BY = "app.kubernetes.io/managed-by", "rca-fluxev"
RUN_KEY, CASE_KEY, FAULT_TYPE_KEY = "rca-fluxev/run", "rca-fluxev/case", "rca-fluxev/fault-type"
TARGET_ANNOTATION = "rca-fluxev/target"
OWNED_SELECTOR = f"{MANAGED_BY_KEY}={MANAGED_BY}"
PLURALS = {
    "PodChaos": "podchaos",
    "NetworkChaos": "networkchaos",
    "StressChaos": "stresschaos",
    "HTTPChaos": "httpchaos",
    "IOChaos": "iochaos",
}
FAULT_TYPE_PREFIX = {
    "PodChaos": "",
    "NetworkChaos": "network-",
    "StressChaos": "stress-",
    "HTTPChaos": "http-",
    "IOChaos": "io-",
}

_GO_DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _duration_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _GO_DURATION.match(value):
        raise ScenarioError(f"{where}: expected a duration string such as '200ms' or '1s', got {value!r}")
    return value


def _percent_str(value: Any, where: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0 <= number <= 100:
        raise ScenarioError(f"{where}: expected a percentage between 0 and 100, got {value!r}")
    return str(value)


def _int_in(low: int, high: int | None = None) -> Callable[[Any, str], int]:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise ScenarioError(f"{where}: expected an integer {span}, got {value!r}")
        return value

    return check


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _text_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ScenarioError(f"{where}: expected a non-empty list of strings, got {value!r}")
    return list(value)


def _http_target(value: Any, where: str) -> str:
    if value not in ("Request", "Response"):
        raise ScenarioError(f"{where}: expected 'Request' or 'Response', got {value!r}")
    return value


def _headers(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ScenarioError(f"{where}: expected a mapping of header name to string value")
    return dict(value)


_CONTAINERS = {"containerNames": _text_list}
_HTTP_COMMON = {"port": _int_in(1, 65535), "path": _text, "method": _text, "target": _http_target}
_IO_COMMON = {"volumePath": _text, "path": _text, "percent": _int_in(0, 100), "methods": _text_list, **_CONTAINERS}

# (kind, action) -> (checkers by parameter, required parameters)
PARAMETERS: dict[tuple[str, str], tuple[dict[str, Callable[[Any, str], Any]], tuple[str, ...]]] = {
    ("PodChaos", "pod-kill"): ({"gracePeriod": _int_in(0)}, ()),
    ("PodChaos", "pod-failure"): ({}, ()),
    ("PodChaos", "container-kill"): (dict(_CONTAINERS), ("containerNames",)),
    ("NetworkChaos", "delay"): (
        {"latency": _duration_str, "jitter": _duration_str, "correlation": _percent_str},
        ("latency",),
    ),
    ("NetworkChaos", "loss"): ({"loss": _percent_str, "correlation": _percent_str}, ("loss",)),
    ("NetworkChaos", "duplicate"): ({"duplicate": _percent_str, "correlation": _percent_str}, ("duplicate",)),
    ("NetworkChaos", "corrupt"): ({"corrupt": _percent_str, "correlation": _percent_str}, ("corrupt",)),
    ("NetworkChaos", "partition"): ({}, ()),
    ("NetworkChaos", "bandwidth"): (
        {"rate": _text, "limit": _int_in(1), "buffer": _int_in(1)},
        ("rate", "limit", "buffer"),
    ),
    ("StressChaos", "cpu"): ({"workers": _int_in(1, 8192), "load": _int_in(0, 100), **_CONTAINERS}, ("workers",)),
    ("StressChaos", "memory"): ({"workers": _int_in(1, 8192), "size": _text, **_CONTAINERS}, ("workers",)),
    ("HTTPChaos", "abort"): (dict(_HTTP_COMMON), ("port",)),
    ("HTTPChaos", "delay"): ({**_HTTP_COMMON, "delay": _duration_str}, ("port", "delay")),
    ("HTTPChaos", "replace"): (
        {**_HTTP_COMMON, "code": _int_in(100, 599), "body": _text, "headers": _headers},
        ("port",),
    ),
    ("IOChaos", "latency"): ({**_IO_COMMON, "delay": _duration_str}, ("volumePath", "delay")),
    ("IOChaos", "fault"): ({**_IO_COMMON, "errno": _int_in(1, 4095)}, ("volumePath", "errno")),
}


def fault_type(kind: str, action: str) -> str:
    """Short fault name used in labels: ``network-delay``, ``stress-cpu``, ``pod-failure``, ``http-abort``."""
    return FAULT_TYPE_PREFIX.get(kind, kind.lower() + "-") + action


def check_fault(fault: Fault, where: str) -> dict[str, Any]:
    """Validate the fault's kind, action and parameters; returns the normalised parameters."""
    if fault.kind not in PLURALS:
        raise ScenarioError(f"{where}.kind: {fault.kind!r} is not supported; use one of {sorted(PLURALS)}")
    key = (fault.kind, fault.action)
    if key not in PARAMETERS:
        actions = sorted(a for k, a in PARAMETERS if k == fault.kind)
        raise ScenarioError(f"{where}.action: {fault.kind} has no action {fault.action!r}; use one of {actions}")
    checkers, required = PARAMETERS[key]
    unknown = set(fault.parameters) - set(checkers)
    if unknown:
        raise ScenarioError(
            f"{where}.parameters: unknown parameter(s) {sorted(unknown)} for "
            f"{fault.kind}/{fault.action}; allowed: {sorted(checkers)}"
        )
    missing = [p for p in required if p not in fault.parameters]
    if missing:
        raise ScenarioError(f"{where}.parameters: {fault.kind}/{fault.action} needs {missing}")
    params = {name: checkers[name](value, f"{where}.parameters.{name}") for name, value in fault.parameters.items()}
    if key == ("HTTPChaos", "replace") and not {"code", "body", "headers"} & set(params):
        raise ScenarioError(f"{where}.parameters: HTTPChaos/replace needs at least one of code, body, headers")
    return params


def label_value(text: str) -> str:
    """``text`` made into a valid Kubernetes label value (<= 63 chars, alphanumeric at both ends)."""
    value = _LABEL_VALUE_BAD.sub("-", text)[:63].strip("-_.")
    return value or "x"


def object_name(text: str) -> str:
    """``text`` made into a valid object name (DNS label, <= 63 chars)."""
    value = re.sub(r"[^a-z0-9-]+", "-", text.lower())[:63].strip("-")
    return value or "rca"


def _selector(namespace: str, service: str) -> dict[str, Any]:
    return {"namespaces": [namespace], "labelSelectors": {"app": service}}


def _mode(mode: str, value: str) -> dict[str, Any]:
    return {"mode": mode, "value": value} if value else {"mode": mode}


def build_manifest(fault: Fault, *, name: str, run_id: str, case_id: str | None = None) -> dict[str, Any]:
    """The ChaosMesh object for ``fault``, named ``name`` and labelled with ``run_id``."""
    params = check_fault(fault, f"fault {fault.name}")
    ftype = fault_type(fault.kind, fault.action)
    labels = {MANAGED_BY_KEY: MANAGED_BY, RUN_KEY: label_value(run_id), FAULT_TYPE_KEY: label_value(ftype)}
    if case_id:
        labels[CASE_KEY] = label_value(case_id)
    spec: dict[str, Any] = {}
    if fault.kind not in ("StressChaos", "HTTPChaos"):
        spec["action"] = fault.action
    spec.update(_mode(fault.mode, fault.value))
    spec["selector"] = _selector(fault.namespace, fault.target)
    spec.update(_KIND_SPEC[fault.kind](fault, params))
    spec["duration"] = format_duration(fault.duration)
    return {
        "apiVersion": API_VERSION,
        "kind": fault.kind,
        "metadata": {
            "name": object_name(name),
            "namespace": fault.namespace,
            "labels": labels,
            "annotations": {TARGET_ANNOTATION: fault.target},
        },
        "spec": spec,
    }


def _pod_spec(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    return dict(params)


def _network_spec(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"direction": fault.direction or "to"}
    if fault.action != "partition":
        spec[fault.action] = params
    if fault.peer is not None:
        peer = fault.peer
        spec["target"] = {
            **_mode(peer.mode, peer.value),
            "selector": _selector(peer.namespace or fault.namespace, peer.service),
        }
    return spec


def _stress_spec(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    spec: dict[str, Any] = {}
    if "containerNames" in params:
        spec["containerNames"] = params.pop("containerNames")
    spec["stressors"] = {fault.action: params}
    return spec


def _http_spec(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": params.get("target", "Request"),
        "port": params["port"],
        "path": params.get("path", "*"),
    }
    if "method" in params:
        spec["method"] = params["method"]
    if fault.action == "abort":
        spec["abort"] = True
    elif fault.action == "delay":
        spec["delay"] = params["delay"]
    else:
        replace: dict[str, Any] = {}
        if "code" in params:
            replace["code"] = params["code"]
        if "body" in params:
            replace["body"] = base64.b64encode(params["body"].encode()).decode()
        if "headers" in params:
            replace["headers"] = params["headers"]
        spec["replace"] = replace
    return spec


def _io_spec(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    return dict(params)


_KIND_SPEC = {
    "PodChaos": _pod_spec,
    "NetworkChaos": _network_spec,
    "StressChaos": _stress_spec,
    "HTTPChaos": _http_spec,
    "IOChaos": _io_spec,
}


def manifest_target(manifest: dict[str, Any]) -> str:
    """The service a manifest of ours targets (its ``app`` label selector)."""
    try:
        return manifest["spec"]["selector"]["labelSelectors"]["app"]
    except (KeyError, TypeError) as exc:
        raise ScenarioError(f"manifest {manifest.get('metadata', {}).get('name')!r}: no app label selector") from exc
