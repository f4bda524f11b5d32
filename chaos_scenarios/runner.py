"""Run a suite on any backend: warm up, inject, hold, recover, cool down, collect spans, write a case.

The runner only talks to the :class:`chaos_scenarios.backend.Backend` protocol, so the same loop
drives a real cluster and the simulator. Safety rules it keeps:

- one case at a time; a case holds ``suite.concurrency`` faults at once (1 unless the suite asks);
- every fault that was (or may have been) created is removed in a ``finally`` block, on errors,
  on Ctrl-C (``KeyboardInterrupt``) and on backend time-outs, followed by ``backend.cleanup()``;
- ``run.json`` is written even when the run stops early, with ``status`` and the finished cases.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from chaos_scenarios.backend import Backend, Injection
from chaos_scenarios.case_folder import CaseLabel, write_case, write_changes, write_run
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.manifests import build_manifest, check_fault, fault_type
from chaos_scenarios.spec import Fault, Suite


@dataclass(frozen=True)
class PlannedCase:
    """One case of a run: the fault(s) injected together and their manifests."""

    case_id: str
    faults: tuple[Fault, ...]
    repetition: int
    manifests: tuple[dict[str, Any], ...]

    @property
    def warmup(self) -> float:
        return max(f.warmup for f in self.faults)

    @property
    def duration(self) -> float:
        return max(f.duration for f in self.faults)

    @property
    def cooldown(self) -> float:
        return max(f.cooldown for f in self.faults)


def default_run_id(suite: Suite, seed: int | None = None) -> str:
    """``<suite>-s<seed>`` when seeded (reproducible), else ``<suite>-<UTC time>``."""
    if seed is not None:
        return f"{suite.name}-s{seed}"
    return f"{suite.name}-{pd.Timestamp.now(tz='UTC').strftime('%Y%m%dt%H%M%S')}"


def plan_cases(suite: Suite, run_id: str) -> list[PlannedCase]:
    """Cases in run order: repetition 1 of every fault, then repetition 2, ... grouped by concurrency."""
    order: list[tuple[Fault, int]] = []
    for rep in range(1, max(f.repetitions for f in suite.faults) + 1):
        order.extend((f, rep) for f in suite.faults if f.repetitions >= rep)
    cases: list[PlannedCase] = []
    for start in range(0, len(order), suite.concurrency):
        group = order[start : start + suite.concurrency]
        index = len(cases) + 1
        case_id = f"{index:03d}-" + "+".join(f.name for f, _ in group) + f"-r{group[0][1]}"
        manifests = tuple(
            build_manifest(f, name=f"rca-{index:03d}-{f.name}-r{rep}", run_id=run_id, case_id=case_id)
            for f, rep in group
        )
        cases.append(
            PlannedCase(case_id=case_id, faults=tuple(f for f, _ in group), repetition=group[0][1], manifests=manifests)
        )
    return cases


def run_suite(
    suite: Suite,
    backend: Backend | None,
    out_dir: str | Path,
    *,
    dry_run: bool = False,
    progress: bool = True,
    seed: int | None = None,
    run_id: str | None = None,
) -> list[Path]:
    """Run every case of ``suite`` on ``backend`` and write one case folder each under ``out_dir``.

    With ``dry_run`` the plan (and every manifest) is built and checked but the backend is not
    touched and nothing is written; returns ``[]``.
    """
    run_id = run_id or default_run_id(suite, seed)
    cases = plan_cases(suite, run_id)
    if dry_run:
        return []
    if backend is None:
        raise ScenarioError("run_suite: a backend is required unless dry_run=True")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    status = "failed"
    bar = tqdm(
        total=len(cases), desc=f"{suite.name} [{backend.name}]", unit="case", file=sys.stderr, disable=not progress
    )
    try:
        backend.preflight(suite)
        for case in cases:
            written.append(_run_case(case, suite, backend, out_dir, seed, bar))
            bar.update(1)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        try:
            backend.cleanup()
        finally:
            write_run(
                out_dir,
                suite=suite.name,
                backend=backend.name,
                seed=seed,
                cases=[p.name for p in written],
                extra={"run_id": run_id, "status": status, "planned_cases": len(cases), "suite_path": suite.path},
            )
    return written


def _run_case(case: PlannedCase, suite: Suite, backend: Backend, out_dir: Path, seed: int | None, bar: tqdm) -> Path:
    label = play_case(case, suite, backend, seed, bar)
    bar.set_postfix_str(f"{case.case_id}: collect spans", refresh=True)
    spans = backend.collect_spans(label.window_start, label.window_end)
    folder = write_case(out_dir / case.case_id, label, list(case.manifests), spans)
    read_cluster_changes = getattr(backend, "changes", None)
    if callable(read_cluster_changes):  # a backend that can see the cluster's rollouts and restarts
        bar.set_postfix_str(f"{case.case_id}: read changes", refresh=True)
        changes = [c for ns in suite.namespaces for c in read_cluster_changes(ns, label.window_start, label.window_end)]
        write_changes(folder, sorted(changes, key=lambda c: (c.time, c.service)))
    return folder


def play_case(case: PlannedCase, suite: Suite, backend: Backend, seed: int | None, bar: tqdm) -> CaseLabel:
    """Warm-up, inject, hold, recover, cool-down on ``backend``; the recorded label (the case's
    window is [start of the warm-up, end of the cool-down])."""

    def stage(text: str) -> None:
        bar.set_postfix_str(f"{case.case_id}: {text}", refresh=True)

    window_start = backend.now()
    stage(f"warm-up {case.warmup:g}s")
    backend.wait(case.warmup)
    active: list[dict[str, Any]] = []
    injections: list[Injection] = []
    recovered: list[float] = []
    try:
        for manifest in case.manifests:
            stage(f"inject {manifest['kind']}")
            active.append(manifest)
            injections.append(backend.inject(manifest))
        injected_at = min(i.injected_at for i in injections)
        stage(f"hold {case.duration:g}s")
        backend.wait(min(case.duration, max(0.0, injected_at + case.duration - backend.now())))
        stage("recover")
        while active:
            recovered.append(backend.recover(active[-1]))
            active.pop()
    finally:
        if active:
            _emergency_recover(backend, active)
    stage(f"cool-down {case.cooldown:g}s")
    backend.wait(case.cooldown)
    return _label(case, suite, backend, seed, injections, max(recovered), window_start, backend.now())


def _emergency_recover(backend: Backend, active: list[dict[str, Any]]) -> None:
    """Remove every fault still in place while an error propagates; never masks that error."""
    failures: list[str] = []
    for manifest in reversed(active):
        try:
            backend.recover(manifest)
        except BaseException as exc:  # noqa: BLE001 - keep removing the others
            failures.append(f"{manifest['metadata']['name']}: {exc!r}")
    try:
        backend.cleanup()
    except BaseException as exc:  # noqa: BLE001
        failures.append(f"cleanup: {exc!r}")
    if failures:
        print(
            "warning: could not remove every chaos object (" + "; ".join(failures) + "); run `rca chaos cleanup`",
            file=sys.stderr,
        )


def _label(
    case: PlannedCase,
    suite: Suite,
    backend: Backend,
    seed: int | None,
    injections: list[Injection],
    recovered_at: float,
    window_start: float,
    window_end: float,
) -> CaseLabel:
    faults = case.faults
    params: dict[str, Any] = {}
    for fault in faults:
        p = check_fault(fault, f"fault {fault.name}")
        if fault.kind == "NetworkChaos":
            p["direction"] = fault.direction or "to"
            if fault.peer is not None:
                p["peer"] = fault.peer.service
        p["mode"] = fault.mode if not fault.value else f"{fault.mode}:{fault.value}"
        if len(faults) == 1:
            params.update(p)
        else:
            params[fault.name] = p
    pods = sorted({pod for i in injections for pod in i.pods})
    return CaseLabel(
        case_id=case.case_id,
        root_cause=sorted({f.target for f in faults}),
        fault_type="+".join(fault_type(f.kind, f.action) for f in faults),
        chaos_kind="+".join(f.kind for f in faults),
        action="+".join(f.action for f in faults),
        injected_at=float(min(i.injected_at for i in injections)),
        recovered_at=float(recovered_at),
        window_start=float(window_start),
        window_end=float(window_end),
        backend=backend.name,
        target_pods=pods,
        parameters=params,
        suite=suite.name,
        seed=seed,
    )
