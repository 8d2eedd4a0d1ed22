"""`python -m bench bench-android`: against a simulator by serial, Ctrl-C then resume, no device,
and the pure helpers (zone choice, cooldown, throttling, the device command, crash parsing)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.android import cli as android_cli
from bench.android import phone
from bench.cli import main
from bench.errors import RunnerError
from bench.runner.run import RunnerConfig
from bench.store import Store
from deploy.devices.base import ThermalZone
from tests.android.test_session import _runners_in

ROOT = Path(__file__).resolve().parents[2]
FAST_ARGS = [
    "--rounds",
    "1",
    "--warmup",
    "1",
    "--iterations",
    "5",
    "--min-time",
    "0",
    "--max-time",
    "0",
]
FAST_ARGS += ["--target-precision", "0", "--cool-to", "90", "--cool-max-wait", "1"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    env.pop("ANDROID_SERIAL", None)
    return env


def test_cli_against_a_simulator(start_phone, tiny_pte, tmp_path, capsys, monkeypatch):
    sim = start_phone()
    store = tmp_path / "bench.sqlite"
    args = ["bench-android", "--serial", sim.serial, "--store", str(store), *FAST_ARGS]
    args += ["--pte", str(tiny_pte["fp32"]), "--all-cores"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "provenance simulator" in out and "all cores ms" in out and "stored in" in out
    assert f"[{sim.serial}] deploying the x86_64 runner" in err
    with Store.open(store) as db:
        runs = db.runs()
        assert [(r.threads, r.core_mask) for r in runs] == [(1, "80"), (8, "ff")]


def test_no_device_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(android_cli.discovery, "usb_devices", lambda: [])
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"x")
    assert main(["bench-android", "--pte", str(pte), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "USB debugging" in err and "adb tcpip 5555" in err and "--serial" in err


def test_ctrl_c_keeps_finished_runs_kills_the_runner_and_resumes(start_phone, tiny_pte, tmp_path):
    sim = start_phone()
    store = tmp_path / "bench.sqlite"
    slow = [
        "--rounds",
        "1",
        "--warmup",
        "1",
        "--iterations",
        "5",
        "--min-time",
        "1.5",
        "--max-time",
        "2",
    ]
    slow += ["--target-precision", "0", "--cool-to", "90"]
    argv = [sys.executable, "-m", "bench", "bench-android", "--serial", sim.serial]
    argv += ["--store", str(store), *slow, "--pte", str(tiny_pte["fp32"]), str(tiny_pte["int8"])]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:  # wait until the second artifact is running
            lines.append(line)
            if "[2/2]" in line and "running on mask" in line:
                break
        time.sleep(0.5)
        assert _runners_in(sim.root), "the second runner should be running now"
        proc.send_signal(signal.SIGINT)
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest and "no runner left on the device" in rest
    assert _runners_in(sim.root) == []
    with Store.open(store) as db:
        assert [r.status for r in db.runs()] == ["ok"]  # the finished run only

    # the next session resumes: the measured artifact is skipped, the other one measured
    done = subprocess.run(argv, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "1 run(s) already in the store" in done.stderr
    with Store.open(store) as db:
        assert [r.status for r in db.runs()] == ["ok", "ok"]
        assert len({r.artifact_sha256 for r in db.runs()}) == 2


def test_failures_exit_non_zero_and_say_what(start_phone, tiny_pte, tmp_path, capsys):
    sim = start_phone()
    missing = tmp_path / "gone.pte"
    missing.write_bytes(b"not a program")
    args = ["bench-android", "--serial", sim.serial, "--store", str(tmp_path / "s.sqlite")]
    args += [*FAST_ARGS, "--pte", str(missing)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "1 failure(s):" in captured.err
    assert "gone.pte" in captured.err


# -- pure helpers -----------------------------------------------------------------------------


def test_hottest_cpu_zone_ignores_battery_and_skin():
    zones = [
        ThermalZone("battery", 60.0),
        ThermalZone("skin-msm-therm", 50.0),
        ThermalZone("cpu-1-0-usr", 41.0),
        ThermalZone("cpuss-0-usr", 44.5),
        ThermalZone("gpuss-0-usr", 70.0),
    ]
    assert phone.hottest_cpu_zone(zones) == 44.5
    assert phone.hottest_cpu_zone([ThermalZone("battery", 30.0)]) is None
    assert phone.hottest_cpu_zone([ThermalZone("thermal-a", 39.0)]) == 39.0


def test_cooldown_is_bounded_and_records_what_happened():
    now = [0.0]
    temps = iter([60.0, 55.0, 50.0, 44.0])

    def wait(seconds: float) -> bool:
        now[0] += seconds
        return False

    cool = phone.cooldown(
        lambda: next(temps), 45.0, 100.0, poll_s=2, wait=wait, clock=lambda: now[0]
    )
    assert cool.reached and cool.start_c == 60.0 and cool.end_c == 44.0 and cool.waited_s == 6.0
    hot = phone.cooldown(lambda: 80.0, 45.0, 5.0, poll_s=2, wait=wait, clock=lambda: now[0])
    assert (
        not hot.reached and hot.waited_s == pytest.approx(5.0) and "NOT reached" in hot.describe()
    )
    cold = phone.cooldown(lambda: 30.0, 45.0, 5.0, wait=wait)
    assert cold.reached and cold.waited_s == 0
    stopped = phone.cooldown(lambda: 80.0, 45.0, 50.0, wait=lambda s: True)
    assert not stopped.reached


def test_throttle_warnings():
    before = phone.Snapshot(40.0, 3_000_000, 3_000_000)
    assert phone.throttle_warnings(before, before, 3_000_000, 5.0) == []
    hot = phone.Snapshot(52.0, 2_400_000, 2_400_000)
    warnings = phone.throttle_warnings(before, hot, 3_000_000, 5.0)
    assert any("rose 40.0 -> 52.0" in w for w in warnings)
    assert any("cap dropped 3000 -> 2400 MHz" in w for w in warnings)
    capped = phone.Snapshot(40.0, 2_000_000, None)
    assert "capped at 2000 of 3000 MHz" in phone.throttle_warnings(capped, capped, 3_000_000, 5)[0]


def test_run_command_quotes_everything_and_pins():
    config = RunnerConfig(warmup=2, iterations=7)
    command = phone.run_command(
        "/data/local/tmp/mobilenet_deploy/bench-arm64-v8a",
        ("./ld-linux-aarch64.so.1", "--library-path", "./lib", "./bench_runner"),
        "models/ab.pte",
        config,
        "80",
        ".runner-1.pid",
    )
    assert command.startswith("cd /data/local/tmp/mobilenet_deploy/bench-arm64-v8a && ")
    tokens = shlex.split(command)
    inner = tokens[tokens.index("-c") + 1].rstrip(";")
    assert "exec taskset 80 ./ld-linux-aarch64.so.1 --library-path ./lib ./bench_runner" in inner
    assert "--model models/ab.pte --threads 1 --warmup 2 --iterations 7" in inner
    hostile = phone.run_command("/d", ("./r",), "m; rm -rf /", config, "80", "p")
    assert "'m; rm -rf /'" in hostile


def test_parse_run_names_crashes_and_failures():
    with pytest.raises(RunnerError, match=r"crashed \(SIGSEGV\)"):
        phone.parse_run(139, "Segmentation fault\n", "m")
    with pytest.raises(RunnerError, match=r"exit 1.*error: bad program"):
        phone.parse_run(1, "error: bad program\n", "m")
    with pytest.raises(RunnerError, match="no result JSON"):
        phone.parse_run(0, "hello\n", "m")
    with pytest.raises(RunnerError, match="runner result"):
        phone.parse_run(0, '{"schema_version": 1}\n', "m")
