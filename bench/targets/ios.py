"""Core ML on an iPhone (or this Mac) as a target: `ios_harness/` (Swift) driven by Xcode.

Anywhere but macOS with Xcode, `open` stops with one line saying so (`require_xcode`). Then:

- open: the device, from `xcrun devicectl list devices --json-output <file>` (the one paired
  iPhone, or `device=<udid>`), provenance `phone`, device id `ios:<udid>`; with `device="mac"`
  this Mac (hw.model, its macOS version), provenance `host`;
- variants: one per Core ML compute unit (`cpuOnly`, `cpuAndNeuralEngine`, `all`, ...), named
  in the variant's mask and in its config key (`config_key`);
- prepare: each artifact gets a staged copy of the Swift package with the model at
  `Tests/MobileNetBenchTests/Resources/model.mlpackage`, built once with
  `xcodebuild build-for-testing` (its own DerivedData: the rounds alternate between artifacts);
- measure: one `xcodebuild test-without-building` of the XCTest for one compute unit, the
  settings passed as TEST_RUNNER_MNB_* environment variables (xcodebuild hands them to the test
  runner without the prefix); its `MOBILENET_BENCH_RESULT {json}` line is the RunnerResult. On
  the Mac, the harness's command-line tool (`swift run ... mobilenet-bench`) instead.

The input: the artifact's preprocessing, from its manifest entry, travels as MNB_PREPROCESSING
(or `--preprocessing` on the Mac), one line of JSON; the harness makes its synthetic input
through it and echoes it in the result, which is refused if the echo differs. An unlisted
artifact has none, and the harness feeds the C++ runner's raw [-1, 1) stream.

Every command goes through `runner` (subprocess.run by default), which the tests replace.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import IOSHarnessError, ResultSchemaError, RunnerError
from bench.results import RunnerResult
from bench.runner.run import RunnerConfig
from bench.store import DeviceRecord
from bench.targets.base import Artifact, Measured, Target, Variant
from deploy.artifacts.preprocessing import Preprocessing

ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = ROOT / "ios_harness"
RESULT_MARKER = "MOBILENET_BENCH_RESULT "
HARNESS_RUNNER = "ios_harness"
SCHEME = "MobileNetBench-Package"
TEST_ID = "MobileNetBenchTests/DeviceBenchmarkTests/testBenchmark"
RESOURCES = Path("Tests") / "MobileNetBenchTests" / "Resources"
COMPUTE_UNITS = ("cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine", "all")
DEFAULT_COMPUTE_UNITS = ("cpuOnly", "cpuAndNeuralEngine", "all")
COREML_FORMATS = (".mlpackage", ".mlmodelc", ".mlmodel")
MAC = "mac"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


# -- where we are ---------------------------------------------------------------------------


def require_xcode(
    platform: str = sys.platform, which: Callable[[str], str | None] = shutil.which
) -> None:
    """Raise IOSHarnessError (one line) unless this is macOS with Xcode's command-line tools."""
    if platform != "darwin":
        raise IOSHarnessError(
            f"bench-ios needs macOS with Xcode (xcodebuild, xcrun devicectl); this machine runs "
            f"{platform}: run it on a Mac with the iPhone connected"
        )
    missing = [tool for tool in ("xcrun", "xcodebuild") if which(tool) is None]
    if missing:
        raise IOSHarnessError(
            f"{' and '.join(missing)} not found: install Xcode 15 or newer and select it "
            "(`sudo xcode-select -s /Applications/Xcode.app`)"
        )


# -- devices --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IOSDevice:
    udid: str
    name: str
    model: str  # product type, e.g. iPhone15,2
    marketing_name: str
    os_version: str
    platform: str
    paired: bool
    connected: bool

    @property
    def device_id(self) -> str:
        return f"ios:{self.udid}"

    def record(self) -> DeviceRecord:
        return DeviceRecord(
            id=self.device_id,
            kind="phone",
            name=self.name,
            model=self.model,
            soc="",
            abi="arm64",
            os=f"{self.platform} {self.os_version}".strip(),
            metadata={"marketing_name": self.marketing_name, "udid": self.udid},
        )


def list_devices_command(json_out: Path) -> list[str]:
    return ["xcrun", "devicectl", "list", "devices", "--json-output", str(json_out)]


def parse_devices(text: str) -> list[IOSDevice]:
    """iPhones and iPads in `devicectl list devices --json-output` (result.devices[])."""
    try:
        document = json.loads(text)
        entries = document["result"]["devices"]
    except (ValueError, KeyError, TypeError):
        raise IOSHarnessError(
            "xcrun devicectl printed no device list (result.devices); update Xcode (15+)"
        ) from None
    devices = []
    for entry in entries:
        hardware = entry.get("hardwareProperties") or {}
        props = entry.get("deviceProperties") or {}
        connection = entry.get("connectionProperties") or {}
        platform = str(hardware.get("platform", ""))
        if platform not in ("iOS", "iPadOS"):
            continue
        devices.append(
            IOSDevice(
                udid=str(hardware.get("udid") or entry.get("identifier", "")),
                name=str(props.get("name", "")),
                model=str(hardware.get("productType", "")),
                marketing_name=str(hardware.get("marketingName", "")),
                os_version=str(props.get("osVersionNumber", "")),
                platform=platform,
                paired=connection.get("pairingState") == "paired",
                connected=connection.get("tunnelState") == "connected"
                or connection.get("transportType") in ("wired", "localNetwork"),
            )
        )
    return devices


def choose_device(devices: Sequence[IOSDevice], udid: str | None = None) -> IOSDevice:
    usable = [d for d in devices if d.paired]
    if udid is not None:
        for device in devices:
            if device.udid.lower() == udid.lower():
                if not device.paired:
                    raise IOSHarnessError(
                        f"{device.name} ({udid}) is not paired: unlock it and trust this Mac"
                    )
                return device
        known = ", ".join(f"{d.name} {d.udid}" for d in devices) or "none"
        raise IOSHarnessError(f"no iOS device {udid} (devicectl sees: {known})")
    if not usable:
        raise IOSHarnessError(
            "no paired iPhone: connect one by USB, unlock it, trust this Mac and turn on "
            "Developer Mode (Settings > Privacy & Security)"
        )
    if len(usable) > 1:
        names = ", ".join(f"{d.name} {d.udid}" for d in usable)
        raise IOSHarnessError(f"several iPhones are paired ({names}): choose one with --device")
    return usable[0]


def mac_device(facts: Mapping[str, Any]) -> DeviceRecord:
    """This Mac as a store device, from the harness's own `device` facts."""
    model = str(facts.get("model", "mac"))
    return DeviceRecord(
        id=f"host:mac:{model}",
        kind="host",
        name=model,
        model=model,
        abi=str(facts.get("machine", "arm64")),
        os=f"{facts.get('os', 'macOS')} {facts.get('os_version', '')}".strip(),
        metadata=dict(facts),
    )


# -- commands -------------------------------------------------------------------------------


def stage_package(artifact: Path, workdir: Path, harness: Path = HARNESS_DIR) -> Path:
    """A copy of the Swift package with `artifact` as its test resource; returns its folder."""
    artifact = Path(artifact)
    if artifact.suffix not in COREML_FORMATS:
        raise IOSHarnessError(
            f"{artifact.name} is not a Core ML model ({', '.join(COREML_FORMATS)}); "
            "export one with `nox -s export -- --recipes coreml-fp16`"
        )
    if not artifact.exists():
        raise IOSHarnessError(f"{artifact} does not exist; export it first (`nox -s export`)")
    package = Path(workdir) / "ios_harness"
    if package.exists():
        shutil.rmtree(package)
    shutil.copytree(harness, package, ignore=shutil.ignore_patterns(".build", ".swiftpm"))
    target = package / RESOURCES / f"model{artifact.suffix}"
    if artifact.is_dir():
        shutil.copytree(artifact, target, symlinks=True)  # a link is copied, never followed
    else:
        shutil.copy2(artifact, target)
    return package


def destination(udid: str) -> str:
    return f"platform=iOS,id={udid}"


def _xcodebuild(action: str, udid: str, derived_data: Path) -> list[str]:
    """xcodebuild `action` of the harness scheme for one device, in `derived_data`."""
    return [
        "xcodebuild",
        action,
        "-scheme",
        SCHEME,
        "-destination",
        destination(udid),
        "-derivedDataPath",
        str(derived_data),
    ]


def build_command(package: Path, udid: str, derived_data: Path, team: str | None) -> list[str]:
    command = _xcodebuild("build-for-testing", udid, derived_data) + ["-allowProvisioningUpdates"]
    if team:
        command.append(f"DEVELOPMENT_TEAM={team}")
    return command


def test_command(package: Path, udid: str, derived_data: Path, result_bundle: Path) -> list[str]:
    return _xcodebuild("test-without-building", udid, derived_data) + [
        "-resultBundlePath",
        str(result_bundle),
        f"-only-testing:{TEST_ID}",
    ]


def check_compute_units(units: Iterable[str]) -> list[str]:
    chosen = [u.strip() for u in units if u.strip()]
    bad = [u for u in chosen if u not in COMPUTE_UNITS]
    if bad or not chosen:
        raise IOSHarnessError(
            f"compute units {', '.join(bad) or '(none)'} unknown; choose from "
            f"{', '.join(COMPUTE_UNITS)}"
        )
    return chosen


def check_settings(warmup: int, iterations: int, seed: int) -> None:
    if warmup < 0 or iterations < 1 or seed < 0:
        raise IOSHarnessError("need --warmup >= 0, --iterations >= 1 and --seed >= 0")


def test_environment(
    compute_units: Sequence[str],
    warmup: int,
    iterations: int,
    seed: int,
    preprocessing: Preprocessing | None = None,
) -> dict[str, str]:
    """TEST_RUNNER_MNB_* variables; xcodebuild passes them to the XCTest without the prefix."""
    check_settings(warmup, iterations, seed)
    env = {
        "TEST_RUNNER_MNB_COMPUTE_UNITS": ",".join(check_compute_units(compute_units)),
        "TEST_RUNNER_MNB_WARMUP": str(warmup),
        "TEST_RUNNER_MNB_ITERATIONS": str(iterations),
        "TEST_RUNNER_MNB_SEED": str(seed),
    }
    if preprocessing is not None:
        env["TEST_RUNNER_MNB_PREPROCESSING"] = preprocessing.to_json()
    return env


def mac_command(
    package: Path,
    model: Path,
    compute_units: str,
    warmup: int,
    iterations: int,
    seed: int,
    preprocessing: Preprocessing | None = None,
) -> list[str]:
    """The harness's command-line tool on this Mac (one compute unit per process)."""
    extra = [] if preprocessing is None else ["--preprocessing", preprocessing.to_json()]
    return [
        "swift",
        "run",
        "-c",
        "release",
        "--package-path",
        str(package),
        "mobilenet-bench",
        "--model",
        str(model),
        "--compute-units",
        check_compute_units([compute_units])[0],
        "--warmup",
        str(warmup),
        "--iterations",
        str(iterations),
        "--seed",
        str(seed),
        *extra,
    ]


def config_key(compute_units: str, warmup: int, seed: int) -> str:
    """What makes two Core ML runs of one artifact on one device comparable."""
    return f"coreml;compute_units={compute_units};seed={seed};warmup={warmup}"


# -- results --------------------------------------------------------------------------------


def parse_harness_output(text: str) -> list[RunnerResult]:
    """Every `MOBILENET_BENCH_RESULT {json}` line (xcodebuild may prefix it) as a RunnerResult."""
    results = []
    for line in text.splitlines():
        at = line.find(RESULT_MARKER)
        if at < 0:
            continue
        result = RunnerResult.from_json(line[at + len(RESULT_MARKER) :].strip())
        if result.runner_name != HARNESS_RUNNER:
            raise ResultSchemaError(
                f"expected a result of {HARNESS_RUNNER}, got runner {result.runner_name!r}"
            )
        results.append(result)
    return results


def match_artifact(result: RunnerResult, expected_sha256: str) -> RunnerResult:
    """The result, checked to be of the staged artifact.

    A `.mlpackage` is measured as staged, so its tree digest must match. If Xcode compiled the
    resource into `.mlmodelc` on the way, the digest is of the compiled model: the result is
    kept under the artifact's identity, with the measured digest beside it.
    """
    if result.artifact_sha256 == expected_sha256:
        return result
    if result.artifact_path.endswith(".mlmodelc"):
        raw = dict(result.raw)
        raw["artifact"] = dict(
            raw["artifact"], sha256=expected_sha256, measured_sha256=result.artifact_sha256
        )
        return RunnerResult.from_json(raw)
    raise IOSHarnessError(
        f"the harness measured {result.artifact_path} with sha256 "
        f"{result.artifact_sha256[:12]}…, not the staged artifact {expected_sha256[:12]}…; "
        "re-stage it (delete the work folder) and rerun"
    )


def _tail(text: str, lines: int = 1) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in kept if "error:" in ln.lower() or "failed" in ln.lower()]
    chosen = (errors or kept)[-lines:]
    return " | ".join(chosen)[:300] or "no output"


def _run(
    runner: Runner, command: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> str:
    what = " ".join(command[:2])
    try:
        proc = runner(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise IOSHarnessError(f"`{what}` ran longer than {timeout:g} s; pass --timeout") from None
    except OSError as exc:
        raise IOSHarnessError(f"cannot run `{what}`: {exc}") from None
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        hint = ""
        if "signing" in output.lower() or "provisioning" in output.lower():
            hint = " (code signing: pass --team <Apple development team id>)"
        raise IOSHarnessError(
            f"`{what}` exited with status {proc.returncode}: {_tail(output)}{hint}"
        )
    return output


# -- the target -------------------------------------------------------------------------------


def harness_version(harness: Path = HARNESS_DIR) -> str:
    """The harness's version (`harnessVersion` in Benchmark.swift), stored with a failed run."""
    try:
        text = (harness / "Sources" / "MobileNetBenchKit" / "Benchmark.swift").read_text()
    except OSError:
        return ""
    found = re.search(r'harnessVersion\s*=\s*"([^"]*)"', text)
    return found.group(1) if found else ""


def mac_facts(runner: Runner, cwd: Path, timeout: float = 60.0) -> dict[str, str]:
    """This Mac as the harness describes it (DeviceFacts.swift): hw.model, macOS, uname -m."""

    def ask(command: list[str]) -> str:
        return _run(runner, command, cwd=cwd, env={}, timeout=timeout).strip()

    version = ask(["sw_vers", "-productVersion"])
    parts = version.split(".")
    version = ".".join(parts + ["0"] * (3 - len(parts))) if version else ""  # 14.4 -> 14.4.0
    return {
        "model": ask(["sysctl", "-n", "hw.model"]),
        "os": "macOS",
        "os_version": version,
        "machine": ask(["uname", "-m"]),
    }


def _key(artifact: Artifact) -> tuple[str, Path]:
    return artifact.record.sha256, artifact.path


class IosTarget(Target):
    """An iPhone through Xcode (provenance `phone`), or with device `mac` this Mac (provenance
    `host`): each artifact measured once per compute unit and round, one process each."""

    def __init__(
        self,
        device: str | None = None,
        *,
        workdir: Path,
        compute_units: Sequence[str] = DEFAULT_COMPUTE_UNITS,
        team: str | None = None,
        timeout_s: float = 1800.0,
        runner: Runner = subprocess.run,
        platform: str = sys.platform,
        which: Callable[[str], str | None] = shutil.which,
        harness: Path = HARNESS_DIR,
    ) -> None:
        self.on_mac = device == MAC
        self.udid = None if self.on_mac else device
        self.label = device or "iphone"
        self.compute_units = check_compute_units(compute_units)
        self.workdir = Path(workdir)
        self.team = team
        self.timeout_s = timeout_s
        self.runner = runner
        self.platform = platform
        self.which = which
        self.harness = harness
        self.device: IOSDevice | None = None
        self.record: DeviceRecord | None = None
        self._packages: dict[tuple[str, Path], Path] = {}
        self._broken: dict[tuple[str, Path], str] = {}  # why an artifact was not built

    def open(self) -> DeviceRecord:
        require_xcode(self.platform, self.which)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.on_mac:
            record = mac_device(mac_facts(self.runner, self.workdir))
            self.provenance = "host"
        else:
            listing = self.workdir / "devices.json"
            command = list_devices_command(listing)
            _run(self.runner, command, cwd=self.workdir, env={}, timeout=120)
            try:
                text = listing.read_text()
            except OSError:
                text = ""
            self.device = choose_device(parse_devices(text), self.udid)
            record = self.device.record()
            self.provenance = "phone"
        self.record, self.name = record, record.name
        return record

    def summary(self) -> str:
        if self.record is None:
            return ""
        marketing = self.device.marketing_name if self.device is not None else ""
        return f"{self.record.name}: {marketing or self.record.model}, {self.record.os}"

    def variants(self, config: RunnerConfig) -> list[Variant]:
        return [
            Variant(config, units, config_key(units, config.warmup, config.seed))
            for units in self.compute_units
        ]

    def prepare(self, artifacts: list[Artifact]) -> None:
        """Stage and build the harness once per artifact (an iPhone; `swift run` builds the
        Mac's tool itself). An artifact that fails here fails its runs, not the others'."""
        if self.on_mac:
            return
        assert self.device is not None, "open() first"
        for artifact in artifacts:
            if self.stopped.is_set():
                return
            key, folder = _key(artifact), self.workdir / artifact.record.sha256[:12]
            rec = artifact.record
            self.say(f"{rec.model} {rec.recipe}: staging the harness, building it for testing")
            try:
                package = stage_package(artifact.path, folder, self.harness)
                command = build_command(
                    package, self.device.udid, folder / "DerivedData", self.team
                )
                _run(self.runner, command, cwd=package, env={}, timeout=self.timeout_s)
            except IOSHarnessError as exc:
                self._broken[key] = str(exc)
                continue
            self._packages[key] = package

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        units, config = variant.mask, variant.config
        try:
            if self.on_mac:
                result = self._on_mac(artifact, units, config)
            else:
                result = self._on_device(artifact, units, config, label)
        except IOSHarnessError as exc:  # a failed run of this artifact, not the end of the session
            raise RunnerError(str(exc)) from None
        return Measured(result, {"compute_units": units, "device": dict(result.device)})

    def _on_device(
        self, artifact: Artifact, units: str, config: RunnerConfig, label: str
    ) -> RunnerResult:
        """One XCTest run of the staged package for one compute unit."""
        assert self.device is not None, "open() first"
        key = _key(artifact)
        if key in self._broken:
            raise IOSHarnessError(self._broken[key])
        if key not in self._packages:
            raise IOSHarnessError(f"{artifact.path} was not staged (prepare() first)")
        package = self._packages[key]
        folder = package.parent
        env = test_environment(
            [units], config.warmup, config.iterations, config.seed, artifact.record.preprocessing
        )
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        bundle = folder / f"result-{units}-{stamp}.xcresult"
        self.say(f"{label}: {units} on {self.device.name}")
        command = test_command(package, self.device.udid, folder / "DerivedData", bundle)
        output = _run(self.runner, command, cwd=package, env=env, timeout=self.timeout_s)
        results = parse_harness_output(output)
        if len(results) != 1:
            raise IOSHarnessError(
                f"the XCTest printed {len(results)} results for 1 compute unit (see {bundle}): "
                f"{_tail(output)}"
            )
        return self._checked(results[0], artifact, units)

    def _on_mac(self, artifact: Artifact, units: str, config: RunnerConfig) -> RunnerResult:
        """The harness's command-line tool on this Mac, one process."""
        command = mac_command(
            self.harness,
            artifact.path,
            units,
            config.warmup,
            config.iterations,
            config.seed,
            artifact.record.preprocessing,
        )
        output = _run(self.runner, command, cwd=self.harness, env={}, timeout=self.timeout_s)
        lines = [ln for ln in output.splitlines() if ln.startswith("{")]
        if not lines:
            raise IOSHarnessError(f"mobilenet-bench printed no result: {_tail(output)}")
        return self._checked(RunnerResult.from_json(lines[-1]), artifact, units)

    def _checked(self, result: RunnerResult, artifact: Artifact, units: str) -> RunnerResult:
        if result.runner_name != HARNESS_RUNNER:
            raise ResultSchemaError(
                f"expected a result of {HARNESS_RUNNER}, got runner {result.runner_name!r}"
            )
        measured = str(result.config.get("compute_units", ""))
        if measured != units:
            raise IOSHarnessError(f"asked for compute units {units}, the harness ran {measured!r}")
        preprocessing = artifact.record.preprocessing
        if preprocessing is not None and not preprocessing.same_as(
            result.config.get("preprocessing")
        ):
            raise IOSHarnessError(
                f"the harness did not make its input with the artifact's {preprocessing.name} "
                "preprocessing (a harness older than this tool?): update ios_harness and rerun"
            )
        return match_artifact(result, artifact.record.sha256)

    def runner_for(self, artifact: Artifact) -> tuple[str, str]:
        return HARNESS_RUNNER, harness_version(self.harness)
