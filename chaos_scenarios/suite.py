"""Fault suites: a YAML file of faults with shared defaults, loaded into plain dataclasses.

A suite file looks like::

    name: online-boutique-smoke            # optional; defaults to the file stem
    defaults:
      namespace: online-boutique
      warmup: 5m                           # normal traffic before the fault
      duration: 3m                         # how long the fault is held
      cooldown: 2m                         # normal traffic after recovery
      repetitions: 1
      jaeger_url: http://localhost:16686
      concurrency: 1                       # faults injected at the same time (1 = never two at once)
      mode: one                            # ChaosMesh pod selection mode
    faults:
      - name: cart-delay
        target: cartservice                # pods selected by label app=<target>
        kind: NetworkChaos
        action: delay
        parameters: {latency: 200ms, jitter: 20ms, correlation: "25"}
        mode: all                          # one | all | fixed | fixed-percent
        value: ""                          # count or percent for fixed / fixed-percent
        direction: to                      # NetworkChaos only: to | from | both
        peer: {service: redis-cart, mode: all}   # NetworkChaos only: becomes spec.target

Every fault may override ``namespace``, ``warmup``, ``duration``, ``cooldown`` and
``repetitions``. Durations are numbers of seconds or strings such as ``90s``, ``5m``,
``1h30m``, each at most a day (:data:`chaos_scenarios.spec.MAX_PHASE_SECONDS`); a fault repeats
at most :data:`~chaos_scenarios.spec.MAX_REPETITIONS` times and a suite plans at most
:data:`~chaos_scenarios.spec.MAX_CASES` cases. Errors name the file and the field
(``suite.yaml: faults[2].parameters.latency: ...``).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.manifests import check_fault
from chaos_scenarios.spec import (
    DIRECTIONS,
    DNS_LABEL,
    MAX_CASES,
    MAX_REPETITIONS,
    MODES,
    Fault,
    Peer,
    Suite,
    format_duration,
    parse_duration,
)

SUITES_FOLDER = "suites"

__all__ = [
    "Fault",
    "Peer",
    "Suite",
    "builtin_suites",
    "format_duration",
    "load_suite",
    "parse_duration",
    "parse_suite",
    "suite_path",
]

DEFAULTS: dict[str, Any] = {
    "namespace": "default",
    "warmup": 300.0,
    "duration": 180.0,
    "cooldown": 120.0,
    "repetitions": 1,
    "jaeger_url": "http://localhost:16686",
    "concurrency": 1,
    "mode": "one",
}
_TIMING_KEYS = ("namespace", "warmup", "duration", "cooldown", "repetitions")
_FAULT_KEYS = {"name", "target", "kind", "action", "parameters", "mode", "value", "direction", "peer", *_TIMING_KEYS}
_PEER_KEYS = {"service", "mode", "value", "namespace"}


def builtin_suites() -> list[str]:
    """Names of the suites shipped with the package (``chaos_scenarios/suites/<name>.yaml``)."""
    folder = resources.files("chaos_scenarios") / SUITES_FOLDER
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def suite_path(spec: str | Path) -> Path:
    """A suite file: an existing path, else the shipped suite of that name (``online-boutique-smoke``)."""
    path = Path(spec)
    if path.is_file():
        return path
    if str(spec) == path.name:
        name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
        shipped = resources.files("chaos_scenarios") / SUITES_FOLDER / f"{name}.yaml"
        if shipped.is_file():
            return Path(str(shipped))
    raise ScenarioError(f"{spec}: suite file not found; give a path or a shipped suite: {', '.join(builtin_suites())}")


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file (a path, or the name of a shipped suite); every error names
    the file and the field."""
    path = suite_path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: suite file not found") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML ({exc})") from exc
    except RecursionError as exc:
        raise ScenarioError(f"{path}: YAML nested deeper than the parser can follow; not a suite") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the suite file ({exc})") from exc
    return parse_suite(data, where=str(path), default_name=path.stem)


def parse_suite(data: Any, *, where: str = "suite", default_name: str = "suite") -> Suite:
    """Validate a suite given as a mapping (what ``load_suite`` reads from YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a suite must be a mapping with 'defaults' and 'faults'")
    unknown = set(data) - {"name", "description", "defaults", "faults"}
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level field(s) {sorted(unknown)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{where}: name must be a non-empty string")
    defaults = _parse_defaults(data.get("defaults") or {}, f"{where}: defaults")
    faults_raw = data.get("faults")
    if not isinstance(faults_raw, list) or not faults_raw:
        raise ScenarioError(f"{where}: faults must be a non-empty list")
    faults = []
    for i, raw in enumerate(faults_raw):
        fault = _parse_fault(raw, defaults, f"{where}: faults[{i}]")
        check_fault(fault, f"{where}: faults[{i}] ({fault.name})")
        faults.append(fault)
    planned = sum(f.repetitions for f in faults)
    if planned > MAX_CASES:
        raise ScenarioError(
            f"{where}: the faults' repetitions plan {planned} cases; a suite may plan at most {MAX_CASES}"
        )
    seen: set[str] = set()
    for i, fault in enumerate(faults):
        if fault.name in seen:
            raise ScenarioError(f"{where}: faults[{i}].name: {fault.name!r} is used twice; names must be unique")
        seen.add(fault.name)
    return Suite(
        name=name,
        faults=tuple(faults),
        jaeger_url=defaults["jaeger_url"],
        concurrency=defaults["concurrency"],
        path=where,
    )


def _parse_defaults(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    out = dict(DEFAULTS)
    for key, value in raw.items():
        out[key] = _check_common(key, value, f"{where}.{key}")
    return out


def _check_common(key: str, value: Any, where: str) -> Any:
    if key in ("warmup", "duration", "cooldown"):
        seconds = parse_duration(value, where)
        if key == "duration" and seconds <= 0:
            raise ScenarioError(f"{where}: a fault must be held for more than 0 seconds")
        return seconds
    if key in ("repetitions", "concurrency"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScenarioError(f"{where}: must be an integer >= 1, got {value!r}")
        if key == "repetitions" and value > MAX_REPETITIONS:
            raise ScenarioError(f"{where}: {value} repetitions; at most {MAX_REPETITIONS} per fault")
        return value
    if key == "namespace":
        if not isinstance(value, str) or not DNS_LABEL.match(value):
            raise ScenarioError(f"{where}: {value!r} is not a valid Kubernetes namespace name")
        return value
    if key == "mode":
        if value not in MODES:
            raise ScenarioError(f"{where}: {value!r} is not a ChaosMesh mode; use one of {list(MODES)}")
        return value
    if key == "jaeger_url":
        if not isinstance(value, str) or not re.match(r"^https?://", value):
            raise ScenarioError(f"{where}: expected an http(s) URL, got {value!r}")
        return value.rstrip("/")
    return value


def _parse_fault(raw: Any, defaults: dict[str, Any], where: str) -> Fault:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: each fault must be a mapping")
    unknown = set(raw) - _FAULT_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FAULT_KEYS)}")
    for key in ("name", "target", "kind", "action"):
        if key not in raw:
            raise ScenarioError(f"{where}.{key}: missing (every fault needs name, target, kind, action)")
        if not isinstance(raw[key], str) or not raw[key]:
            raise ScenarioError(f"{where}.{key}: must be a non-empty string, got {raw[key]!r}")
    for key in ("name", "target"):
        if not DNS_LABEL.match(raw[key]):
            raise ScenarioError(f"{where}.{key}: {raw[key]!r} must be lower-case letters, digits and '-'")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise ScenarioError(f"{where}.parameters: must be a mapping")
    merged = {k: defaults[k] for k in _TIMING_KEYS}
    for key in _TIMING_KEYS:
        if key in raw:
            merged[key] = _check_common(key, raw[key], f"{where}.{key}")
    mode = _check_common("mode", raw.get("mode", defaults["mode"]), f"{where}.mode")
    value = _mode_value(mode, raw.get("value"), f"{where}.value")
    direction = raw.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ScenarioError(f"{where}.direction: {direction!r} is not one of {list(DIRECTIONS)}")
    peer = _parse_peer(raw["peer"], f"{where}.peer") if raw.get("peer") is not None else None
    if (direction is not None or peer is not None) and raw["kind"] != "NetworkChaos":
        raise ScenarioError(f"{where}: direction/peer only apply to NetworkChaos, not {raw['kind']}")
    return Fault(
        name=raw["name"],
        target=raw["target"],
        kind=raw["kind"],
        action=raw["action"],
        parameters=dict(params),
        mode=mode,
        value=value,
        direction=direction,
        peer=peer,
        **merged,
    )


def _mode_value(mode: str, value: Any, where: str) -> str:
    if mode in ("one", "all"):
        if value not in (None, ""):
            raise ScenarioError(f"{where}: mode {mode!r} takes no value (got {value!r})")
        return ""
    if value is None or isinstance(value, bool):
        raise ScenarioError(f"{where}: mode {mode!r} needs a value (a pod count or a percent)")
    try:
        number = int(str(value))
    except ValueError as exc:
        raise ScenarioError(f"{where}: mode {mode!r} needs an integer value, got {value!r}") from exc
    if number < 1 or (mode != "fixed" and number > 100):
        raise ScenarioError(f"{where}: {number} is out of range for mode {mode!r}")
    return str(number)


def _parse_peer(raw: Any, where: str) -> Peer:
    if isinstance(raw, str):
        raw = {"service": raw}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a service name or a mapping with service/mode/value")
    unknown = set(raw) - _PEER_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_PEER_KEYS)}")
    service = raw.get("service")
    if not isinstance(service, str) or not DNS_LABEL.match(service):
        raise ScenarioError(f"{where}.service: a service name is required, got {service!r}")
    mode = _check_common("mode", raw.get("mode", "all"), f"{where}.mode")
    namespace = raw.get("namespace")
    if namespace is not None:
        namespace = _check_common("namespace", namespace, f"{where}.namespace")
    return Peer(
        service=service, mode=mode, value=_mode_value(mode, raw.get("value"), f"{where}.value"), namespace=namespace
    )
