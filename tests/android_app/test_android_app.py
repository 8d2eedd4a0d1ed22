"""The Python side of the in-app benchmark: intent command, `am start` parsing, result parsing,
and the install/push/start/poll/pull flow against a scripted device (no Android SDK here)."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

from bench.android import app
from bench.errors import ResultSchemaError
from deploy.devices.base import DEVICE_ROOT, Device, DeviceInfo, PushResult, ShellResult
from deploy.devices.errors import DeviceTimeoutError

AM_OK = """Starting: Intent { cmp=org.mobilenetdeploy.bench/.BenchActivity (has extras) }
Status: ok
LaunchState: COLD
Activity: org.mobilenetdeploy.bench/.BenchActivity
TotalTime: 412
WaitTime: 418
Complete
"""


def app_result(sha: str, iterations: int = 3, **changes: object) -> dict:
    result = {
        "schema_version": 1,
        "runner": {"name": "android_app", "version": "0.1.0", "executorch_version": "1.5.1"},
        "artifact": {"sha256": sha, "path": f"{DEVICE_ROOT}/m.pte"},
        "config": {
            "threads": 1,
            "cpu_mask": "0xff",
            "warmup": 2,
            "iterations": iterations,
            "mode": "app",
            "input_shape": [1, 3, 64, 64],
        },
        "load_ms": 12.5,
        "first_inference_ms": 9.0,
        "warmup_ms": [5.0, 4.9],
        "samples_ms": [4.1, 4.0, 4.2][:iterations],
        "output": {"checksum": 1.25, "abs_sum": 40.0, "top1": 7, "dtype": "float32"},
        "device": {"model": "Pixel 8", "sdk": 34, "foreground_app": True},
        "emulated": False,
    }
    result.update(changes)
    return result


# -- the intent command ----------------------------------------------------------------------


def test_start_command_carries_every_extra_quoted() -> None:
    config = app.AppRunConfig(input_shape=(1, 3, 64, 64), warmup=2, iterations=30, threads=1)
    command = app.start_command(f"{DEVICE_ROOT}/mobilenet_v2_1.0_64.xnnpack-fp32.pte", config)
    words = shlex.split(command)
    assert words[:6] == [
        "am",
        "start",
        "-W",
        "-S",
        "-n",
        "org.mobilenetdeploy.bench/.BenchActivity",
    ]
    extras = {(words[i], words[i + 1]): words[i + 2] for i in range(6, len(words), 3)}
    assert extras == {
        ("--es", "pte"): f"{DEVICE_ROOT}/mobilenet_v2_1.0_64.xnnpack-fp32.pte",
        ("--es", "shape"): "1,3,64,64",
        ("--ei", "warmup"): "2",
        ("--ei", "iterations"): "30",
        ("--ei", "threads"): "1",
        ("--el", "seed"): "0",
        ("--es", "load_mode"): "file",
        ("--es", "output"): "result.json",
        ("--ez", "finish"): "true",
    }


def test_start_command_quotes_shell_metacharacters() -> None:
    command = app.start_command("/data/local/tmp/a b;rm -rf x.pte", app.AppRunConfig())
    assert shlex.split(command)[8] == "/data/local/tmp/a b;rm -rf x.pte"
    assert "'/data/local/tmp/a b;rm -rf x.pte'" in command


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"iterations": 0}, "iterations >= 1"),
        ({"warmup": -1}, "warmup >= 0"),
        ({"threads": 0}, "threads"),
        ({"input_shape": (1, 3, 0, 224)}, "dimensions"),
        ({"output": "../x.json"}, "plain"),
        ({"output": "r.txt"}, "plain"),
        ({"load_mode": "copy"}, "load mode"),
        ({"package": "not a package"}, "package"),
    ],
)
def test_bad_configs_are_refused(changes: dict, needle: str) -> None:
    with pytest.raises(app.AppError, match=needle):
        app.AppRunConfig(**changes)


def test_relative_pte_path_is_refused() -> None:
    with pytest.raises(app.AppError, match="absolute"):
        app.start_command("m.pte", app.AppRunConfig())


def test_result_paths_are_in_the_external_files_dir() -> None:
    config = app.AppRunConfig(output="run7.json")
    assert config.result_path == "/sdcard/Android/data/org.mobilenetdeploy.bench/files/run7.json"
    assert config.error_path.endswith("run7.json.error")


# -- am start and result parsing ------------------------------------------------------------


def test_am_start_ok_is_parsed() -> None:
    start = app.parse_am_start(AM_OK)
    assert (start.status, start.launch_state, start.total_time_ms, start.wait_time_ms) == (
        "ok",
        "COLD",
        412,
        418,
    )


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        (
            "Starting: Intent { cmp=org.mobilenetdeploy.bench/.BenchActivity }\n"
            "Error type 3\nError: Activity class {org.mobilenetdeploy.bench/"
            "org.mobilenetdeploy.bench.BenchActivity} does not exist.\n",
            "is the app installed",
        ),
        ("Status: timeout\nComplete\n", "status 'timeout'"),
        ("", "no status"),
        ("java.lang.SecurityException: Permission Denial: starting Intent\n", "Permission Denial"),
    ],
)
def test_am_start_failures_are_one_line(output: str, needle: str) -> None:
    with pytest.raises(app.AppError, match=needle) as info:
        app.parse_am_start(output)
    assert "\n" not in str(info.value)


def test_app_result_parses_into_a_runner_result() -> None:
    sha = "a" * 64
    result = app.parse_app_result(json.dumps(app_result(sha)), expected_sha256=sha)
    assert result.runner_name == "android_app"
    assert result.samples_ms == (4.1, 4.0, 4.2)
    assert result.config["mode"] == "app"


def test_result_of_another_runner_or_artifact_is_refused() -> None:
    sha = "a" * 64
    other = app_result(
        sha, runner={"name": "bench_runner", "version": "1", "executorch_version": "1"}
    )
    with pytest.raises(ResultSchemaError, match="android_app"):
        app.parse_app_result(json.dumps(other))
    with pytest.raises(ResultSchemaError, match="push it again"):
        app.parse_app_result(json.dumps(app_result(sha)), expected_sha256="b" * 64)
    with pytest.raises(ResultSchemaError, match="truncated"):
        app.parse_app_result(json.dumps(app_result(sha, samples_ms=[4.0])))


# -- the flow, on a scripted device ---------------------------------------------------------


class ScriptedPhone(Device):
    """Records every command; `am start` makes the 'app' write its result after `delay` polls."""

    serial = "scripted"

    def __init__(
        self, tmp: Path, *, behaviour: str = "ok", delay: int = 1, version: str | None = None
    ):
        self.tmp = tmp
        self.files: dict[str, bytes] = {}
        self.commands: list[str] = []
        self.behaviour = behaviour
        self.delay = delay
        self.version = version
        self.polls = 0
        self.started = False
        self.pushed_sha = ""

    def push(self, local: Path | str, remote: str | None = None) -> PushResult:
        data = Path(local).read_bytes()
        target = f"{DEVICE_ROOT}/{remote or Path(local).name}"
        self.files[target] = data
        sha = hashlib.sha256(data).hexdigest()
        if target.endswith(".pte"):
            self.pushed_sha = sha
        return PushResult(Path(local), target, len(data), sha, False, 0.0)

    def pull(self, remote: str, local: Path | str) -> Path:
        Path(local).write_bytes(self.files[remote])
        return Path(local)

    def shell(self, command, *, timeout_s=None, on_output=None, check=False) -> ShellResult:
        self.commands.append(command)
        words = shlex.split(command)
        out = ""
        if words[:2] == ["dumpsys", "package"]:
            out = f"Packages:\n  versionName={self.version}\n" if self.version else ""
        elif words[:2] == ["pm", "install"]:
            self.version = app.APP_VERSION
            out = "Success\n"
        elif words[:2] == ["am", "start"]:
            self.started = True
            out = AM_OK
        elif words[:1] == ["if"]:
            self.polls += 1
            config = app.AppRunConfig()
            if self.started and self.polls > self.delay:
                if self.behaviour == "ok":
                    self.files[config.result_path] = json.dumps(
                        app_result(self.pushed_sha)
                    ).encode()
                    out = "RESULT\n"
                elif self.behaviour == "error":
                    out = "ERROR\nRuntimeException: cannot load method forward (error 32)\n"
                else:
                    out = "WAIT\n"
            else:
                out = "WAIT\n"
        return ShellResult(0, out, 0.0)

    def info(self) -> DeviceInfo:  # pragma: no cover - not used
        raise NotImplementedError

    def cleanup(self) -> None:  # pragma: no cover - not used
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def pte(tmp_path: Path) -> Path:
    path = tmp_path / "m.pte"
    path.write_bytes(b"not really a program")
    return path


@pytest.fixture
def apk(tmp_path: Path) -> Path:
    path = tmp_path / "app-release.apk"
    path.write_bytes(b"PK fake apk")
    return path


def test_run_in_app_installs_pushes_starts_polls_pulls(
    tmp_path: Path, pte: Path, apk: Path
) -> None:
    phone = ScriptedPhone(tmp_path, delay=2)
    outcome = app.run_in_app(
        phone, pte, app.AppRunConfig(input_shape=(1, 3, 64, 64)), apk=apk, sleep=lambda s: None
    )
    assert outcome.result.artifact_sha256 == hashlib.sha256(pte.read_bytes()).hexdigest()
    assert outcome.start.total_time_ms == 412
    kinds = [shlex.split(c)[0] for c in phone.commands]
    assert kinds[:5] == ["dumpsys", "pm", "chmod", "rm", "am"]
    assert phone.commands[-1] == "am force-stop org.mobilenetdeploy.bench"
    assert phone.polls == 3


def test_installed_app_of_this_version_is_not_reinstalled(
    tmp_path: Path, pte: Path, apk: Path
) -> None:
    phone = ScriptedPhone(tmp_path, version=app.APP_VERSION)
    app.run_in_app(phone, pte, app.AppRunConfig(), apk=apk, sleep=lambda s: None)
    assert not any(c.startswith("pm install") for c in phone.commands)


def test_app_failure_is_one_line_and_the_app_is_stopped(tmp_path: Path, pte: Path) -> None:
    phone = ScriptedPhone(tmp_path, behaviour="error")
    with pytest.raises(app.AppError, match="error 32"):
        app.run_in_app(phone, pte, app.AppRunConfig(), sleep=lambda s: None)
    assert phone.commands[-1].startswith("am force-stop")


def test_app_that_never_answers_times_out(tmp_path: Path, pte: Path) -> None:
    phone = ScriptedPhone(tmp_path, behaviour="hang")
    ticks = iter(range(0, 10_000, 10))
    with pytest.raises(DeviceTimeoutError, match="logcat"):
        app.run_in_app(
            phone,
            pte,
            app.AppRunConfig(),
            timeout_s=60,
            sleep=lambda s: None,
            clock=lambda: float(next(ticks)),
        )
    assert phone.commands[-1].startswith("am force-stop")


def test_missing_apk_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(app.AppNotBuiltError, match="assembleRelease"):
        app.default_apk(tmp_path)


def test_kotlin_sources_are_complete() -> None:
    """The app's sources exist and hold no placeholder bodies."""
    root = Path(__file__).resolve().parents[2] / "android_app"
    sources = list(root.rglob("*.kt")) + list(root.rglob("*.kts"))
    assert len(sources) >= 4
    for source in sources:
        text = source.read_text()
        assert "TODO" not in text and "NotImplementedError" not in text, source
