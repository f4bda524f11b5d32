"""Read a ChaosMesh manifest (``chaos-mesh.org/v1alpha1``) into the fault the simulator applies.

Only what the simulator can model is accepted; anything else (an unknown kind or action,
a selector it cannot evaluate, a malformed value) raises :class:`ScenarioError` naming the
manifest and the field, so that no fault is ever silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chaos_scenarios.errors import ScenarioError

API_VERSION = "chaos-mesh.org/v1alpha1"
SUPPORTED = {
    "PodChaos": ("pod-kill", "pod-failure", "container-kill"),
    "NetworkChaos": ("delay", "loss", "corrupt", "partition"),
    "StressChaos": ("cpu", "memory", "cpu+memory"),
    "HTTPChaos": ("abort", "delay"),
}
MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}
_SELECTOR_KEYS = {"namespaces", "labelSelectors", "pods"}


@dataclass
class Selection:
    """Which pods a selector picks: service label, namespace, mode and value."""

    service: str
    namespace: str | None
    mode: str
    value: str = ""
    pods: list[str] | None = None


@dataclass
class FaultSpec:
    """One parsed chaos object."""

    name: str
    kind: str
    action: str
    selection: Selection
    params: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    direction: str = "to"
    target: Selection | None = None

    @property
    def fault_type(self) -> str:
        return {"PodChaos": "", "NetworkChaos": "network-", "StressChaos": "stress-", "HTTPChaos": "http-"}[
            self.kind
        ] + self.action


def parse_duration(value: Any, where: str) -> float:
    """Go duration string ('200ms', '1m30s') -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration string such as '200ms', got the number {value!r}")
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: expected a duration string such as '200ms', got {value!r}")
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(a + u for a, u in parts) != text:
        raise ScenarioError(f"{where}: {value!r} is not a duration such as '200ms' or '1m30s'")
    return sum(float(a) * _DURATION_UNITS[u] for a, u in parts)


def parse_percent(value: Any, where: str) -> float:
    """ChaosMesh percentage string ('30', '12.5') -> fraction in [0, 1]."""
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise ScenarioError(f"{where}: expected a percentage such as '30', got {value!r}") from None
    if not 0.0 <= number <= 100.0:
        raise ScenarioError(f"{where}: percentage {value!r} is outside [0, 100]")
    return number / 100.0


def parse_size_mb(value: Any, where: str, total_mb: float) -> float:
    """StressChaos memory size ('256MB', '1GiB', '50%' of the pod's limit) -> megabytes."""
    text = str(value).strip()
    if text.endswith("%"):
        return parse_percent(text, where) * total_mb
    match = _SIZE.match(text)
    if not match:
        raise ScenarioError(f"{where}: {value!r} is not a memory size such as '256MB' or '50%'")
    unit = (match.group(2) or "").upper()
    unit = unit if unit in _SIZE_UNITS else unit.rstrip("B")
    return float(match.group(1)) * _SIZE_UNITS[unit] / 1e6


def _int(value: Any, where: str, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ScenarioError(f"{where}: {value} is outside [{low}, {high if high is not None else 'inf'}]")
    return value


def _selection(spec: dict[str, Any], where: str) -> Selection:
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        raise ScenarioError(f"{where}.selector: missing or not a mapping")
    unknown = sorted(set(selector) - _SELECTOR_KEYS)
    if unknown:
        raise ScenarioError(
            f"{where}.selector: the simulator cannot evaluate {unknown}; "
            f"use labelSelectors {{app: <service>}}, namespaces or pods"
        )
    labels = selector.get("labelSelectors") or {}
    if not isinstance(labels, dict) or set(labels) - {"app"}:
        raise ScenarioError(f"{where}.selector.labelSelectors: only the 'app' label is modelled, got {labels!r}")
    namespaces = selector.get("namespaces") or []
    if not isinstance(namespaces, list) or len(namespaces) > 1:
        raise ScenarioError(f"{where}.selector.namespaces: expected one namespace, got {namespaces!r}")
    pods = None
    namespace = namespaces[0] if namespaces else None
    if "pods" in selector:
        by_ns = selector["pods"]
        if not isinstance(by_ns, dict) or len(by_ns) != 1:
            raise ScenarioError(f"{where}.selector.pods: expected {{namespace: [pod names]}}, got {by_ns!r}")
        namespace, pods = next(iter(by_ns.items()))
        if not isinstance(pods, list) or not pods:
            raise ScenarioError(f"{where}.selector.pods: expected a non-empty list of pod names")
    service = labels.get("app")
    if service is None and pods is None:
        raise ScenarioError(f"{where}.selector: needs labelSelectors {{app: <service>}} or pods")
    mode = spec.get("mode")
    if mode not in MODES:
        raise ScenarioError(f"{where}.mode: {mode!r} is not one of {list(MODES)}")
    value = str(spec.get("value", "") or "")
    if mode in ("fixed", "fixed-percent", "random-max-percent"):
        try:
            number = float(value)
        except ValueError:
            raise ScenarioError(f"{where}.value: mode {mode} needs a numeric value, got {value!r}") from None
        if number < 0 or (mode != "fixed" and number > 100):
            raise ScenarioError(f"{where}.value: {value!r} out of range for mode {mode}")
    return Selection(service=service or "", namespace=namespace, mode=mode, value=value, pods=pods)


def parse_manifest(manifest: Any) -> FaultSpec:
    """Validate a ChaosMesh manifest dict and return the fault it describes."""
    if not isinstance(manifest, dict):
        raise ScenarioError(f"manifest: expected a mapping, got {type(manifest).__name__}")
    name = (manifest.get("metadata") or {}).get("name") if isinstance(manifest.get("metadata"), dict) else None
    where = f"manifest {name!r}" if name else "manifest"
    if manifest.get("apiVersion") != API_VERSION:
        raise ScenarioError(f"{where}.apiVersion: {manifest.get('apiVersion')!r}, expected {API_VERSION!r}")
    if not name:
        raise ScenarioError(f"{where}.metadata.name: missing")
    kind = manifest.get("kind")
    if kind not in SUPPORTED:
        raise ScenarioError(f"{where}.kind: {kind!r} cannot be simulated; supported kinds: {sorted(SUPPORTED)}")
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        raise ScenarioError(f"{where}.spec: missing or not a mapping")
    where_spec = f"{where}.spec"
    if kind == "StressChaos":
        action = _stress_action(spec, where_spec)
    elif kind == "HTTPChaos":
        action = _http_action(spec, where_spec)
    else:
        action = str(spec.get("action", "pod-kill" if kind == "PodChaos" else ""))
    if action not in SUPPORTED[kind]:
        raise ScenarioError(
            f"{where_spec}.action: {kind} action {action!r} cannot be simulated; supported: {list(SUPPORTED[kind])}"
        )
    fault = FaultSpec(name=name, kind=kind, action=action, selection=_selection(spec, where_spec))
    if spec.get("duration") is not None:
        fault.duration_s = parse_duration(spec["duration"], f"{where_spec}.duration")
    namespace = manifest["metadata"].get("namespace")
    if fault.selection.namespace is None:
        fault.selection.namespace = namespace
    {"PodChaos": _pod, "NetworkChaos": _network, "StressChaos": _stress, "HTTPChaos": _http}[kind](
        fault, spec, where_spec
    )
    return fault


def _stress_action(spec: dict[str, Any], where: str) -> str:
    if spec.get("stressngStressors"):
        raise ScenarioError(f"{where}.stressngStressors: raw stress-ng options cannot be simulated; use stressors")
    stressors = spec.get("stressors")
    if not isinstance(stressors, dict) or not stressors:
        raise ScenarioError(f"{where}.stressors: missing; give cpu and/or memory")
    unknown = sorted(set(stressors) - {"cpu", "memory"})
    if unknown:
        raise ScenarioError(f"{where}.stressors: {unknown} cannot be simulated; supported: cpu, memory")
    return (
        "cpu"
        if "cpu" in stressors and "memory" not in stressors
        else ("memory" if "cpu" not in stressors else "cpu+memory")
    )


def _http_action(spec: dict[str, Any], where: str) -> str:
    for unsupported in ("replace", "patch"):
        if spec.get(unsupported):
            raise ScenarioError(
                f"{where}.{unsupported}: HTTPChaos {unsupported} cannot be simulated "
                f"(it changes response bodies the traces never show); supported: abort, delay"
            )
    if spec.get("abort") is True:
        return "abort"
    if spec.get("delay"):
        return "delay"
    raise ScenarioError(f"{where}: HTTPChaos needs abort: true or delay: <duration>")


def _pod(fault: FaultSpec, spec: dict[str, Any], where: str) -> None:
    if "gracePeriod" in spec:
        fault.params["gracePeriod"] = _int(spec["gracePeriod"], f"{where}.gracePeriod")
    if fault.action == "container-kill":
        names = spec.get("containerNames")
        if not isinstance(names, list) or not names:
            raise ScenarioError(f"{where}.containerNames: container-kill needs a non-empty list of container names")
        fault.params["containerNames"] = names


def _network(fault: FaultSpec, spec: dict[str, Any], where: str) -> None:
    direction = spec.get("direction", "to")
    if direction not in ("to", "from", "both"):
        raise ScenarioError(f"{where}.direction: {direction!r} is not one of to/from/both")
    fault.direction = direction
    if spec.get("externalTargets"):
        raise ScenarioError(f"{where}.externalTargets: traffic leaving the cluster is not modelled")
    if spec.get("target") is not None:
        target = spec["target"]
        if not isinstance(target, dict):
            raise ScenarioError(f"{where}.target: expected a mapping with mode and selector")
        fault.target = _selection(target, f"{where}.target")
    action = fault.action
    if action == "partition":
        return
    body = spec.get(action)
    if not isinstance(body, dict):
        raise ScenarioError(f"{where}.{action}: missing; NetworkChaos {action} needs its parameters")
    if action == "delay":
        if "latency" not in body:
            raise ScenarioError(f"{where}.delay.latency: missing")
        fault.params["latency_s"] = parse_duration(body["latency"], f"{where}.delay.latency")
        fault.params["jitter_s"] = parse_duration(body.get("jitter", "0ms"), f"{where}.delay.jitter")
        fault.params["correlation"] = parse_percent(body.get("correlation", "0"), f"{where}.delay.correlation")
        if body.get("reorder"):
            raise ScenarioError(f"{where}.delay.reorder: packet reordering is not modelled")
    else:
        if action not in body:
            raise ScenarioError(f"{where}.{action}.{action}: missing percentage")
        fault.params["probability"] = parse_percent(body[action], f"{where}.{action}.{action}")
        fault.params["correlation"] = parse_percent(body.get("correlation", "0"), f"{where}.{action}.correlation")


def _stress(fault: FaultSpec, spec: dict[str, Any], where: str) -> None:
    stressors = spec["stressors"]
    if "cpu" in stressors:
        cpu = stressors["cpu"] or {}
        fault.params["cpu_workers"] = _int(cpu.get("workers"), f"{where}.stressors.cpu.workers", 1)
        fault.params["cpu_load"] = _int(cpu.get("load", 100), f"{where}.stressors.cpu.load", 0, 100)
    if "memory" in stressors:
        memory = stressors["memory"] or {}
        fault.params["memory_workers"] = _int(memory.get("workers"), f"{where}.stressors.memory.workers", 1)
        if "size" not in memory:
            raise ScenarioError(f"{where}.stressors.memory.size: missing (e.g. '256MB')")
        parse_size_mb(memory["size"], f"{where}.stressors.memory.size", 1.0)
        fault.params["memory_size"] = str(memory["size"])


def _http(fault: FaultSpec, spec: dict[str, Any], where: str) -> None:
    target = spec.get("target")
    if target not in ("Request", "Response"):
        raise ScenarioError(f"{where}.target: {target!r}; expected Request or Response")
    fault.params["target"] = target
    fault.params["port"] = _int(spec.get("port"), f"{where}.port", 1, 65535)
    fault.params["path"] = str(spec.get("path", "*") or "*")
    fault.params["method"] = spec.get("method")
    if fault.action == "delay":
        fault.params["delay_s"] = parse_duration(spec["delay"], f"{where}.delay")
