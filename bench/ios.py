"""Core ML on an iPhone: drive `ios_harness/` (Swift) and store its results.

`python -m bench bench-ios` (nox -s bench-ios), on macOS with Xcode and a paired iPhone:

1. pick the device: `xcrun devicectl list devices --json-output <file>` (or `--device <udid>`);
2. for each Core ML artifact of the manifest (or `--artifact`), stage a copy of the Swift package
   with the model at `Tests/MobileNetBenchTests/Resources/model.mlpackage`;
3. `xcodebuild build-for-testing` then `xcodebuild test-without-building` on the device, the
   settings passed as TEST_RUNNER_MNB_* environment variables (xcodebuild hands them to the test
   runner without the prefix);
4. read every `MOBILENET_BENCH_RESULT {json}` line (one per compute unit) as a RunnerResult and
   store it (provenance `phone`, device id `ios:<udid>`).

`--device mac` runs the harness's command-line tool on this Mac instead (provenance `host`).
Anywhere but macOS with Xcode, the command stops with one line saying so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import options
from bench.errors import BenchError, IOSHarnessError, ResultSchemaError
from bench.results import RunnerResult
from bench.store import ArtifactRecord, DeviceRecord, RunRecord, Store
from deploy.export.coreml_artifact import artifact_sha256

ROOT = Path(__file__).resolve().parents[1]
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


def test_environment(
    compute_units: Sequence[str], warmup: int, iterations: int, seed: int
) -> dict[str, str]:
    """TEST_RUNNER_MNB_* variables; xcodebuild passes them to the XCTest without the prefix."""
    if warmup < 0 or iterations < 1 or seed < 0:
        raise IOSHarnessError("need --warmup >= 0, --iterations >= 1 and --seed >= 0")
    return {
        "TEST_RUNNER_MNB_COMPUTE_UNITS": ",".join(check_compute_units(compute_units)),
        "TEST_RUNNER_MNB_WARMUP": str(warmup),
        "TEST_RUNNER_MNB_ITERATIONS": str(iterations),
        "TEST_RUNNER_MNB_SEED": str(seed),
    }


def mac_command(
    package: Path, model: Path, compute_units: str, warmup: int, iterations: int, seed: int
) -> list[str]:
    """The harness's command-line tool on this Mac (one compute unit per process)."""
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


@dataclass(frozen=True)
class IOSArtifact:
    record: ArtifactRecord
    path: Path


def run_on_device(
    artifact: IOSArtifact,
    device: IOSDevice,
    *,
    compute_units: Sequence[str],
    warmup: int,
    iterations: int,
    seed: int,
    team: str | None,
    workdir: Path,
    timeout: float = 1800.0,
    runner: Runner = subprocess.run,
) -> list[RunnerResult]:
    """Stage, build for testing, run the XCTest on `device`; one result per compute unit."""
    env = test_environment(compute_units, warmup, iterations, seed)
    package = stage_package(artifact.path, workdir)
    derived = workdir / "DerivedData"
    bundle = workdir / f"result-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.xcresult"
    _run(
        runner,
        build_command(package, device.udid, derived, team),
        cwd=package,
        env={},
        timeout=timeout,
    )
    output = _run(
        runner,
        test_command(package, device.udid, derived, bundle),
        cwd=package,
        env=env,
        timeout=timeout,
    )
    results = parse_harness_output(output)
    if len(results) != len(env["TEST_RUNNER_MNB_COMPUTE_UNITS"].split(",")):
        raise IOSHarnessError(
            f"the XCTest printed {len(results)} results for {len(compute_units)} compute units "
            f"(see {bundle}): {_tail(output)}"
        )
    return [match_artifact(r, artifact.record.sha256) for r in results]


def run_on_mac(
    artifact: IOSArtifact,
    *,
    compute_units: Sequence[str],
    warmup: int,
    iterations: int,
    seed: int,
    timeout: float = 1800.0,
    runner: Runner = subprocess.run,
) -> list[RunnerResult]:
    """The harness's command-line tool on this Mac, one process per compute unit."""
    results = []
    for units in check_compute_units(compute_units):
        command = mac_command(HARNESS_DIR, artifact.path, units, warmup, iterations, seed)
        output = _run(runner, command, cwd=HARNESS_DIR, env={}, timeout=timeout)
        lines = [ln for ln in output.splitlines() if ln.startswith("{")]
        if not lines:
            raise IOSHarnessError(f"mobilenet-bench printed no result: {_tail(output)}")
        results.append(match_artifact(RunnerResult.from_json(lines[-1]), artifact.record.sha256))
    return results


def store_results(
    store: Store,
    results: Sequence[RunnerResult],
    *,
    device: DeviceRecord,
    artifact: ArtifactRecord,
    provenance: str,
    started_at: str,
) -> list[int | None]:
    """Upsert the device and the artifact, then record each result as one run.

    A run the store could not take (locked) has the id None and a line in store.not_stored."""
    store.upsert_device(device)
    store.upsert_artifact(artifact)
    ids = []
    for result in results:
        units = str(result.config.get("compute_units", "unknown"))
        run = RunRecord.from_result(
            result,
            device_id=device.id,
            provenance=provenance,
            config_key=config_key(units, result.warmup, _seed_of(result)),
            started_at=started_at,
        )
        ids.append(store.save_run(run, result.samples_ms, result.warmup_ms).run_id)
    return ids


def _seed_of(result: RunnerResult) -> int:
    text = str(result.config.get("input", "seed:0"))
    try:
        return int(text.split(":", 1)[1]) if text.startswith("seed:") else 0
    except ValueError:
        return 0


# -- which artifacts -------------------------------------------------------------------------


def manifest_artifacts(
    manifest_path: Path, models: Iterable[str] = (), recipes: Iterable[str] = ()
) -> list[IOSArtifact]:
    """Valid Core ML (.mlpackage) entries of the manifest, optionally filtered."""
    selected = options.manifest_selection(
        manifest_path,
        lambda entry: entry.recipe.get("format") in COREML_FORMATS,
        models,
        recipes,
        what="Core ML artifact",
        hint="export some with `nox -s export -- --recipes coreml-fp16,coreml-int8,coreml-w8`",
    )
    return [IOSArtifact(record, path) for record, path in selected]


def unlisted_artifact(path: Path) -> IOSArtifact:
    """A Core ML model outside any manifest: identity is its digest alone, and the store says so."""
    path = Path(path)
    if not path.exists():
        raise IOSHarnessError(f"{path} does not exist")
    return IOSArtifact(
        ArtifactRecord(
            artifact_sha256(path), f"unlisted:{path.name}", "unlisted", format=path.suffix
        ),
        path,
    )


# -- command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_selection_arguments(parser, "Core ML recipe names (default: all)")
    parser.add_argument("--artifact", type=Path, help="a .mlpackage outside the manifest")
    parser.add_argument(
        "--compute-units",
        default=",".join(DEFAULT_COMPUTE_UNITS),
        help=f"comma-separated, of {', '.join(COMPUTE_UNITS)} (default: %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device", help=f"iPhone UDID (default: the one paired iPhone), or '{MAC}' for this Mac"
    )
    parser.add_argument("--team", help="Apple development team id for code signing")
    parser.add_argument("--workdir", type=Path, help="where to stage and build (default: temp)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per xcodebuild")


def run(args: argparse.Namespace) -> int:
    require_xcode()
    units = check_compute_units(args.compute_units.split(","))
    if args.artifact:
        artifacts = [unlisted_artifact(args.artifact)]
    else:
        artifacts = manifest_artifacts(
            args.manifest, options.names(args.models), options.names(args.recipes)
        )
    with tempfile.TemporaryDirectory(prefix="bench_ios_") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        device: IOSDevice | None = None
        if args.device != MAC:
            listing = workdir / "devices.json"
            _run(subprocess.run, list_devices_command(listing), cwd=workdir, env={}, timeout=120)
            device = choose_device(parse_devices(listing.read_text()), args.device)
        failed = reported = 0
        with Store.open(args.store) as store:
            for artifact in artifacts:
                started = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
                label = f"{artifact.record.model} {artifact.record.recipe}"
                try:
                    if device is None:
                        results = run_on_mac(
                            artifact,
                            compute_units=units,
                            warmup=args.warmup,
                            iterations=args.iterations,
                            seed=args.seed,
                            timeout=args.timeout,
                        )
                        record, provenance = mac_device(results[0].device), "host"
                    else:
                        results = run_on_device(
                            artifact,
                            device,
                            compute_units=units,
                            warmup=args.warmup,
                            iterations=args.iterations,
                            seed=args.seed,
                            team=args.team,
                            workdir=workdir,
                            timeout=args.timeout,
                        )
                        record, provenance = device.record(), "phone"
                except BenchError as exc:
                    failed += 1
                    print(f"error: {label}: {exc}", file=sys.stderr)
                    continue
                ids = store_results(
                    store,
                    results,
                    device=record,
                    artifact=artifact.record,
                    provenance=provenance,
                    started_at=started,
                )
                for result, run_id in zip(results, ids, strict=True):
                    samples = sorted(result.samples_ms)
                    print(
                        f"{label} {result.config.get('compute_units')}: median "
                        f"{samples[len(samples) // 2]:.2f} ms (n={len(samples)}, load "
                        f"{result.load_ms:.1f} ms) on {record.name} [{provenance}]"
                        + ("" if run_id is not None else " NOT STORED")
                    )
                for line in store.not_stored[reported:]:
                    print(f"error: {label}: {line}", file=sys.stderr)
                reported = len(store.not_stored)
    if reported:
        print(f"stored in {args.store}, except {reported} run(s): NOT STORED (see the errors)")
    else:
        print(f"stored in {args.store}")
    return 2 if failed or reported else 0
