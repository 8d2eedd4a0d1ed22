"""The in-app benchmark path: the same .pte measured inside a foreground Android app.

A binary started over `adb shell` and a foreground app are scheduled differently (the app's
process is in the top-app cgroup, may be boosted, and competes with its own UI thread), and
users want both figures. The app lives in `android_app/` (Kotlin, ExecuTorch Android library);
this module drives it over any `Device`:

    with AndroidDevice.connect(serial) as phone:
        config = AppRunConfig(input_shape=(1, 3, 224, 224))
        outcome = run_in_app(phone, Path("artifacts/m.pte"), config, apk=default_apk())
        outcome.result.samples_ms      # a bench.results.RunnerResult

Steps: install the APK when the installed version differs (`pm install -r`), push the .pte under
our device folder (world-readable, as the app reads it from there), remove an old result,
`am start -W -S -n <package>/.BenchActivity --es pte ... --ei warmup ...`, poll for
`<files dir>/<output>` or `<output>.error`, pull the result and validate it, force-stop the app.

The input: the artifact's preprocessing, from its manifest entry (`AppRunConfig.preprocessing`,
see `ArtifactRecord.preprocessing`), travels as the `preprocessing` extra (one line of JSON);
the app makes its synthetic input through it (noise pixels -> value range -> mean/std, grey
replicated for "LLL") and echoes it in the result, which is refused if the echo differs. An
artifact without a manifest has none, and the app feeds the C++ runner's raw [-1, 1) stream.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import ResultSchemaError
from bench.results import RunnerResult
from deploy.artifacts.preprocessing import Preprocessing
from deploy.devices.base import Device
from deploy.devices.errors import DeviceError, DeviceTimeoutError

PACKAGE = "org.mobilenetdeploy.bench"
ACTIVITY = ".BenchActivity"
APP_VERSION = "0.1.0"
#: Where the app writes results: Context.getExternalFilesDir(null) of user 0, readable over adb.
APP_FILES_DIR = f"/sdcard/Android/data/{PACKAGE}/files"
ROOT = Path(__file__).resolve().parents[2]
APK_RELATIVE = Path("android_app/app/build/outputs/apk/release/app-release.apk")

_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9._-]+\.json$")
_PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_VERSION_NAME = re.compile(r"versionName=(\S+)")


class AppError(DeviceError):
    """The in-app benchmark could not be installed, started, or reported a failure."""


class AppNotBuiltError(AppError):
    """The benchmark APK has not been built on this machine."""


@dataclass(frozen=True)
class AppRunConfig:
    """What the app is asked to do; each field becomes one intent extra."""

    input_shape: tuple[int, ...] = (1, 3, 224, 224)
    warmup: int = 5
    iterations: int = 50
    threads: int = 1
    seed: int = 0
    load_mode: str = "file"
    output: str = "result.json"
    package: str = PACKAGE
    activity: str = ACTIVITY
    #: the artifact's manifest preprocessing; the app makes its input through it
    preprocessing: Preprocessing | None = None

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.iterations < 1:
            raise AppError("need warmup >= 0 and iterations >= 1")
        if self.threads < 1:
            raise AppError("threads must be >= 1")
        if not self.input_shape or any(int(d) < 1 for d in self.input_shape):
            raise AppError(f"input shape {self.input_shape} needs dimensions >= 1")
        if self.load_mode not in ("file", "mmap"):
            raise AppError(f"load mode {self.load_mode!r} is not file or mmap")
        if not _OUTPUT_NAME.match(self.output):
            raise AppError(f"output name {self.output!r} must be a plain *.json file name")
        if not _PACKAGE_NAME.match(self.package):
            raise AppError(f"{self.package!r} is not an Android package name")

    @property
    def component(self) -> str:
        return f"{self.package}/{self.activity}"

    @property
    def result_path(self) -> str:
        """Where the app writes the result JSON (its external files dir)."""
        return posixpath.join(f"/sdcard/Android/data/{self.package}/files", self.output)

    @property
    def error_path(self) -> str:
        return self.result_path + ".error"


def start_command(pte_remote: str, config: AppRunConfig) -> str:
    """The `am start -W -S` command line (for `sh` on the device), every value quoted.

    -W waits until the activity is drawn (it prints Status/TotalTime), -S force-stops a running
    instance first so every run starts from a cold process.
    """
    if not pte_remote.startswith("/"):
        raise AppError(f"the .pte path given to the app must be absolute, got {pte_remote!r}")
    extras: list[tuple[str, str, str]] = [
        ("--es", "pte", pte_remote),
        ("--es", "shape", ",".join(str(int(d)) for d in config.input_shape)),
        ("--ei", "warmup", str(config.warmup)),
        ("--ei", "iterations", str(config.iterations)),
        ("--ei", "threads", str(config.threads)),
        ("--el", "seed", str(config.seed)),
        ("--es", "load_mode", config.load_mode),
        ("--es", "output", config.output),
        ("--ez", "finish", "true"),
    ]
    if config.preprocessing is not None:
        extras.append(("--es", "preprocessing", config.preprocessing.to_json()))
    words = ["am", "start", "-W", "-S", "-n", config.component]
    for flag, key, value in extras:
        words += [flag, key, value]
    return " ".join(shlex.quote(w) for w in words)


@dataclass(frozen=True)
class AmStartResult:
    """What `am start -W` printed: status, launch state and times (ms) when given."""

    status: str
    launch_state: str | None = None
    total_time_ms: int | None = None
    wait_time_ms: int | None = None
    raw: str = field(default="", repr=False, compare=False)


def parse_am_start(output: str) -> AmStartResult:
    """Parse `am start -W` output; raise AppError on `Error:` lines or a status other than ok."""
    fields: dict[str, str] = {}
    errors: list[str] = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(("Error:", "Error type", "Exception")) or "SecurityException" in line:
            errors.append(line)
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    if errors:
        hint = ""
        if any("does not exist" in e for e in errors):
            hint = " (is the app installed? build android_app and rerun with the APK)"
        said = " / ".join(errors)  # am's own words: "Error type 3 / Error: Activity class ..."
        raise AppError(f"am start failed: {said[:400]}{hint}")
    status = fields.get("Status")
    if status is None:
        raise AppError(f"am start printed no status: {output.strip()[:200]!r}")
    if status != "ok":
        raise AppError(f"am start ended with status {status!r}: {output.strip()[:200]!r}")

    def number(key: str) -> int | None:
        value = fields.get(key)
        return int(value) if value is not None and value.isdigit() else None

    return AmStartResult(
        status=status,
        launch_state=fields.get("LaunchState"),
        total_time_ms=number("TotalTime"),
        wait_time_ms=number("WaitTime"),
        raw=output,
    )


def parse_app_result(
    text: str | bytes,
    *,
    expected_sha256: str | None = None,
    preprocessing: Preprocessing | None = None,
) -> RunnerResult:
    """The app's result JSON as a RunnerResult, checked to come from the app and the artifact,
    and to have made its input with `preprocessing` (the one the app was given)."""
    result = RunnerResult.from_json(text)
    if result.runner_name != "android_app":
        raise ResultSchemaError(
            f"expected a result of the android_app runner, got {result.runner_name!r}"
        )
    if expected_sha256 is not None and result.artifact_sha256 != expected_sha256:
        raise ResultSchemaError(
            f"the app measured a file with sha256 {result.artifact_sha256[:12]}…, not the pushed "
            f"artifact {expected_sha256[:12]}…: push it again"
        )
    if preprocessing is not None and not preprocessing.same_as(result.config.get("preprocessing")):
        raise ResultSchemaError(
            f"the app did not make its input with the artifact's {preprocessing.name} "
            "preprocessing (an app older than this tool?): rebuild android_app and pass --apk"
        )
    return result


def installed_version(device: Device, package: str = PACKAGE) -> str | None:
    """versionName of the installed app, or None when it is not installed."""
    out = device.shell(f"dumpsys package {shlex.quote(package)}", timeout_s=30).output
    match = _VERSION_NAME.search(out)
    return match.group(1) if match else None


def default_apk(root: Path = ROOT) -> Path:
    """The release APK as `./gradlew assembleRelease` leaves it; AppNotBuiltError if missing."""
    apk = root / APK_RELATIVE
    if not apk.exists():
        raise AppNotBuiltError(
            f"no benchmark app at {apk}: build it with the Android SDK (`cd android_app && "
            "./gradlew assembleRelease`, see android_app/README.md) or pass --apk"
        )
    return apk


#: What to do about a `pm install` failure, by its code (PackageManager.INSTALL_FAILED_*).
_INSTALL_FIXES = {
    "INSTALL_FAILED_USER_RESTRICTED": (
        "the phone refuses installs over USB: turn on 'Install via USB' in Developer options "
        "(Xiaomi: also 'USB debugging (Security settings)'), accept the prompt on the phone, "
        "and retry"
    ),
    "INSTALL_FAILED_UPDATE_INCOMPATIBLE": "uninstall the old app (`adb uninstall {package}`)",
    "INSTALL_FAILED_VERSION_DOWNGRADE": "uninstall the newer app (`adb uninstall {package}`)",
    "INSTALL_FAILED_ALREADY_EXISTS": "uninstall the old app (`adb uninstall {package}`)",
    "INSTALL_FAILED_INSUFFICIENT_STORAGE": "free space on the phone",
    "INSTALL_FAILED_NO_MATCHING_ABIS": "build the APK for this phone's ABI",
    "INSTALL_FAILED_VERIFICATION_FAILURE": (
        "turn off 'Verify apps over USB' in Developer options and retry"
    ),
}
_FAILURE = re.compile(r"(Failure \[(?P<code>[A-Z_]+)[^\]]*\]|Error: .*|Exception.*)")


def install_failure(output: str, apk_name: str, package: str = PACKAGE) -> str:
    """One line: what `pm install` said (its own failure text) and, when known, the fix."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = [m.group(0) for line in lines if (m := _FAILURE.search(line))]
    text = " / ".join(said) if said else (lines[-1] if lines else "no output")
    codes = [m.group("code") for line in lines if (m := _FAILURE.search(line)) and m.group("code")]
    fix = next((_INSTALL_FIXES[c] for c in codes if c in _INSTALL_FIXES), "")
    fix_text = f": {fix.format(package=package)}" if fix else ""
    return f"cannot install {apk_name}: pm install said {text[:300]!r}{fix_text}"


def install_app(device: Device, apk: Path, *, package: str = PACKAGE, force: bool = False) -> bool:
    """Install `apk` unless this version is installed already; True when it installed."""
    if not force and installed_version(device, package) == APP_VERSION:
        return False
    pushed = device.push(apk, "android_app.apk")
    result = device.shell(f"pm install -r -g {shlex.quote(pushed.remote)}", timeout_s=180)
    if result.exit_code != 0 or "Success" not in result.output:
        raise AppError(install_failure(result.output, apk.name, package))
    return True


@dataclass(frozen=True)
class AppRunOutcome:
    result: RunnerResult
    start: AmStartResult
    seconds: float


def run_in_app(
    device: Device,
    pte: Path,
    config: AppRunConfig,
    *,
    apk: Path | None = None,
    expected_sha256: str | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AppRunOutcome:
    """Install (if `apk`), push `pte`, start the app, wait for its result, pull and parse it."""
    if apk is not None:
        install_app(device, apk, package=config.package)
    pushed = device.push(pte)
    device.shell(f"chmod 644 {shlex.quote(pushed.remote)}", timeout_s=30, check=True)
    device.shell(
        f"rm -f {shlex.quote(config.result_path)} {shlex.quote(config.error_path)}",
        timeout_s=30,
    )
    start_time = clock()
    started = device.shell(start_command(pushed.remote, config), timeout_s=120)
    try:
        start = parse_am_start(started.output)
        probe = (
            f"if [ -f {shlex.quote(config.result_path)} ]; then echo RESULT; "
            f"elif [ -f {shlex.quote(config.error_path)} ]; then echo ERROR; "
            f"cat {shlex.quote(config.error_path)}; else echo WAIT; fi"
        )
        while True:
            state = device.shell(probe, timeout_s=30).output.strip()
            if state.startswith("RESULT"):
                break
            if state.startswith("ERROR"):
                message = state[len("ERROR") :].strip() or "no message"
                raise AppError(f"the benchmark app failed: {message}")
            if clock() - start_time > timeout_s:
                raise DeviceTimeoutError(
                    f"the benchmark app wrote no result within {timeout_s:g} s "
                    f"(see `adb logcat -s MobileNetBench`); give it a longer timeout"
                )
            sleep(poll_s)
        with tempfile.TemporaryDirectory(prefix="mobilenet_app_") as tmp:
            local = device.pull(config.result_path, Path(tmp) / config.output)
            text = local.read_bytes()
    finally:
        try:
            device.shell(f"am force-stop {shlex.quote(config.package)}", timeout_s=30)
        except DeviceError:
            pass
    expected = expected_sha256 if expected_sha256 is not None else pushed.sha256
    result = parse_app_result(text, expected_sha256=expected, preprocessing=config.preprocessing)
    return AppRunOutcome(result=result, start=start, seconds=clock() - start_time)
