"""Manifest builders, checked against ChaosMesh's own CRD schemas (../shared/chaos-mesh-crds) when
present, and always against hand-checked literal manifests in data/expected_manifests.yaml."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.manifests import (
    OWNED_SELECTOR,
    PARAMETERS,
    build_manifest,
    fault_type,
    label_value,
    manifest_target,
    object_name,
)
from chaos_scenarios.runner import plan_cases
from chaos_scenarios.suite import builtin_suites, load_suite, parse_suite

SHIPPED_DEMO_CASES = 10

HERE = Path(__file__).parent
REPO = HERE.parents[1]
CRD_DIR = REPO.parent / "shared" / "chaos-mesh-crds"
needs_crds = pytest.mark.skipif(not CRD_DIR.exists(), reason="../shared/chaos-mesh-crds is absent")

# Every parameter each (kind, action) accepts, with a valid value.
FULL_PARAMETERS = {
    ("PodChaos", "pod-kill"): {"gracePeriod": 0},
    ("PodChaos", "pod-failure"): {},
    ("PodChaos", "container-kill"): {"containerNames": ["server"]},
    ("NetworkChaos", "delay"): {"latency": "200ms", "jitter": "20ms", "correlation": "25"},
    ("NetworkChaos", "loss"): {"loss": 30, "correlation": "10"},
    ("NetworkChaos", "duplicate"): {"duplicate": "5", "correlation": 0},
    ("NetworkChaos", "corrupt"): {"corrupt": "2.5", "correlation": "1"},
    ("NetworkChaos", "partition"): {},
    ("NetworkChaos", "bandwidth"): {"rate": "1mbps", "limit": 20971520, "buffer": 10000},
    ("StressChaos", "cpu"): {"workers": 2, "load": 100, "containerNames": ["server"]},
    ("StressChaos", "memory"): {"workers": 1, "size": "512MB", "containerNames": ["server"]},
    ("HTTPChaos", "abort"): {"port": 8080, "path": "/cart*", "method": "POST", "target": "Request"},
    ("HTTPChaos", "delay"): {"port": 8080, "delay": "500ms", "path": "*", "method": "GET", "target": "Response"},
    ("HTTPChaos", "replace"): {
        "port": 8080,
        "code": 503,
        "body": "overloaded",
        "headers": {"X-Chaos": "1"},
        "path": "/",
        "method": "GET",
        "target": "Response",
    },
    ("IOChaos", "latency"): {
        "volumePath": "/data",
        "delay": "100ms",
        "path": "/data/**/*",
        "percent": 50,
        "methods": ["READ", "WRITE"],
        "containerNames": ["redis"],
    },
    ("IOChaos", "fault"): {"volumePath": "/data", "errno": 5, "path": "/data/*", "percent": 100, "methods": ["WRITE"]},
}
MODES = [("one", None), ("all", None), ("fixed", 2), ("fixed-percent", 50)]


def _variants():
    """Minimal (required parameters only) and full variants of every (kind, action), in every mode;
    NetworkChaos also with each direction and with a peer target."""
    faults = []
    for (kind, action), full in FULL_PARAMETERS.items():
        required = {k: full[k] for k in PARAMETERS[(kind, action)][1]}
        if (kind, action) == ("HTTPChaos", "replace"):
            required["code"] = full["code"]
        for mode, value in MODES:
            for label, params in (("min", required), ("full", full)):
                fault = {
                    "name": f"{kind.lower()}-{action}-{label}-{mode}",
                    "target": "cartservice",
                    "kind": kind,
                    "action": action,
                    "parameters": params,
                    "mode": mode,
                }
                if value is not None:
                    fault["value"] = value
                faults.append(fault)
        if kind == "NetworkChaos":
            for direction in ("to", "from", "both"):
                faults.append(
                    {
                        "name": f"net-{action}-{direction}-peer",
                        "target": "cartservice",
                        "kind": kind,
                        "action": action,
                        "parameters": full,
                        "direction": direction,
                        "peer": {"service": "redis-cart", "mode": "fixed-percent", "value": 50},
                    }
                )
    return faults


def _all_manifests():
    suite = parse_suite({"defaults": {"namespace": "shop"}, "faults": _variants()})
    manifests = [m for case in plan_cases(suite, "run-1") for m in case.manifests]
    for name in builtin_suites():
        manifests += [m for case in plan_cases(load_suite(name), "run-2") for m in case.manifests]
    return manifests


@pytest.fixture(scope="module")
def schemas():
    from chaos_scenarios.crds import load_crd_schemas

    return load_crd_schemas(CRD_DIR)


@needs_crds
def test_every_manifest_is_valid_against_chaos_mesh_crds(schemas):
    from chaos_scenarios.crds import validation_errors

    manifests = _all_manifests()
    assert {
        (
            m["kind"],
            m["spec"].get("action")
            or next(iter(m["spec"].get("stressors", {})), None)
            or ("abort" if m["spec"].get("abort") else "delay" if "delay" in m["spec"] else "replace"),
        )
        for m in manifests
    } >= set(PARAMETERS)
    bad = {m["metadata"]["name"]: validation_errors(m, schemas) for m in manifests}
    assert {k: v for k, v in bad.items() if v} == {}
    shipped = {"online-boutique-smoke": 8, "online-boutique-full": 237, "online-boutique-demo": SHIPPED_DEMO_CASES}
    assert builtin_suites() == sorted(shipped)
    assert len(manifests) == 16 * 8 + 6 * 3 + sum(shipped.values())  # variants + network peers + shipped suites


@needs_crds
def test_strict_schema_catches_mistakes(schemas):
    from chaos_scenarios.crds import validation_errors

    good = build_manifest(
        parse_suite(
            {
                "faults": [
                    {
                        "name": "d",
                        "target": "x",
                        "kind": "NetworkChaos",
                        "action": "delay",
                        "parameters": {"latency": "1s"},
                    }
                ]
            }
        ).faults[0],
        name="n",
        run_id="r",
    )
    typo = copy.deepcopy(good)
    typo["spec"]["delay"]["latncy"] = typo["spec"]["delay"].pop("latency")
    errors = validation_errors(typo, schemas)
    assert any("latncy" in e for e in errors) and any("'latency' is a required property" in e for e in errors)
    wrong = copy.deepcopy(good)
    wrong["spec"]["direction"] = "up"
    assert any(e.startswith("spec.direction:") for e in validation_errors(wrong, schemas))
    assert validation_errors({**good, "kind": "FooChaos"}, schemas)[0].startswith("kind: no CRD schema")


def _expected():
    data = yaml.safe_load((HERE / "data" / "expected_manifests.yaml").read_text())
    return data["defaults"], data["cases"]


def test_builders_match_literal_manifests():
    defaults, cases = _expected()
    suite = parse_suite({"defaults": defaults, "faults": [c["fault"] for c in cases]})
    assert len(cases) >= 5
    for fault, case in zip(suite.faults, cases):
        built = build_manifest(fault, name=f"rca-{fault.name}", run_id="run-1", case_id=f"{fault.name}-r1")
        assert built == case["manifest"], fault.name


@needs_crds
def test_literal_manifests_are_valid(schemas):
    from chaos_scenarios.crds import validation_errors

    for case in _expected()[1]:
        assert validation_errors(case["manifest"], schemas) == []


def test_manifest_details():
    suite = parse_suite(
        {
            "defaults": {"namespace": "shop", "duration": 90},
            "faults": [
                {
                    "name": "abort",
                    "target": "frontend",
                    "kind": "HTTPChaos",
                    "action": "replace",
                    "parameters": {"port": 80, "body": "oops"},
                },
                {
                    "name": "mem",
                    "target": "cartservice",
                    "kind": "StressChaos",
                    "action": "memory",
                    "parameters": {"workers": 1, "size": "1GB", "containerNames": ["server"]},
                },
                {
                    "name": "cut",
                    "target": "cartservice",
                    "kind": "NetworkChaos",
                    "action": "partition",
                    "direction": "both",
                    "peer": "redis-cart",
                },
            ],
        }
    )
    http, mem, cut = (build_manifest(f, name=f.name, run_id="Run 7!") for f in suite.faults)
    assert http["spec"]["replace"] == {"body": "b29wcw=="}  # base64 of "oops" (CRD format: byte)
    assert "action" not in http["spec"] and "action" not in mem["spec"]
    assert mem["spec"]["containerNames"] == ["server"] and mem["spec"]["stressors"] == {
        "memory": {"workers": 1, "size": "1GB"}
    }
    assert cut["spec"]["action"] == "partition" and "partition" not in cut["spec"]
    assert cut["spec"]["target"]["selector"]["labelSelectors"] == {"app": "redis-cart"}
    for m in (http, mem, cut):
        assert m["spec"]["duration"] == "90s"
        assert m["spec"]["selector"] == {"namespaces": ["shop"], "labelSelectors": {"app": manifest_target(m)}}
        key, value = OWNED_SELECTOR.split("=")
        assert m["metadata"]["labels"][key] == value
        assert m["metadata"]["labels"]["rca-fluxev/run"] == "Run-7"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"port": 8080}, "needs at least one of code, body, headers"),
        ({"port": 70000, "code": 500}, r"parameters\.port: expected an integer 1\.\.65535"),
        ({"port": 80, "code": 500, "target": "Both"}, r"parameters\.target: expected 'Request' or 'Response'"),
        ({"port": 80, "headers": {"a": 1}}, r"parameters\.headers"),
    ],
)
def test_http_parameter_errors(params, message):
    with pytest.raises(ScenarioError, match=message):
        parse_suite(
            {
                "faults": [
                    {"name": "h", "target": "frontend", "kind": "HTTPChaos", "action": "replace", "parameters": params}
                ]
            }
        )


@pytest.mark.parametrize(
    "kind, action, params, message",
    [
        ("NetworkChaos", "loss", {"loss": "lots"}, r"parameters\.loss: expected a percentage"),
        ("NetworkChaos", "loss", {"loss": 120}, r"parameters\.loss: expected a percentage"),
        ("StressChaos", "cpu", {"workers": 0}, r"parameters\.workers: expected an integer 1\.\.8192"),
        ("StressChaos", "cpu", {"workers": 1, "load": 101}, r"parameters\.load"),
        ("PodChaos", "container-kill", {}, r"PodChaos/container-kill needs \['containerNames'\]"),
        ("PodChaos", "container-kill", {"containerNames": "server"}, r"containerNames: expected a non-empty list"),
        ("IOChaos", "fault", {"volumePath": "/d"}, r"IOChaos/fault needs \['errno'\]"),
        ("PodChaos", "pod-failure", {"gracePeriod": 3}, r"unknown parameter\(s\) \['gracePeriod'\]"),
    ],
)
def test_parameter_errors(kind, action, params, message):
    with pytest.raises(ScenarioError, match=message):
        parse_suite({"faults": [{"name": "x", "target": "svc", "kind": kind, "action": action, "parameters": params}]})


def test_fault_types():
    assert [
        fault_type(k, a)
        for k, a in [
            ("NetworkChaos", "delay"),
            ("StressChaos", "cpu"),
            ("PodChaos", "pod-failure"),
            ("HTTPChaos", "abort"),
            ("IOChaos", "latency"),
        ]
    ] == ["network-delay", "stress-cpu", "pod-failure", "http-abort", "io-latency"]


@given(st.text(max_size=200))
def test_label_values_and_names_are_valid(text):
    value = label_value(text)
    assert len(value) <= 63 and re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", value)
    name = object_name(text)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name)
