"""The built wheel works on its own: installed into a fresh venv outside the clone, `rca demo` and
`rca lab up --dry-run` find their package data (suites, lab files) and run.

The wheel is built offline from a copy of the source tree (``--no-build-isolation``, with the
setuptools of the test environment) and installed without dependencies; the fresh venv reaches the
already installed dependencies through a ``.pth`` line, which adds that folder to ``sys.path``
without running its own ``.pth`` files, so the editable install of the clone stays invisible.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*cache*", "tests"
)

TINY_SUITE = textwrap.dedent("""\
    name: tiny
    defaults: {namespace: online-boutique, warmup: 5m, duration: 3m, cooldown: 1m, mode: all}
    faults:
      - {name: cart-cpu, target: cartservice, kind: StressChaos, action: cpu, parameters: {workers: 2, load: 100}}
      - {name: payment-kill, target: paymentservice, kind: PodChaos, action: pod-kill, parameters: {gracePeriod: 0}}
""")


def _run(args, cwd, **kwargs):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORE)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
        ],
        cwd=root,
    )
    wheel = next((root / "dist").glob("rca_fluxev-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], cwd=root)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)
    (Path(purelib.stdout.strip()) / "outer_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = root / "elsewhere"
    work.mkdir()
    return wheel, venv, work


def test_the_wheel_carries_the_package_data(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "chaos_scenarios/suites/online-boutique-demo.yaml" in names
    assert "deploy/lab.sh" in names and "deploy/jaeger/kustomization.yaml" in names
    assert not any(name.startswith("tests/") or "jaeger_double" in name for name in names)
    assert any(name.endswith("/LICENSE") for name in names)


def test_installed_package_runs_outside_the_clone(installed):
    _, venv, work = installed
    rca = str(venv / "bin" / "rca")
    where = _run([str(venv / "bin" / "python"), "-c", "import rca, chaos_scenarios; print(rca.__file__)"], cwd=work)
    assert str(venv) in where.stdout and str(REPO) not in where.stdout
    checked = _run([rca, "suite", "check", "online-boutique-demo"], cwd=work)
    assert "suite online-boutique-demo: 10 fault(s)" in checked.stdout
    (work / "tiny.yaml").write_text(TINY_SUITE)
    demo = _run([rca, "demo", "--suite", "tiny.yaml", "--out", "runs/demo"], cwd=work)
    assert "explain-upstream *" in demo.stdout and (work / "runs/demo/report/report.html").is_file()
    lab = _run([rca, "lab", "up", "--dry-run"], cwd=work)
    assert "minikube" in lab.stdout
