"""``rca lab up|status|down``: runs the ``deploy`` package's ``lab.sh``, which prints every command
before running it."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from chaos_scenarios.errors import ScenarioError

ACTIONS = ("up", "status", "down")


def deploy_dir() -> Path:
    """``$RCA_DEPLOY_DIR``, else the installed ``deploy`` package's folder (package data)."""
    override = os.environ.get("RCA_DEPLOY_DIR")
    path = Path(override) if override else Path(str(resources.files("deploy")))
    if not (path / "lab.sh").is_file():
        where = "RCA_DEPLOY_DIR" if override else "the installed deploy package"
        raise ScenarioError(
            f"{path}: no lab.sh in {where}; reinstall rca-fluxev or point RCA_DEPLOY_DIR at a "
            "folder with lab.sh and the kustomize overlays"
        )
    return path


def lab_command(action: str, *, dry_run: bool = False) -> list[str]:
    if action not in ACTIONS:
        raise ScenarioError(f"lab: unknown action {action!r}; use one of {list(ACTIONS)}")
    bash = shutil.which("bash")
    if bash is None:
        raise ScenarioError("lab: bash is required")
    return [bash, str(deploy_dir() / "lab.sh"), action] + (["--dry-run"] if dry_run else [])


def run_lab(action: str, *, dry_run: bool = False) -> int:
    """Run the lab script (its output goes straight to the terminal); returns its exit code."""
    return subprocess.run(lab_command(action, dry_run=dry_run), check=False).returncode
