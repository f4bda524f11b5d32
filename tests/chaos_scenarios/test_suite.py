from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.spec import MAX_CASES, MAX_PHASE_SECONDS, MAX_REPETITIONS
from chaos_scenarios.suite import format_duration, load_suite, parse_duration, parse_suite

REPO = Path(__file__).resolve().parents[2]
OB_SERVICES = {
    "frontend",
    "cartservice",
    "productcatalogservice",
    "currencyservice",
    "paymentservice",
    "shippingservice",
    "emailservice",
    "checkoutservice",
    "recommendationservice",
    "adservice",
}
SIMULATOR_FAULTS = {
    ("PodChaos", "pod-kill"),
    ("PodChaos", "pod-failure"),
    ("PodChaos", "container-kill"),
    ("NetworkChaos", "delay"),
    ("NetworkChaos", "loss"),
    ("NetworkChaos", "partition"),
    ("StressChaos", "cpu"),
    ("StressChaos", "memory"),
    ("HTTPChaos", "abort"),
    ("HTTPChaos", "delay"),
}


def _fault(**overrides):
    fault = {
        "name": "f",
        "target": "cartservice",
        "kind": "NetworkChaos",
        "action": "delay",
        "parameters": {"latency": "100ms"},
    }
    fault.update(overrides)
    return fault


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5m", 90.0),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "5", "m5", "", True, None, -3, "1d"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ScenarioError, match="here"):
        parse_duration(bad, "here")


@given(st.integers(min_value=0, max_value=int(MAX_PHASE_SECONDS)))
def test_duration_round_trip(seconds):
    assert parse_duration(format_duration(seconds), "x") == seconds


@pytest.mark.parametrize("bad", ["1000h", 10**9, "24h1s", float("nan"), float("inf")])
def test_parse_duration_bounds(bad):
    with pytest.raises(ScenarioError, match="here"):
        parse_duration(bad, "here")


def test_repetitions_and_cases_are_bounded():
    with pytest.raises(ScenarioError, match=r"faults\[0\].repetitions: 1000000000 repetitions; at most 1000"):
        parse_suite({"faults": [_fault(name="a", repetitions=10**9)]})
    faults = [_fault(name=f"f{i}", repetitions=MAX_REPETITIONS) for i in range(MAX_CASES // MAX_REPETITIONS + 1)]
    with pytest.raises(ScenarioError, match=f"plan {MAX_CASES + MAX_REPETITIONS} cases"):
        parse_suite({"faults": faults})


def test_defaults_and_overrides():
    suite = parse_suite(
        {
            "name": "s",
            "defaults": {"namespace": "shop", "warmup": "1m", "duration": "30s", "cooldown": 10, "repetitions": 2},
            "faults": [_fault(name="a"), _fault(name="b", warmup="2m", repetitions=1, namespace="other")],
        }
    )
    a, b = suite.faults
    assert (a.namespace, a.warmup, a.duration, a.cooldown, a.repetitions) == ("shop", 60.0, 30.0, 10.0, 2)
    assert (b.namespace, b.warmup, b.repetitions) == ("other", 120.0, 1)
    assert a.mode == "one" and a.value == "" and suite.concurrency == 1
    assert suite.namespaces == ["other", "shop"]
    assert suite.jaeger_url == "http://localhost:16686"


def test_peer_and_modes():
    suite = parse_suite(
        {
            "faults": [
                _fault(
                    mode="fixed-percent",
                    value=50,
                    direction="both",
                    peer={"service": "redis-cart", "mode": "fixed", "value": "2"},
                )
            ]
        }
    )
    fault = suite.faults[0]
    assert (fault.mode, fault.value, fault.direction) == ("fixed-percent", "50", "both")
    assert (fault.peer.service, fault.peer.mode, fault.peer.value) == ("redis-cart", "fixed", "2")
    assert parse_suite({"faults": [_fault(peer="redis-cart")]}).faults[0].peer.mode == "all"


@pytest.mark.parametrize(
    "fault, field",
    [
        (_fault(mode="some"), r"faults\[0\]\.mode"),
        (_fault(mode="fixed"), r"faults\[0\]\.value: mode 'fixed' needs a value"),
        (_fault(mode="fixed-percent", value=150), r"faults\[0\]\.value: 150 is out of range"),
        (_fault(mode="all", value=3), r"faults\[0\]\.value: mode 'all' takes no value"),
        (_fault(direction="sideways"), r"faults\[0\]\.direction"),
        (_fault(kind="PodChaos", action="pod-kill", parameters={}, direction="to"), "only apply to NetworkChaos"),
        (_fault(target="Cart_Service"), r"faults\[0\]\.target"),
        (_fault(warmup="soon"), r"faults\[0\]\.warmup: 'soon' is not a duration"),
        (_fault(duration=0), r"faults\[0\]\.duration: a fault must be held"),
        (_fault(repetitions=0), r"faults\[0\]\.repetitions"),
        (_fault(colour="red"), r"faults\[0\]: unknown field\(s\) \['colour'\]"),
        (_fault(parameters={"latency": 100}), r"faults\[0\] \(f\)\.parameters\.latency: expected a duration"),
        (_fault(parameters={}), r"parameters: NetworkChaos/delay needs \['latency'\]"),
        (_fault(kind="DNSChaos"), r"\.kind: 'DNSChaos' is not supported"),
        (_fault(action="jam"), r"\.action: NetworkChaos has no action 'jam'"),
        ({"name": "f", "kind": "PodChaos", "action": "pod-kill"}, r"faults\[0\]\.target: missing"),
    ],
)
def test_fault_errors_name_the_field(tmp_path, fault, field):
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"faults": [fault]}))
    with pytest.raises(ScenarioError, match=field) as info:
        load_suite(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("faults: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("faults: []\n", "faults must be a non-empty list"),
        (
            "defaults: {namespace: Bad_NS}\nfaults: [{name: a, target: b, kind: PodChaos, action: pod-kill}]\n",
            r"defaults\.namespace: 'Bad_NS' is not a valid",
        ),
        (
            "defaults: {speed: 3}\nfaults: [{name: a, target: b, kind: PodChaos, action: pod-kill}]\n",
            r"defaults: unknown field\(s\) \['speed'\]",
        ),
        (
            "defaults: {jaeger_url: localhost}\nfaults: [{name: a, target: b, kind: PodChaos, action: pod-kill}]\n",
            r"defaults\.jaeger_url: expected an http",
        ),
        (
            "faults: [{name: a, target: b, kind: PodChaos, action: pod-kill}, {name: a, target: c, kind: PodChaos,"
            " action: pod-kill}]\n",
            r"faults\[1\]\.name: 'a' is used twice",
        ),
        ("owner: me\nfaults: []\n", r"unknown top-level field\(s\) \['owner'\]"),
    ],
)
def test_suite_errors(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_suite(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_smoke_suite():
    suite = load_suite("online-boutique-smoke")
    assert 6 <= len(suite.faults) <= 8
    assert {f.kind for f in suite.faults} == {"PodChaos", "NetworkChaos", "StressChaos", "HTTPChaos"}
    assert {(f.kind, f.action) for f in suite.faults} <= SIMULATOR_FAULTS
    assert {f.target for f in suite.faults} <= OB_SERVICES
    assert all(f.warmup >= 300 and f.duration >= 120 and f.cooldown >= 60 for f in suite.faults)


def test_full_suite_covers_every_kind_on_every_service():
    suite = load_suite("online-boutique-full")
    assert {(f.kind, f.action) for f in suite.faults} <= SIMULATOR_FAULTS
    assert all(f.repetitions == 3 for f in suite.faults)
    per_service = {}
    for f in suite.faults:
        per_service.setdefault(f.target, set()).add((f.kind, f.action))
    expected = {
        ("StressChaos", "cpu"),
        ("StressChaos", "memory"),
        ("NetworkChaos", "delay"),
        ("NetworkChaos", "loss"),
        ("PodChaos", "pod-failure"),
        ("PodChaos", "pod-kill"),
        ("PodChaos", "container-kill"),
    }
    assert set(per_service) == OB_SERVICES | {"redis-cart"}
    assert all(kinds >= expected for kinds in per_service.values())
    assert ("HTTPChaos", "abort") in per_service["frontend"]
