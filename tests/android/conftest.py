"""bench-android fixtures: simulated phones (real adb-shell client, real runner, real SQLite).

The tiny .pte models and the runner builds come from tests/bench (cached under build/runner).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord
from bench.targets.android import Options
from bench.targets.base import Artifact
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


@dataclass(frozen=True)
class RunOptions:
    """What a bench-android run takes: the session's part and the phone target's options."""

    phone: Options = field(default_factory=Options)
    config: RunnerConfig = FAST
    force: bool = False
    mode: str = "shell"


def tweak(run: RunOptions, **changes: object) -> RunOptions:
    """`run` with `changes`, each applied where it belongs (the session's or the phone's)."""
    own = {k: v for k, v in changes.items() if k in ("config", "force", "mode")}
    phone = {k: v for k, v in changes.items() if k not in own}
    return dataclasses.replace(run, phone=dataclasses.replace(run.phone, **phone), **own)  # type: ignore[arg-type]


@pytest.fixture
def options(device_options: dict[str, object]) -> RunOptions:
    phone = Options(cool_to_c=60.0, cool_max_wait_s=1.0, device_options=device_options)
    return RunOptions(phone)


def artifact(path: Path, model: str, recipe: str, precision: str) -> Artifact:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Artifact(ArtifactRecord(sha, model, recipe, precision=precision), path)


@pytest.fixture
def tiny_artifacts(tiny_pte: dict[str, Path]) -> list[Artifact]:  # noqa: F811
    """The tiny fp32 and int8 nets, labelled as MobileNetV2 so the paper's columns fill in."""
    return [
        artifact(tiny_pte["fp32"], "mobilenet_v2_1.0_224", "tiny_fp32", "fp32"),
        artifact(tiny_pte["int8"], "mobilenet_v2_1.0_224", "tiny_int8", "int8"),
    ]
