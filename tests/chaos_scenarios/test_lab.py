"""deploy/: the lab script and the kustomize overlays, checked offline.

The Online-Boutique overlay pulls the released manifest from GitHub, so (vendoring nothing) the
tests render its tracing component against a small local placeholder base instead."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaos_scenarios.lab import lab_command

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
TRACED = {
    "frontend",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
}
UNTRACED = {"cartservice", "shippingservice", "adservice"}


def _deployment(name, container="server", env=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": container, "image": "placeholder", "env": env or [{"name": "PORT", "value": "8080"}]}
                    ]
                },
            },
        },
    }


def _kustomize(path):
    done = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_lab_script_syntax():
    assert subprocess.run(["bash", "-n", str(DEPLOY / "lab.sh")]).returncode == 0


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_lab_script_shellcheck():
    done = subprocess.run(["shellcheck", str(DEPLOY / "lab.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _dry_run(action):
    done = subprocess.run(
        lab_command(action, dry_run=True), capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 0, done.stderr
    return [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]


def test_lab_up_dry_run_prints_every_command():
    commands = _dry_run("up")
    assert commands[0].startswith(
        "minikube start --profile rca-lab --cpus 6 --memory 12g --container-runtime containerd"
    )
    helm = next(c for c in commands if c.startswith("helm upgrade --install chaos-mesh"))
    assert "--set chaosDaemon.runtime=containerd" in helm
    assert "--set chaosDaemon.socketPath=/run/containerd/containerd.sock" in helm
    assert any(c.endswith(f"apply -k {DEPLOY}/jaeger") for c in commands)
    assert any(c.endswith(f"apply -k {DEPLOY}/online-boutique") for c in commands)


def test_lab_status_and_down_dry_run():
    assert _dry_run("down") == ["minikube delete --profile rca-lab"]
    assert any("get crd podchaos.chaos-mesh.org" in c for c in _dry_run("status"))


def test_lab_cli_rejects_unknown_action():
    from chaos_scenarios.errors import ScenarioError

    with pytest.raises(ScenarioError, match="unknown action"):
        lab_command("sideways")


@needs_kubectl
def test_jaeger_renders_with_otlp():
    docs = _kustomize(DEPLOY / "jaeger")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "COLLECTOR_OTLP_ENABLED", "value": "true"} in container["env"]
    service = next(d for d in docs if d["kind"] == "Service")
    assert {p["port"] for p in service["spec"]["ports"]} == {16686, 4317, 4318}
    assert service["metadata"]["namespace"] == "observability"


@needs_kubectl
def test_tracing_component_on_a_placeholder_base(tmp_path):
    shutil.copytree(DEPLOY / "online-boutique" / "tracing", tmp_path / "tracing")
    base = [_deployment(name) for name in sorted(TRACED | UNTRACED)]
    base.append(_deployment("loadgenerator", "main", [{"name": "USERS", "value": "5"}]))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump_all(base))
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": "online-boutique", "resources": ["base.yaml"], "components": ["tracing"]})
    )
    rendered = {d["metadata"]["name"]: d for d in _kustomize(tmp_path)}
    jaeger_otlp = "jaeger.observability.svc.cluster.local:4317"
    for name in TRACED | UNTRACED:
        env = {e["name"]: e["value"] for e in rendered[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PORT"] == "8080"
        if name in TRACED:
            assert env["ENABLE_TRACING"] == "1" and env["COLLECTOR_SERVICE_ADDR"] == jaeger_otlp
        else:
            assert "ENABLE_TRACING" not in env
    load = rendered["loadgenerator"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "USERS", "value": "10"} in load


def test_online_boutique_overlay_points_at_a_release():
    overlay = yaml.safe_load((DEPLOY / "online-boutique" / "kustomization.yaml").read_text())
    assert overlay["namespace"] == "online-boutique" and overlay["components"] == ["tracing"]
    remote = [r for r in overlay["resources"] if r.startswith("https://")]
    assert len(remote) == 1 and "/release/kubernetes-manifests.yaml" in remote[0] and "/v0." in remote[0]
