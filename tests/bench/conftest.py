"""Shared fixtures: the host runner, the arm64 bundle and tiny .pte files, all cached under
build/runner so a rerun costs nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.runner import build
from tests.conftest import require_command

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def host_runner() -> Path:
    require_command("g++")
    return build.build_host()


@pytest.fixture(scope="session")
def arm64_bundle() -> build.Bundle:
    require_command("aarch64-linux-gnu-g++")
    require_command("readelf")
    return build.build_arm64_bundle()


@pytest.fixture(scope="session")
def tiny_pte() -> dict[str, Path]:
    """{'fp32': path, 'int8': path}: the tiny conv net, exported once per source change."""
    from tests.bench.tiny_models import export_tiny

    key = hashlib.sha256(
        (HERE / "tiny_models.py").read_bytes() + build.executorch_version().encode()
    ).hexdigest()[:16]
    folder = build.build_root() / "test-models" / key
    out = {}
    for precision in ("fp32", "int8"):
        path = folder / f"tiny_{precision}.pte"
        if not path.exists():
            tmp = export_tiny(folder / f".tiny_{precision}.pte.tmp", precision)
            tmp.replace(path)
        out[precision] = path
    return out
