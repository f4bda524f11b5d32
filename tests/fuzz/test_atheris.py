"""A bounded atheris (libFuzzer) run over the span readers, seeded with the kept corpus."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HERE = Path(__file__).parent


def test_readers_under_atheris(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus", corpus)
    run = subprocess.run(
        [sys.executable, str(HERE / "atheris_readers.py"), "-runs=300", "-seed=1", "-max_len=4096", "-timeout=30",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    crashes = sorted(p.name for p in tmp_path.glob("crash-*")) + sorted(p.name for p in tmp_path.glob("timeout-*"))
    assert run.returncode == 0 and not crashes, run.stderr[-3000:]
