"""``SimBackend``: the Backend protocol on a simulated clock, interpreting ChaosMesh manifests."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from chaos_scenarios.backend import Injection
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.manifests import build_manifest
from chaos_scenarios.simulator import engine, model
from chaos_scenarios.simulator.faults import FaultSpec, Selection, parse_manifest, parse_size_mb
from chaos_scenarios.simulator.model import SERVICES
from chaos_scenarios.simulator.spans import build_spanframe
from collectors import to_jaeger_traces
from collectors.spanframe import empty_spanframe

EPOCH = 1767600000.0  # 2026-01-05 08:00:00 UTC, a Monday morning with load rising
_POD_ALPHABET = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
HTTP_PORT = 8080  # the frontend's only HTTP port
MEMORY_FILL_MB_PER_S = 250.0  # how fast a memory stressor grows (model assumption)
_PAGE_SAMPLE_PATH = {"/product/{id}": "/product/OLJCESPC7Z"}


@dataclass
class _Record:
    spec: FaultSpec
    manifest: dict
    slots: list[int]
    target_slots: list[int] | None
    t0: float
    t1: float | None = None
    oom_at: float | None = None

    def end(self, now: float) -> float:
        ends = [self.t1 if self.t1 is not None else now]
        if self.spec.duration_s is not None:
            ends.append(self.t0 + self.spec.duration_s)
        return min(ends)


class SimBackend:
    """A discrete-event Online-Boutique: same manifests as the Kubernetes backend, simulated clock.

    ``seed`` fixes everything random; ``users`` is the mean number of load-generator users
    (each waits 1-10 s between tasks), ``day_amplitude`` the relative swing of load over the
    day; ``replicas`` maps service -> pods (default 1 each, as in the released manifests);
    ``namespace`` is where the simulated shop runs (None: the first manifest's namespace).
    """

    name = "sim"

    def __init__(
        self,
        seed: int = 0,
        namespace: str | None = None,
        *,
        users: float = 150.0,
        day_amplitude: float = 0.35,
        replicas: dict[str, int] | None = None,
        start: float = EPOCH,
    ) -> None:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ScenarioError(f"SimBackend: seed must be a non-negative integer, got {seed!r}")
        if users <= 0:
            raise ScenarioError(f"SimBackend: users must be positive, got {users!r}")
        unknown = sorted(set(replicas or {}) - set(SERVICES))
        if unknown:
            raise ScenarioError(f"SimBackend: replicas for unknown service(s) {unknown}; known: {sorted(SERVICES)}")
        self.seed = int(seed)
        self.namespace = namespace
        self.users = float(users)
        self.day_amplitude = float(day_amplitude)
        self.replicas = dict.fromkeys(SERVICES, 1) | dict(replicas or {})
        self._now = float(start)
        self._pod_rng = np.random.default_rng([self.seed, 101])
        self._slot_service: list[str] = []
        self._slot_names: list[list[tuple[float, str]]] = []
        self._template_hash: dict[str, str] = {}
        for service, count in self.replicas.items():
            if count < 1:
                raise ScenarioError(f"SimBackend: replicas[{service!r}] must be >= 1, got {count}")
            self._template_hash[service] = "".join(self._pod_rng.choice(_POD_ALPHABET, 10))
            for _ in range(count):
                self._slot_service.append(service)
                self._slot_names.append([(-np.inf, self._new_pod_name(service))])
        self._records: list[_Record] = []

    # --- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def wait(self, seconds: float) -> None:
        if seconds < 0:
            raise ScenarioError(f"SimBackend.wait: cannot wait a negative time ({seconds} s)")
        self._now += float(seconds)

    # --- pods --------------------------------------------------------------------------------
    def _new_pod_name(self, service: str) -> str:
        return f"{service}-{self._template_hash[service]}-{''.join(self._pod_rng.choice(_POD_ALPHABET, 5))}"

    def pods(self, at: float | None = None) -> dict[str, list[str]]:
        """Pod names per service at time ``at`` (default: now)."""
        at = self._now if at is None else at
        out: dict[str, list[str]] = {}
        for service, history in zip(self._slot_service, self._slot_names):
            name = [n for t, n in history if t <= at][-1]
            out.setdefault(service, []).append(name)
        return out

    def _select(self, sel: Selection, where: str, salt: int) -> list[int]:
        if self.namespace is None:
            self.namespace = sel.namespace
        if sel.namespace is not None and sel.namespace != self.namespace:
            raise ScenarioError(
                f"{where}: selects namespace {sel.namespace!r}, but the simulated "
                f"Online-Boutique runs in {self.namespace!r}"
            )
        current = self.pods()
        if sel.pods is not None:
            by_name = {n: i for i, (s, h) in enumerate(zip(self._slot_service, self._slot_names)) for n in [h[-1][1]]}
            missing = [p for p in sel.pods if p not in by_name]
            if missing:
                raise ScenarioError(
                    f"{where}: pod(s) {missing} do not exist; pods now: "
                    f"{sorted(p for v in current.values() for p in v)}"
                )
            candidates = [
                by_name[p] for p in sel.pods if not sel.service or self._slot_service[by_name[p]] == sel.service
            ]
        else:
            if sel.service not in SERVICES:
                raise ScenarioError(
                    f"{where}: app={sel.service!r} selects no pods; the simulated "
                    f"Online-Boutique has {sorted(SERVICES)}"
                )
            candidates = [i for i, s in enumerate(self._slot_service) if s == sel.service]
        if not candidates:
            raise ScenarioError(f"{where}: the selector matches no pods")
        rng = np.random.default_rng([self.seed, 202, salt])
        n = len(candidates)
        if sel.mode == "all":
            count = n
        elif sel.mode == "one":
            count = 1
        elif sel.mode == "fixed":
            count = min(int(float(sel.value)), n)
        elif sel.mode == "fixed-percent":
            count = int(np.floor(n * float(sel.value) / 100.0))
        else:
            count = int(rng.integers(1, max(1, int(np.floor(n * float(sel.value) / 100.0))) + 1))
        if count < 1:
            raise ScenarioError(f"{where}: mode {sel.mode} value {sel.value!r} selects 0 of {n} pod(s)")
        return sorted(int(i) for i in rng.choice(candidates, size=count, replace=False))

    # --- faults ------------------------------------------------------------------------------
    def preflight(self, suite: Any) -> None:
        """Check every fault of ``suite`` can be simulated (targets exist, kinds are modelled)."""
        for fault in getattr(suite, "faults", ()):
            manifest = build_manifest(fault, name=f"preflight-{fault.name}", run_id="preflight")
            spec = parse_manifest(manifest)
            self._check(spec, f"suite fault {fault.name!r}")
            if spec.selection.service and spec.selection.service not in SERVICES:
                raise ScenarioError(
                    f"suite fault {fault.name!r}: target {spec.selection.service!r} is not "
                    f"a simulated service; use one of {sorted(SERVICES)}"
                )

    def _check(self, spec: FaultSpec, where: str) -> None:
        if spec.kind == "HTTPChaos":
            if spec.selection.service != "frontend":
                raise ScenarioError(
                    f"{where}: HTTPChaos on {spec.selection.service!r}; only the frontend "
                    f"serves HTTP in Online-Boutique (the others speak gRPC)"
                )
            if spec.params["port"] != HTTP_PORT:
                raise ScenarioError(
                    f"{where}: HTTPChaos on port {spec.params['port']}; the frontend serves HTTP on {HTTP_PORT} only"
                )

    def inject(self, manifest: dict) -> Injection:
        spec = parse_manifest(manifest)
        where = f"manifest {spec.name!r}"
        if any(r.spec.name == spec.name and r.end(self._now) > self._now for r in self._records):
            raise ScenarioError(f"{where}: a chaos object with this name is already active")
        self._check(spec, where)
        salt = len(self._records)
        slots = self._select(spec.selection, f"{where}.spec.selector", salt)
        target = None
        if spec.target is not None:
            target = self._select(spec.target, f"{where}.spec.target.selector", 10_000 + salt)
        names = [self._slot_names[i][-1][1] for i in slots]
        record = _Record(spec=spec, manifest=manifest, slots=slots, target_slots=target, t0=self._now)
        if spec.kind == "PodChaos" and spec.action == "pod-kill":
            for i in slots:
                self._slot_names[i].append((self._now, self._new_pod_name(self._slot_service[i])))
        if "memory_size" in spec.params:
            for i in slots:
                svc = SERVICES[self._slot_service[i]]
                size = parse_size_mb(
                    spec.params["memory_size"], f"{where}.spec.stressors.memory.size", svc.memory_limit_mb
                )
                if svc.memory_base_mb + size > svc.memory_limit_mb:
                    record.oom_at = self._now + size / (MEMORY_FILL_MB_PER_S * spec.params["memory_workers"])
        self._records.append(record)
        return Injection(injected_at=self._now, pods=names)

    def _healthy_at(self, rec: _Record, end: float) -> float:
        restart = max(SERVICES[self._slot_service[i]].restart_s for i in rec.slots)
        if rec.spec.kind == "PodChaos":
            return rec.t0 + restart if rec.spec.action != "pod-failure" else end + restart
        if rec.oom_at is not None and rec.oom_at < end:
            return max(end, rec.oom_at + restart)
        return end

    def recover(self, manifest: dict) -> float:
        """End the fault; advance the clock until its pods are healthy again and return that time
        (as the Kubernetes backend does: never earlier than the call itself)."""
        name = (manifest.get("metadata") or {}).get("name") if isinstance(manifest, dict) else None
        active = [r for r in self._records if r.spec.name == name and r.t1 is None]
        if not active:
            raise ScenarioError(f"recover: no chaos object named {name!r} was injected on this backend")
        rec = active[-1]
        rec.t1 = min(self._now, rec.end(self._now))
        self._now = max(self._now, self._healthy_at(rec, rec.t1))
        return self._now

    def cleanup(self) -> None:
        for rec in self._records:
            if rec.t1 is None:
                rec.t1 = rec.end(self._now)

    # --- spans -------------------------------------------------------------------------------
    def collect_spans(self, start: float, end: float) -> pd.DataFrame:
        """SpanFrame of the page requests that arrive in [start, end] (whole traces)."""
        start, end = _seconds(start, "start"), _seconds(end, "end")
        if not end > start:
            raise ScenarioError(f"collect_spans: end ({end}) must be after start ({start})")
        fx = self.effects(start, end)
        cluster = engine.Cluster(self._slot_service, self._slot_names)
        cols, names = engine.simulate(
            cluster, fx, start, end, self.seed, self.users, self.day_amplitude, think_s=sum(model.THINK_TIME_S) / 2
        )
        if not cols:
            return empty_spanframe(source=f"sim(seed={self.seed})")
        return build_spanframe(cols, names, source=f"sim(seed={self.seed}) {start:.0f}-{end:.0f}")

    def effects(self, start: float, end: float) -> engine.Effects:
        """The recorded faults as the engine applies them over [start, end]."""
        t_base = np.floor(start)
        fx = engine.Effects(
            t_base=t_base, n_slices=int(np.ceil(end + 5.0 - t_base)) + 1, n_slots=len(self._slot_service)
        )
        for rec in self._records:
            t1 = rec.end(max(self._now, end))
            healthy = self._healthy_at(rec, t1)
            if healthy < start or rec.t0 > end:
                continue
            spec, p = rec.spec, rec.spec.params
            restart = {i: SERVICES[self._slot_service[i]].restart_s for i in rec.slots}
            if spec.kind == "PodChaos":
                for i in rec.slots:
                    stop = rec.t0 + restart[i] if spec.action != "pod-failure" else t1 + restart[i]
                    fx.down.append((i, rec.t0, stop))
            elif spec.kind == "StressChaos":
                span = fx.slice_range(rec.t0, t1)
                for i in rec.slots:
                    if "cpu_workers" in p:
                        fx.slowdown[i, span] += p["cpu_workers"] * p["cpu_load"] / 100.0
                    if "memory_size" in p:
                        self._memory(fx, rec, i, t1, restart[i])
            elif spec.kind == "NetworkChaos":
                rule = {
                    "action": spec.action,
                    "sel": np.array(rec.slots),
                    "tgt": None if rec.target_slots is None else np.array(rec.target_slots),
                    "to": spec.direction in ("to", "both"),
                    "from": spec.direction in ("from", "both"),
                    "t0": rec.t0,
                    "t1": t1,
                    **p,
                }
                fx.network.append(rule)
            elif spec.kind == "HTTPChaos":
                fx.http.append(self._http_rule(rec, t1))
        return fx

    def _memory(self, fx: engine.Effects, rec: _Record, slot: int, t1: float, restart: float) -> None:
        svc = SERVICES[self._slot_service[slot]]
        size = parse_size_mb(rec.spec.params["memory_size"], "memory size", svc.memory_limit_mb)
        pressure = min(1.0, (svc.memory_base_mb + size) / svc.memory_limit_mb)
        span = fx.slice_range(rec.t0, t1)
        fx.slowdown[slot, span] += 0.5 * pressure**4
        fx.pause_prob[slot, span] = np.maximum(fx.pause_prob[slot, span], 0.1 * pressure**2)
        fx.pause_s[slot, span] = np.maximum(fx.pause_s[slot, span], 0.3)
        if rec.oom_at is not None and rec.oom_at < t1:
            fx.down.append((slot, rec.oom_at, rec.oom_at + restart))

    def _http_rule(self, rec: _Record, t1: float) -> dict:
        p = rec.spec.params
        method = p.get("method")

        def matches(page: model.Page) -> bool:
            path = _PAGE_SAMPLE_PATH.get(page.path, page.path)
            return fnmatch.fnmatchcase(path, p["path"]) and (not method or method.upper() == page.method)

        weights = {name: w for name, (w, _) in model.TASKS.items()}
        all_pages = model.pages()
        total = sum(w * len(model.TASKS[t][1]) for t, w in weights.items())
        hit = sum(w * sum(matches(all_pages[pg]) for pg in model.TASKS[t][1]) for t, w in weights.items())
        frontends = sum(1 for s in self._slot_service if s == "frontend")
        return {
            "action": rec.spec.action,
            "target": p["target"],
            "sel": np.array(rec.slots),
            "matches": matches,
            "delay_s": p.get("delay_s", 0.0),
            "t0": rec.t0,
            "t1": t1,
            "share": hit / total * len(rec.slots) / frontends,
        }

    def jaeger_traces(self, start: float, end: float) -> list[dict]:
        """The simulated traces of [start, end] in Jaeger's JSON model (``collectors.to_jaeger_traces``)."""
        return to_jaeger_traces(self.collect_spans(start, end))


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise ScenarioError(f"collect_spans: {what} {value!r} has no time zone; use UTC")
        return value.timestamp()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise ScenarioError(f"collect_spans: {what} must be finite, got {value!r}")
        return float(value)
    raise ScenarioError(f"collect_spans: {what} must be Unix seconds or a UTC pandas.Timestamp, got {value!r}")
