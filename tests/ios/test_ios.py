"""The Python side of the iOS harness: platform check, commands, device list and result parsing,
the target measured and stored by the session (Xcode faked); plus cross-checks that keep the
Swift/Kotlin sources and the Python side in step."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from bench.errors import IOSHarnessError, ResultSchemaError
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets import ios
from bench.targets.base import Artifact
from deploy.export.coreml_artifact import artifact_sha256, artifact_size, tree_sha256

ROOT = Path(__file__).resolve().parents[2]
SHA = "c" * 64


def harness_result(units: str = "cpuOnly", sha: str = SHA, **changes: object) -> dict:
    """A result shaped exactly like BenchmarkResult.jsonObject() in Benchmark.swift."""
    result = {
        "schema_version": 1,
        "runner": {
            "name": "ios_harness",
            "version": "0.1.0",
            "executorch_version": "coreml/iOS 17.4.1",
            "runtime": "coreml",
        },
        "artifact": {"sha256": sha, "path": "model.mlpackage"},
        "config": {
            "threads": 1,
            "threads_controlled": False,
            "cpu_mask": "n/a",
            "compute_units": units,
            "warmup": 2,
            "iterations": 3,
            "input": "seed:0",
            "input_name": "input",
            "input_shape": [1, 3, 224, 224],
            "input_dtype": "float32",
            "compile_ms": 180.5,
        },
        "load_ms": 35.2,
        "first_inference_ms": 8.1,
        "warmup_ms": [2.0, 1.9],
        "samples_ms": [1.8, 1.7, 1.9],
        "output": {
            "name": "logits",
            "checksum": -0.5,
            "abs_sum": 80.0,
            "top1": 3,
            "top1_value": 4.5,
            "dtype": "float16",
            "shape": [1, 1000],
            "numel": 1000,
        },
        "device": {"model": "iPhone15,2", "os": "iOS", "os_version": "17.4.1"},
        "emulated": False,
    }
    result.update(changes)
    return result


DEVICECTL = {
    "info": {"outcome": "success"},
    "result": {
        "devices": [
            {
                "identifier": "6D1E...",
                "deviceProperties": {"name": "Ada's iPhone", "osVersionNumber": "17.4.1"},
                "hardwareProperties": {
                    "udid": "00008120-001A2B3C4D5E6F70",
                    "productType": "iPhone15,2",
                    "marketingName": "iPhone 14 Pro",
                    "platform": "iOS",
                },
                "connectionProperties": {"pairingState": "paired", "tunnelState": "connected"},
            },
            {
                "identifier": "W1",
                "deviceProperties": {"name": "Watch", "osVersionNumber": "10.4"},
                "hardwareProperties": {"udid": "W1", "platform": "watchOS"},
                "connectionProperties": {"pairingState": "paired"},
            },
            {
                "identifier": "X2",
                "deviceProperties": {"name": "Old iPad", "osVersionNumber": "16.7"},
                "hardwareProperties": {"udid": "X2", "productType": "iPad8,1", "platform": "iOS"},
                "connectionProperties": {"pairingState": "unpaired"},
            },
        ]
    },
}


# -- platform -------------------------------------------------------------------------------


def test_off_macos_is_one_line_naming_macos_and_xcode() -> None:
    with pytest.raises(IOSHarnessError) as info:
        ios.require_xcode(platform="linux")
    message = str(info.value)
    assert "macOS with Xcode" in message and "linux" in message and "\n" not in message


def test_macos_without_xcode_names_the_fix() -> None:
    with pytest.raises(IOSHarnessError, match="xcode-select"):
        ios.require_xcode(platform="darwin", which=lambda tool: None)
    ios.require_xcode(platform="darwin", which=lambda tool: f"/usr/bin/{tool}")


@pytest.mark.skipif(ios.sys.platform == "darwin", reason="checks the off-macOS path")
def test_cli_off_macos_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    assert main(["bench-ios", "--artifact", "whatever.mlpackage"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bench-ios needs macOS with Xcode") and "\n" not in err


# -- devices --------------------------------------------------------------------------------


def test_devicectl_list_is_parsed_to_phones() -> None:
    devices = ios.parse_devices(json.dumps(DEVICECTL))
    assert [d.name for d in devices] == ["Ada's iPhone", "Old iPad"]
    phone = devices[0]
    assert (phone.udid, phone.model, phone.os_version, phone.paired, phone.connected) == (
        "00008120-001A2B3C4D5E6F70",
        "iPhone15,2",
        "17.4.1",
        True,
        True,
    )
    record = phone.record()
    assert (record.id, record.kind, record.os) == (
        "ios:00008120-001A2B3C4D5E6F70",
        "phone",
        "iOS 17.4.1",
    )
    assert ios.list_devices_command(Path("/tmp/d.json")) == [
        "xcrun",
        "devicectl",
        "list",
        "devices",
        "--json-output",
        "/tmp/d.json",
    ]


def test_device_choice() -> None:
    devices = ios.parse_devices(json.dumps(DEVICECTL))
    assert ios.choose_device(devices).name == "Ada's iPhone"
    assert ios.choose_device(devices, "00008120-001a2b3c4d5e6f70").model == "iPhone15,2"
    with pytest.raises(IOSHarnessError, match="not paired"):
        ios.choose_device(devices, "X2")
    with pytest.raises(IOSHarnessError, match="no iOS device nope"):
        ios.choose_device(devices, "nope")
    with pytest.raises(IOSHarnessError, match="no paired iPhone"):
        ios.choose_device([])
    twice = [devices[0], ios.IOSDevice("U2", "Other", "iPhone16,1", "", "17.5", "iOS", True, True)]
    with pytest.raises(IOSHarnessError, match="--device"):
        ios.choose_device(twice)


def test_garbage_device_list_is_one_line() -> None:
    with pytest.raises(IOSHarnessError, match="update Xcode"):
        ios.parse_devices("not json")


# -- commands -------------------------------------------------------------------------------


@pytest.fixture
def mlpackage(tmp_path: Path) -> Path:
    package = tmp_path / "m.mlpackage"
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec")
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(b"\0" * 64)
    return package


def test_stage_package_copies_harness_and_model(tmp_path: Path, mlpackage: Path) -> None:
    staged = ios.stage_package(mlpackage, tmp_path / "work")
    assert (staged / "Package.swift").exists()
    model = staged / ios.RESOURCES / "model.mlpackage"
    assert tree_sha256(model) == tree_sha256(mlpackage)
    assert not (ROOT / "ios_harness" / ios.RESOURCES / "model.mlpackage").exists()
    with pytest.raises(IOSHarnessError, match="not a Core ML model"):
        ios.stage_package(tmp_path / "m.pte", tmp_path / "work")


def test_xcodebuild_commands() -> None:
    build = ios.build_command(Path("/w/ios_harness"), "UDID1", Path("/w/dd"), "TEAM123")
    assert build == [
        "xcodebuild",
        "build-for-testing",
        "-scheme",
        "MobileNetBench-Package",
        "-destination",
        "platform=iOS,id=UDID1",
        "-derivedDataPath",
        "/w/dd",
        "-allowProvisioningUpdates",
        "DEVELOPMENT_TEAM=TEAM123",
    ]
    test = ios.test_command(Path("/w/ios_harness"), "UDID1", Path("/w/dd"), Path("/w/r.xcresult"))
    assert test[:2] == ["xcodebuild", "test-without-building"]
    assert "-only-testing:MobileNetBenchTests/DeviceBenchmarkTests/testBenchmark" in test
    assert test[test.index("-resultBundlePath") + 1] == "/w/r.xcresult"
    env = ios.test_environment(["cpuOnly", "all"], 5, 50, 0)
    assert env == {
        "TEST_RUNNER_MNB_COMPUTE_UNITS": "cpuOnly,all",
        "TEST_RUNNER_MNB_WARMUP": "5",
        "TEST_RUNNER_MNB_ITERATIONS": "50",
        "TEST_RUNNER_MNB_SEED": "0",
    }
    mac = ios.mac_command(Path("/h"), Path("/a/m.mlpackage"), "cpuAndNeuralEngine", 1, 10, 3)
    assert mac[:7] == ["swift", "run", "-c", "release", "--package-path", "/h", "mobilenet-bench"]
    assert mac[mac.index("--compute-units") + 1] == "cpuAndNeuralEngine"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(IOSHarnessError, match="gpuOnly"):
        ios.test_environment(["gpuOnly"], 5, 50, 0)
    with pytest.raises(IOSHarnessError, match="iterations"):
        ios.test_environment(["cpuOnly"], 5, 0, 0)


def test_swift_sources_agree_with_the_commands() -> None:
    """Names used by bench/targets/ios.py exist in the Swift package (it cannot be built here)."""
    harness = ROOT / "ios_harness"
    test_source = (harness / "Tests/MobileNetBenchTests/DeviceBenchmarkTests.swift").read_text()
    assert 'let resultMarker = "MOBILENET_BENCH_RESULT "' in test_source
    assert "func testBenchmark()" in test_source and "class DeviceBenchmarkTests" in test_source
    for name in ("MNB_COMPUTE_UNITS", "MNB_WARMUP", "MNB_ITERATIONS", "MNB_SEED"):
        assert f'"{name}"' in test_source
    package = (harness / "Package.swift").read_text()
    assert 'name: "MobileNetBench"' in package and '.copy("Resources")' in package
    benchmark = (harness / "Sources/MobileNetBenchKit/Benchmark.swift").read_text()
    for unit in ios.COMPUTE_UNITS:
        assert f"case {unit}" in benchmark
    for key in (
        "schema_version",
        "runner",
        "executorch_version",
        "artifact",
        "sha256",
        "config",
        "threads",
        "cpu_mask",
        "warmup",
        "iterations",
        "load_ms",
        "first_inference_ms",
        "samples_ms",
        "output",
        "checksum",
        "top1",
        "device",
        "emulated",
    ):
        assert f'"{key}"' in benchmark, key
    for source in harness.rglob("*.swift"):
        assert "TODO" not in source.read_text(), source


# -- results --------------------------------------------------------------------------------


def test_harness_output_is_parsed_among_xcodebuild_noise() -> None:
    lines = [
        "Test Suite 'All tests' started at 2025-01-01 10:00:00.000.",
        "Test Case '-[MobileNetBenchTests.DeviceBenchmarkTests testBenchmark]' started.",
        ios.RESULT_MARKER + json.dumps(harness_result("cpuOnly")),
        "2025-01-01 10:00:05.1 xctest[123:456] "
        + ios.RESULT_MARKER
        + json.dumps(harness_result("all")),
        "** TEST EXECUTE SUCCEEDED **",
    ]
    results = ios.parse_harness_output("\n".join(lines))
    assert [r.config["compute_units"] for r in results] == ["cpuOnly", "all"]
    assert results[0].samples_ms == (1.8, 1.7, 1.9)
    assert results[0].executorch_version == "coreml/iOS 17.4.1"


def test_foreign_or_truncated_results_are_refused() -> None:
    other = harness_result(
        runner={"name": "bench_runner", "version": "1", "executorch_version": "1"}
    )
    with pytest.raises(ResultSchemaError, match="ios_harness"):
        ios.parse_harness_output(ios.RESULT_MARKER + json.dumps(other))
    with pytest.raises(ResultSchemaError, match="truncated"):
        ios.parse_harness_output(ios.RESULT_MARKER + json.dumps(harness_result(samples_ms=[1.0])))
    with pytest.raises(ResultSchemaError, match="not JSON"):
        ios.parse_harness_output(ios.RESULT_MARKER + '{"schema_version": 1, "runn')


def test_artifact_identity_is_checked() -> None:
    result = ios.parse_harness_output(ios.RESULT_MARKER + json.dumps(harness_result()))[0]
    assert ios.match_artifact(result, SHA) is result
    with pytest.raises(IOSHarnessError, match="staged artifact"):
        ios.match_artifact(result, "d" * 64)
    compiled = harness_result(artifact={"sha256": "e" * 64, "path": "model.mlmodelc"})
    result = ios.parse_harness_output(ios.RESULT_MARKER + json.dumps(compiled))[0]
    kept = ios.match_artifact(result, SHA)
    assert kept.artifact_sha256 == SHA and kept.raw["artifact"]["measured_sha256"] == "e" * 64


class FakeXcode:
    """Answers devicectl and xcodebuild like a connected iPhone running the XCTest would (and
    sysctl, sw_vers, uname and `swift run` like a Mac)."""

    def __init__(self, sha: str, fail_build: str = "") -> None:
        self.sha = sha
        self.fail_build = fail_build
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, command, *, cwd, env, capture_output, text, timeout):
        self.calls.append((command, env))
        done = subprocess.CompletedProcess
        if command[:2] == ["xcrun", "devicectl"]:
            Path(command[command.index("--json-output") + 1]).write_text(json.dumps(DEVICECTL))
            return done(command, 0, "", "")
        mac = {"sysctl": "Mac15,3\n", "sw_vers": "14.4\n", "uname": "arm64\n"}
        if command[0] in mac:
            return done(command, 0, mac[command[0]], "")
        if command[0] == "swift":
            units = command[command.index("--compute-units") + 1]
            result = harness_result(units, self.sha, device={"model": "Mac15,3", "os": "macOS"})
            return done(command, 0, "Building for production...\n" + json.dumps(result) + "\n", "")
        if command[1] == "build-for-testing":
            if self.fail_build:
                return done(command, 65, "", self.fail_build)
            return done(command, 0, "** TEST BUILD SUCCEEDED **\n", "")
        units = (
            env["MNB_COMPUTE_UNITS"]
            if "MNB_COMPUTE_UNITS" in env
            else env["TEST_RUNNER_MNB_COMPUTE_UNITS"]
        )
        out = "\n".join(
            ios.RESULT_MARKER + json.dumps(harness_result(u, self.sha)) for u in units.split(",")
        )
        return done(command, 0, out + "\n** TEST EXECUTE SUCCEEDED **\n", "")

    def xcodebuild(self) -> list[tuple[str, dict[str, str]]]:
        """(action, environment) of every xcodebuild call."""
        return [(c[1], e) for c, e in self.calls if c[0] == "xcodebuild"]


def fake_target(xcode: FakeXcode, workdir: Path, **kwargs) -> ios.IosTarget:
    """The target as on a Mac with Xcode, every command answered by `xcode`."""
    return ios.IosTarget(
        workdir=workdir,
        runner=xcode,
        platform="darwin",
        which=lambda tool: f"/usr/bin/{tool}",
        **kwargs,
    )


def test_device_run_is_stored_as_phone_runs(tmp_path: Path, mlpackage: Path) -> None:
    sha = tree_sha256(mlpackage)
    artifact = Artifact(
        ArtifactRecord(sha, "mobilenet_v2_1.0_224", "coreml-fp16", format=".mlpackage"), mlpackage
    )
    xcode = FakeXcode(sha)
    target = fake_target(
        xcode, tmp_path / "w", compute_units=["cpuOnly", "cpuAndNeuralEngine"], team="T"
    )
    store_path = tmp_path / "bench.sqlite"
    config = RunnerConfig(warmup=2, iterations=3, seed=0)
    (outcome,) = run_session([target], [artifact], config, store_path)
    # built once, then one XCTest run per compute unit
    assert [action for action, _ in xcode.xcodebuild()] == [
        "build-for-testing",
        "test-without-building",
        "test-without-building",
    ]
    assert [env["TEST_RUNNER_MNB_COMPUTE_UNITS"] for _, env in xcode.xcodebuild()[1:]] == [
        "cpuOnly",
        "cpuAndNeuralEngine",
    ]
    assert (outcome.error, outcome.provenance, outcome.name) == (None, "phone", "Ada's iPhone")
    assert [(r.mask, r.status) for r in outcome.rows] == [
        ("cpuOnly", "ok"),
        ("cpuAndNeuralEngine", "ok"),
    ]
    ids = [r.run_id for r in outcome.rows]
    with Store.open(store_path) as store:
        assert len(ids) == 2 and len(store.runs()) == 2
        run = store.run(ids[1])
        assert (run.provenance, run.device_kind, run.recipe) == ("phone", "phone", "coreml-fp16")
        assert run.device_id == "ios:00008120-001A2B3C4D5E6F70"
        assert run.config_key == "coreml;compute_units=cpuAndNeuralEngine;seed=0;warmup=2"
        assert run.core_mask == "cpuAndNeuralEngine" and run.runner_name == "ios_harness"
        assert store.samples(ids[1]) == [1.8, 1.7, 1.9]
        assert run.latencies_valid


def test_signing_failure_names_the_team_option(tmp_path: Path, mlpackage: Path) -> None:
    artifact = Artifact(ArtifactRecord(tree_sha256(mlpackage), "m", "coreml-fp16"), mlpackage)
    xcode = FakeXcode(
        "",
        fail_build='error: Signing for "MobileNetBenchTests" requires a '
        "development team.\n** TEST BUILD FAILED **",
    )
    target = fake_target(xcode, tmp_path / "w", compute_units=["cpuOnly"])
    config = RunnerConfig(warmup=1, iterations=3, seed=0)
    (outcome,) = run_session([target], [artifact], config, tmp_path / "bench.sqlite")
    (row,) = outcome.rows
    assert row.status == "failed" and "--team" in row.error
    assert "\n" not in row.error
    assert [action for action, _ in xcode.xcodebuild()] == ["build-for-testing"]  # no test run
    with Store.open(tmp_path / "bench.sqlite") as store:
        (run,) = store.runs()
        assert run.status == "failed" and "--team" in (run.error or "")
        assert (run.runner_name, run.runner_version) == ("ios_harness", "0.1.0")


def test_mac_runs_are_host_runs_one_process_per_compute_unit(
    tmp_path: Path, mlpackage: Path
) -> None:
    sha = tree_sha256(mlpackage)
    artifact = Artifact(ArtifactRecord(sha, "m", "coreml-fp16", format=".mlpackage"), mlpackage)
    xcode = FakeXcode(sha)
    target = fake_target(xcode, tmp_path / "w", device="mac", compute_units=["cpuOnly", "all"])
    config = RunnerConfig(warmup=2, iterations=3, seed=0)
    (outcome,) = run_session([target], [artifact], config, tmp_path / "s.sqlite", rounds=2)
    assert outcome.error is None and outcome.provenance == "host"
    swift = [c for c, _ in xcode.calls if c[0] == "swift"]
    units = [c[c.index("--compute-units") + 1] for c in swift]
    assert units == ["cpuOnly", "all", "cpuOnly", "all"]  # rounds interleaved
    with Store.open(tmp_path / "s.sqlite") as store:
        runs = store.runs()
        assert {(r.provenance, r.device_id, r.device_kind) for r in runs} == {
            ("host", "host:mac:Mac15,3", "host")
        }
        assert [r.round for r in runs] == [0, 0, 1, 1]


def test_a_result_for_other_compute_units_is_a_failed_run(tmp_path: Path, mlpackage: Path) -> None:
    sha = tree_sha256(mlpackage)
    artifact = Artifact(ArtifactRecord(sha, "m", "coreml-fp16"), mlpackage)

    class WrongUnits(FakeXcode):
        def __call__(self, command, **kwargs):
            if command[0] == "xcodebuild" and command[1] == "test-without-building":
                kwargs["env"] = {"TEST_RUNNER_MNB_COMPUTE_UNITS": "all"}
            return super().__call__(command, **kwargs)

    target = fake_target(WrongUnits(sha), tmp_path / "w", compute_units=["cpuOnly"])
    config = RunnerConfig(warmup=2, iterations=3)
    (outcome,) = run_session([target], [artifact], config, tmp_path / "s.sqlite")
    (row,) = outcome.rows
    assert row.status == "failed" and "cpuOnly" in row.error and "'all'" in row.error


def test_target_off_macos_fails_in_one_line(tmp_path: Path, mlpackage: Path) -> None:
    artifact = Artifact(ArtifactRecord(tree_sha256(mlpackage), "m", "coreml-fp16"), mlpackage)
    target = ios.IosTarget(workdir=tmp_path / "w", platform="linux", runner=FakeXcode(""))
    (outcome,) = run_session([target], [artifact], RunnerConfig(), tmp_path / "s.sqlite")
    assert outcome.error and "macOS with Xcode" in outcome.error and not outcome.rows


# -- identity and the shared input stream ---------------------------------------------------


def test_tree_digest_follows_its_definition(mlpackage: Path) -> None:
    """The definition Artifact.swift implements: component order, hidden files included."""
    (mlpackage / ".DS_Store").write_bytes(b"finder noise")
    (mlpackage / "Data.extra").write_bytes(b"sorts after Data/ by components, before by bytes")
    ordered = [
        ".DS_Store",
        "Data/com.apple.CoreML/model.mlmodel",
        "Data/com.apple.CoreML/weights/weight.bin",
        "Data.extra",
        "Manifest.json",
    ]
    digest = hashlib.sha256()
    for rel in ordered:
        digest.update(
            f"{rel}\0{hashlib.sha256((mlpackage / rel).read_bytes()).hexdigest()}".encode()
        )
    assert tree_sha256(mlpackage) == digest.hexdigest()
    assert artifact_sha256(mlpackage) == tree_sha256(mlpackage)
    assert artifact_size(mlpackage) == sum((mlpackage / rel).stat().st_size for rel in ordered)
    (mlpackage / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec2")
    assert tree_sha256(mlpackage) != digest.hexdigest()


def splitmix_floats(seed: int, n: int) -> list[float]:
    """A Python port of bench_runner.cpp's make_input for float tensors."""
    mask = (1 << 64) - 1
    state = (seed * 0x9E3779B97F4A7C15 + 0x1234567) & mask
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append(((z >> 40) - (1 << 23)) / (1 << 23))
    return out


def test_swift_and_kotlin_input_figures_match_the_cpp_stream() -> None:
    expected = splitmix_floats(0, 4)
    swift = (ROOT / "ios_harness/Tests/MobileNetBenchTests/DeviceBenchmarkTests.swift").read_text()
    kotlin = (
        ROOT / "android_app/app/src/test/java/org/mobilenetdeploy/bench/BenchCoreTest.kt"
    ).read_text()
    for text in (swift, kotlin):
        numbers = [float(x) for x in re.findall(r"-?0\.\d{6,}", text)]
        assert numbers[:4] == expected
