"""The iOS harness is handed the artifact's manifest preprocessing, never a constant: on an
iPhone as MNB_PREPROCESSING, on the Mac as --preprocessing; its echo is checked. The Swift
figures of the synthetic input are checked against the Python port (Swift cannot run here)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord
from bench.targets import ios
from bench.targets.base import Artifact
from deploy.artifacts.preprocessing import Preprocessing, imagenet
from deploy.export.coreml_artifact import tree_sha256
from tests.android_app.synthetic import preprocessed_noise
from tests.export.helpers import make_entry
from tests.ios.test_ios import FakeXcode, fake_target, harness_result, mlpackage  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
DIGITS = Preprocessing(
    "digits", 64, 64, (0.305496, 0.305496, 0.305496), (0.324677, 0.324677, 0.324677), "LLL"
)


class EchoingXcode(FakeXcode):
    """FakeXcode whose harness echoes the preprocessing it was given, as Benchmark.swift does
    (`echo=False`: a harness that ignores it)."""

    def __init__(self, sha: str, echo: bool = True) -> None:
        super().__init__(sha)
        self.echo = echo

    def __call__(self, command, *, cwd, env, capture_output, text, timeout):  # type: ignore[no-untyped-def]
        done = super().__call__(
            command, cwd=cwd, env=env, capture_output=capture_output, text=text, timeout=timeout
        )
        given = env.get("TEST_RUNNER_MNB_PREPROCESSING")
        if command[0] == "swift" and "--preprocessing" in command:
            given = command[command.index("--preprocessing") + 1]
        if not self.echo or given is None or command[0] not in ("swift", "xcodebuild"):
            return done
        lines = []
        for line in done.stdout.splitlines():
            at = line.find("{")
            if at >= 0 and '"schema_version"' in line:
                result = json.loads(line[at:])
                result["config"]["preprocessing"] = json.loads(given)
                line = line[:at] + json.dumps(result)
            lines.append(line)
        done.stdout = "\n".join(lines) + "\n"
        return done


def manifest_artifact(package: Path, preprocessing: Preprocessing) -> Artifact:
    """A Core ML artifact as bench-ios selects it: its record made from its manifest entry."""
    entry = make_entry(
        package.parent,
        "unused.bin",
        b"x",
        recipe={"name": "coreml-int8", "precision": "int8", "format": ".mlpackage"},
        input_shape=[1, 3, preprocessing.crop, preprocessing.crop],
        preprocessing=preprocessing.to_dict(),
    )
    record = ArtifactRecord.from_manifest_entry(entry)
    return Artifact(dataclasses.replace(record, sha256=tree_sha256(package)), package)


@pytest.mark.parametrize("preprocessing", [DIGITS, imagenet(160)], ids=["digits", "imagenet"])
def test_the_iphone_harness_is_given_the_manifest_preprocessing(
    tmp_path: Path,
    mlpackage: Path,  # noqa: F811
    preprocessing: Preprocessing,
) -> None:
    artifact = manifest_artifact(mlpackage, preprocessing)
    xcode = EchoingXcode(artifact.record.sha256)
    target = fake_target(xcode, tmp_path / "w", compute_units=["cpuOnly"], team="T")
    (outcome,) = run_session(
        [target], [artifact], RunnerConfig(warmup=2, iterations=3), tmp_path / "s.sqlite"
    )
    assert [row.status for row in outcome.rows] == ["ok"], outcome.rows
    (test_env,) = [env for action, env in xcode.xcodebuild() if action == "test-without-building"]
    sent = json.loads(test_env["TEST_RUNNER_MNB_PREPROCESSING"])
    assert Preprocessing.from_dict(sent) == preprocessing


def test_the_mac_harness_is_given_the_manifest_preprocessing(
    tmp_path: Path,
    mlpackage: Path,  # noqa: F811
) -> None:
    artifact = manifest_artifact(mlpackage, DIGITS)
    xcode = EchoingXcode(artifact.record.sha256)
    target = fake_target(xcode, tmp_path / "w", device="mac", compute_units=["cpuOnly"])
    (outcome,) = run_session(
        [target], [artifact], RunnerConfig(warmup=2, iterations=3), tmp_path / "s.sqlite"
    )
    assert [row.status for row in outcome.rows] == ["ok"], outcome.rows
    (swift,) = [c for c, _ in xcode.calls if c[0] == "swift"]
    sent = swift[swift.index("--preprocessing") + 1]
    assert Preprocessing.from_dict(json.loads(sent)) == DIGITS and sent == DIGITS.to_json()


def test_a_harness_that_ignores_the_preprocessing_fails_the_run(
    tmp_path: Path,
    mlpackage: Path,  # noqa: F811
) -> None:
    artifact = manifest_artifact(mlpackage, DIGITS)
    target = fake_target(
        EchoingXcode(artifact.record.sha256, echo=False), tmp_path / "w", compute_units=["cpuOnly"]
    )
    (outcome,) = run_session(
        [target], [artifact], RunnerConfig(warmup=2, iterations=3), tmp_path / "s.sqlite"
    )
    (row,) = outcome.rows
    assert row.status == "failed" and "digits preprocessing" in (row.error or "")


def test_an_unlisted_model_gets_the_raw_stream(tmp_path: Path) -> None:
    assert "TEST_RUNNER_MNB_PREPROCESSING" not in ios.test_environment(["cpuOnly"], 1, 1, 0)
    command = ios.mac_command(tmp_path, tmp_path / "m.mlpackage", "cpuOnly", 1, 1, 0)
    assert "--preprocessing" not in command
    unlisted = Artifact(ArtifactRecord("a" * 64, "unlisted:m", "unlisted"), tmp_path)
    assert unlisted.record.preprocessing is None


def test_swift_preprocessed_noise_figures_match_the_python_port() -> None:
    tests = (ROOT / "ios_harness/Tests/MobileNetBenchTests/DeviceBenchmarkTests.swift").read_text()
    body = tests[tests.index("func testPreprocessedNoiseFollowsTheRecipe") :]
    figures = [float(x) for x in re.findall(r"-?\d\.\d{8,}", body)]
    rgb = preprocessed_noise((1, 3, 2, 2), 0, imagenet(2)).reshape(-1)[:5]
    grey = preprocessed_noise((1, 3, 2, 2), 0, DIGITS).reshape(-1)[:4]
    assert figures == pytest.approx([*rgb.tolist(), *grey.tolist()], abs=1e-7)
    sources = "\n".join(p.read_text() for p in (ROOT / "ios_harness").rglob("*.swift"))
    assert '"MNB_PREPROCESSING"' in sources and '"--preprocessing"' in sources
    assert 'cfg["preprocessing"]' in sources and "preprocessedNoise(" in sources
