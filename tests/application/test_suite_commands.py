"""`rca suite ...` commands."""

import pytest
import yaml

from application.cli import main

SMOKE = "online-boutique-smoke"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def test_dry_run_prints_manifests_and_contacts_nothing(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    import chaos_scenarios.k8s as k8s

    monkeypatch.setattr(k8s, "KubernetesBackend", None)  # any use would fail
    assert main(["suite", "run", SMOKE, "--backend", "k8s", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("---\n") and out.count("\n---\n") == 7
    docs = list(yaml.safe_load_all(out))
    assert len(docs) == 8 and all(d["apiVersion"] == "chaos-mesh.org/v1alpha1" for d in docs)
    assert {d["kind"] for d in docs} == {"NetworkChaos", "StressChaos", "PodChaos", "HTTPChaos"}
    assert "nothing was created" in err
    assert not list(tmp_path.iterdir())


def test_run_needs_out(capsys):
    assert main(["suite", "run", SMOKE, "--backend", "k8s"]) == 1
    assert "--out DIR is required" in capsys.readouterr().err


def test_suite_check(capsys):
    assert main(["suite", "check", SMOKE]) == 0
    out = capsys.readouterr().out
    assert "001-productcatalog-delay-r1\tNetworkChaos/delay\tonline-boutique/productcatalogservice" in out
    assert out.strip().endswith("8 case(s), 8 manifest(s)")


def test_bad_suite_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults: [{name: a, target: b, kind: PodChaos, action: explode}]\n")
    assert main(["suite", "run", str(bad), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "PodChaos has no action 'explode'" in err
