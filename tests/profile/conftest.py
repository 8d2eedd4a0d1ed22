"""Per-layer profile fixtures: a tiny net whose layers are known, exported once per change."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.runner import build
from tests.bench.conftest import host_runner  # noqa: F401 (fixture)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def known_pte() -> dict[str, Path]:
    """{'fp32': path, 'int8': path}: `known_model.KNOWN`, XNNPACK-delegated."""
    from tests.profile.known_model import export_known

    key = hashlib.sha256(
        (HERE / "known_model.py").read_bytes() + build.executorch_version().encode()
    ).hexdigest()[:16]
    folder = build.build_root() / "test-models" / f"known-{key}"
    out = {}
    for precision in ("fp32", "int8"):
        path = folder / f"known_{precision}.pte"
        if not path.exists():
            export_known(folder / f".known_{precision}.pte.tmp", precision).replace(path)
        out[precision] = path
    return out
