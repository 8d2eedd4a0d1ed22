"""bench-android fixtures: simulated phones (real adb-shell client, real runner, real SQLite).

The tiny .pte models and the runner builds come from tests/bench (cached under build/runner).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.android.session import Options
from bench.host import HostArtifact
from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord
from tests.bench.conftest import arm64_bundle, host_runner, tiny_pte  # noqa: F401 (fixtures)
from tests.devices.conftest import _private_adb_env, adb_key, start_phone  # noqa: F401 (fixtures)

#: Fast runs: a few iterations, no time minimum, no precision target.
FAST = RunnerConfig(warmup=1, iterations=5, min_time_s=0.0, max_time_s=0.0)


@pytest.fixture
def device_options(adb_key: Path) -> dict[str, object]:  # noqa: F811 (the fixture)
    """AndroidDevice options: the session key, short timeouts, no prompts on stderr."""
    return {
        "key_path": adb_key,
        "connect_timeout_s": 3.0,
        "auth_timeout_s": 3.0,
        "io_timeout_s": 5.0,
        "notify": lambda _message: None,
    }


@pytest.fixture
def options(device_options: dict[str, object]) -> Options:
    return Options(config=FAST, cool_to_c=60.0, cool_max_wait_s=1.0, device_options=device_options)


def artifact(path: Path, model: str, recipe: str, precision: str) -> HostArtifact:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return HostArtifact(ArtifactRecord(sha, model, recipe, precision=precision), path)


@pytest.fixture
def tiny_artifacts(tiny_pte: dict[str, Path]) -> list[HostArtifact]:  # noqa: F811
    """The tiny fp32 and int8 nets, labelled as MobileNetV2 so the paper's columns fill in."""
    return [
        artifact(tiny_pte["fp32"], "mobilenet_v2_1.0_224", "tiny_fp32", "fp32"),
        artifact(tiny_pte["int8"], "mobilenet_v2_1.0_224", "tiny_int8", "int8"),
    ]
