"""The layer contracts of pyproject.toml ([tool.importlinter]), checked by import-linter: they hold
on this tree, and each one breaks when a forbidden import is planted in a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))  # the tree's packages before the installed ones
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("deploy/models/zoo.py", "import deploy.export.recipes", "models import nothing from"),
        ("deploy/devices/base.py", "import deploy.models.spec", "devices import nothing from"),
        ("deploy/artifacts/manifest.py", "import torch", "the artifact contract is torch-free"),
        ("deploy/cli.py", "import bench.errors", "deploy imports nothing from bench"),
        ("bench/report/html.py", "import deploy.devices.android", "reports do not import devices"),
        ("bench/targets/host.py", "import bench.session", "targets know nothing of the"),
        ("bench/compare/measurements.py", "import bench.compare.tables", "compare: tables <-"),
    ],
)
def test_a_planted_import_breaks_its_contract(tmp_path, module, planted, contract):
    tree = tmp_path / "tree"
    for package in ("deploy", "bench"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    source = tree / module
    source.write_text(source.read_text() + f"\n{planted}  # planted\n")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
