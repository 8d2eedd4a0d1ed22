"""The host runner for the accuracy tests; the digits model and its artifacts are the session
fixture `digits` of tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def host_runner() -> Path:
    """The host bench_runner (built once, cached under build/runner) for bench-host."""
    from bench.runner import build
    from tests.conftest import require_command

    require_command("g++")
    return build.build_host()
