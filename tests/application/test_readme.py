"""The README's examples run as written: its Python blocks, the detect commands on the shipped
sample series, and a plugin method through `rca --plugin`."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

import rca
from application.cli import main

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)

ONE_FAULT = textwrap.dedent("""\
    name: readme
    defaults: {namespace: online-boutique, warmup: 5m, duration: 3m, cooldown: 1m, mode: all}
    faults:
      - {name: checkout-delay, target: checkoutservice, kind: NetworkChaos, action: delay, direction: to,
         parameters: {latency: 200ms, jitter: 20ms, correlation: "25"}}
""")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out as after `make demo`: examples/series.csv and the demo's checkout-delay case."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "examples", work / "examples")
    (work / "readme.yaml").write_text(ONE_FAULT)
    assert (
        main(
            [
                "suite",
                "run",
                str(work / "readme.yaml"),
                "--backend",
                "sim",
                "--out",
                str(work / "run"),
                "--seed",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    (work / "runs" / "demo" / "cases").mkdir(parents=True)
    shutil.copytree(work / "run" / "001-checkout-delay-r1", work / "runs/demo/cases/002-checkout-delay-r1")
    return work


def test_the_readme_has_its_examples():
    assert len(BLOCKS) == 3
    assert "rca detect examples/series.csv --time-column timestamp --train-len 2016 --period 288" in README


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_block_runs_as_written(workdir, monkeypatch, capsys, index):
    monkeypatch.chdir(workdir)
    try:
        exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "readme"})
    finally:
        rca.METHODS.pop("loudest-callee", None)
    out = capsys.readouterr().out
    if "localize" in BLOCKS[index]:
        assert out.splitlines()[0].startswith("checkoutservice ")


def test_detect_commands_on_the_sample_series(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    for line in re.findall(r"^rca (detect examples/series\.csv[^#\n]*)", README, flags=re.M):
        assert main(line.split()) == 0, line
        assert "alarm(s) in 2016 detected points (2016 training points, 0 filled)" in capsys.readouterr().err
    assert main(["detect", "--list"]) == 0 and "fluxev" in capsys.readouterr().out


def test_plugin_method_of_the_readme(workdir, monkeypatch, capsys):
    plugin = next(b for b in BLOCKS if b.startswith("# my_methods.py"))
    (workdir / "my_methods.py").write_text(plugin)
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    try:
        assert (
            main(
                [
                    "--plugin",
                    "my_methods",
                    "evaluate",
                    "runs/demo/cases",
                    "-m",
                    "loudest-callee",
                    "-m",
                    "explain-upstream",
                    "-q",
                    "--out",
                    "runs/evaluate-readme",
                ]
            )
            == 0
        )
    finally:
        rca.METHODS.pop("loudest-callee", None)
    assert "loudest-callee" in capsys.readouterr().out
    assert (workdir / "runs/evaluate-readme/report.html").is_file()
