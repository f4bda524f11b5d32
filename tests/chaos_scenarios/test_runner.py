"""The suite runner driven through the Backend protocol by an in-memory recording backend."""

import json

import pandas as pd
import pytest

from chaos_scenarios.backend import Injection
from chaos_scenarios.case_folder import list_cases, read_label, read_manifests, read_spans
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.runner import plan_cases, run_suite
from chaos_scenarios.suite import parse_suite
from collectors import make_spanframe


class RecordingBackend:
    """Keeps a simulated clock and a log of calls; optional failures at given steps."""

    name = "recorder"

    def __init__(self, inject_delay=5.0, recover_delay=3.0, fail_on=None, interrupt_on_wait=None):
        self.t = 1000.0
        self.calls = []
        self.active = set()
        self.max_active = 0
        self.inject_delay = inject_delay
        self.recover_delay = recover_delay
        self.fail_on = fail_on or {}
        self.interrupt_on_wait = interrupt_on_wait

    def _maybe_fail(self, step):
        exc = self.fail_on.get(step)
        if exc is not None:
            raise exc

    def preflight(self, suite):
        self.calls.append(("preflight", suite.name))
        self._maybe_fail("preflight")

    def now(self):
        return self.t

    def wait(self, seconds):
        self.calls.append(("wait", seconds))
        if self.interrupt_on_wait is not None and seconds == self.interrupt_on_wait:
            raise KeyboardInterrupt
        self.t += seconds

    def inject(self, manifest):
        name = manifest["metadata"]["name"]
        self.calls.append(("inject", name))
        self.active.add(name)
        self.max_active = max(self.max_active, len(self.active))
        self._maybe_fail("inject")
        self.t += self.inject_delay
        return Injection(injected_at=self.t, pods=[f"{manifest['spec']['selector']['labelSelectors']['app']}-0"])

    def recover(self, manifest):
        name = manifest["metadata"]["name"]
        self.calls.append(("recover", name))
        self._maybe_fail("recover")
        self.active.discard(name)
        self.t += self.recover_delay
        return self.t - 1.0

    def collect_spans(self, start, end):
        self.calls.append(("collect", start, end))
        return make_spanframe(
            pd.DataFrame(
                {
                    "trace_id": ["t1"],
                    "span_id": ["s1"],
                    "parent_id": [None],
                    "service": ["frontend"],
                    "operation": ["GET /"],
                    "start_us": [int(start * 1e6)],
                    "duration_us": [10],
                    "kind": ["server"],
                    "status": ["ok"],
                    "pod": ["frontend-0"],
                }
            )
        )

    def cleanup(self):
        self.calls.append(("cleanup",))
        self.active.clear()


def _suite(concurrency=1, repetitions=1):
    return parse_suite(
        {
            "name": "t",
            "defaults": {
                "namespace": "shop",
                "warmup": 60,
                "duration": 30,
                "cooldown": 20,
                "repetitions": repetitions,
                "concurrency": concurrency,
            },
            "faults": [
                {
                    "name": "cart-delay",
                    "target": "cartservice",
                    "kind": "NetworkChaos",
                    "action": "delay",
                    "parameters": {"latency": "100ms"},
                    "peer": "redis-cart",
                },
                {
                    "name": "cur-cpu",
                    "target": "currencyservice",
                    "kind": "StressChaos",
                    "action": "cpu",
                    "parameters": {"workers": 1},
                    "mode": "fixed",
                    "value": 1,
                },
            ],
        }
    )


def test_run_loop_and_case_folders(tmp_path):
    backend = RecordingBackend()
    written = run_suite(_suite(), backend, tmp_path, progress=False, seed=3)
    assert [p.name for p in written] == ["001-cart-delay-r1", "002-cur-cpu-r1"]
    first = list(backend.calls[1:9])
    # warm-up 60; inject takes 5 s; hold until injected_at + 30 (25 s left); recover; cool-down 20
    assert first == [
        ("wait", 60),
        ("inject", "rca-001-cart-delay-r1"),
        ("wait", 30.0),
        ("recover", "rca-001-cart-delay-r1"),
        ("wait", 20),
        ("collect", 1000.0, 1118.0),
        ("wait", 60),
        ("inject", "rca-002-cur-cpu-r1"),
    ]
    assert backend.calls[0] == ("preflight", "t") and backend.calls[-1] == ("cleanup",)
    label = read_label(written[0])
    assert label.root_cause == ["cartservice"] and label.fault_type == "network-delay"
    assert (label.injected_at, label.recovered_at) == (1065.0, 1097.0)
    assert (label.window_start, label.window_end) == (1000.0, 1118.0)
    assert label.chaos_kind == "NetworkChaos" and label.action == "delay" and label.backend == "recorder"
    assert label.target_pods == ["cartservice-0"] and label.seed == 3 and label.suite == "t"
    assert label.parameters == {"latency": "100ms", "direction": "to", "peer": "redis-cart", "mode": "one"}
    assert read_label(written[1]).parameters == {"workers": 1, "mode": "fixed:1"}
    manifest = read_manifests(written[0])[0]
    assert manifest["kind"] == "NetworkChaos" and manifest["metadata"]["labels"]["rca-fluxev/run"] == "t-s3"
    assert len(read_spans(written[0])) == 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "complete" and run["cases"] == [p.name for p in written] and run["seed"] == 3
    assert list_cases(tmp_path) == written
    assert backend.max_active == 1


def test_hold_counts_from_the_backend_injection_time(tmp_path):
    backend = RecordingBackend(inject_delay=12.0)
    run_suite(_suite(), backend, tmp_path, progress=False)
    waits = [c[1] for c in backend.calls if c[0] == "wait"]
    assert waits[:3] == [60, 30.0, 20]  # injected_at already includes the 12 s; hold = full 30 s after it


def test_repetitions_run_in_rounds():
    cases = plan_cases(_suite(repetitions=2), "r")
    assert [c.case_id for c in cases] == ["001-cart-delay-r1", "002-cur-cpu-r1", "003-cart-delay-r2", "004-cur-cpu-r2"]


def test_concurrency_injects_together_only_when_asked(tmp_path):
    backend = RecordingBackend()
    written = run_suite(_suite(concurrency=2), backend, tmp_path, progress=False)
    assert backend.max_active == 2 and len(written) == 1
    label = read_label(written[0])
    assert label.root_cause == ["cartservice", "currencyservice"]
    assert label.fault_type == "network-delay+stress-cpu" and set(label.parameters) == {"cart-delay", "cur-cpu"}
    assert len(read_manifests(written[0])) == 2


def test_ctrl_c_during_hold_removes_the_fault(tmp_path):
    backend = RecordingBackend(interrupt_on_wait=30.0)
    with pytest.raises(KeyboardInterrupt):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert ("recover", "rca-001-cart-delay-r1") in backend.calls
    assert backend.calls[-2:] == [("cleanup",), ("cleanup",)]
    assert backend.active == set()
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "interrupted" and run["cases"] == []


def test_error_during_inject_still_recovers(tmp_path):
    backend = RecordingBackend(fail_on={"inject": ScenarioError("not injected after 120s")})
    with pytest.raises(ScenarioError, match="not injected"):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert backend.calls[-3:] == [("recover", "rca-001-cart-delay-r1"), ("cleanup",), ("cleanup",)]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"


def test_recover_failure_does_not_hide_the_first_error(tmp_path, capsys):
    backend = RecordingBackend(fail_on={"inject": ScenarioError("boom"), "recover": RuntimeError("api down")})
    with pytest.raises(ScenarioError, match="boom"):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert "rca chaos cleanup" in capsys.readouterr().err


def test_preflight_failure_touches_nothing(tmp_path):
    backend = RecordingBackend(fail_on={"preflight": ScenarioError("no cluster")})
    with pytest.raises(ScenarioError, match="no cluster"):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert [c[0] for c in backend.calls] == ["preflight", "cleanup"]


def test_dry_run_never_touches_the_backend(tmp_path):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"backend.{name} used during a dry run")

    assert run_suite(_suite(), Untouchable(), tmp_path / "out", dry_run=True) == []
    assert not (tmp_path / "out").exists()
