"""The simulated phone's shell is confined: bubblewrap, with the phone's folder as `/`.

What a command on the phone must not do (read or write this host's files, see or signal its
processes, lead `sync:` out of the folder through a symlink), what must still work (the official
`adb`, the profile's /sys and getprop, one pid view for all shells of a phone), and the refusal to
start without a sandbox unless `unsafe_host_shell=True`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.exceptions import AdbCommandFailureException, PushFailedError

from deploy.devices.android import AndroidDevice
from deploy.devices.errors import SimulatorError
from deploy.devices.simulator import SimulatedDevice, sandbox
from deploy.devices.simulator.process import ROOT
from tests.conftest import require_command

Start = Callable[..., SimulatedDevice]
Connect = Callable[..., AndroidDevice]


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A file of this host, outside every phone's folder."""
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"host secret {secrets.token_hex(8)}\n")
    return secret


@pytest.fixture
def plain_client(simulator: SimulatedDevice, adb_key: Path) -> Iterator[AdbDeviceTcp]:
    """adb-shell as shipped, for raw `sync:` requests our layer would not make."""
    client = AdbDeviceTcp("127.0.0.1", simulator.port, default_transport_timeout_s=5)
    assert client.connect(rsa_keys=[PythonRSASigner.FromRSAKeyPath(str(adb_key))], auth_timeout_s=5)
    yield client
    client.close()


def _host_processes(command: str) -> list[int]:
    """Host pids of the processes whose command line ends with `command` (words split on spaces).

    Ends with, not is: the phone's tools are toybox, which runs an applet inside the process
    that asked for it (`setsid sleep 5` stays `setsid sleep 5`, as on a phone), where GNU's
    setsid exec'd `sleep 5`.
    """
    argv = b"".join(word.encode() + b"\0" for word in command.split())
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if cmdline == argv or cmdline.endswith(b"\0" + argv):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# --- the filesystem ---
def test_a_command_cannot_read_a_host_file(phone: AndroidDevice, host_secret: Path) -> None:
    result = phone.shell(f"cat {host_secret}")
    assert result.exit_code != 0
    assert host_secret.read_text() not in result.output


def test_a_command_cannot_write_on_the_host(phone: AndroidDevice, tmp_path: Path) -> None:
    in_tmp = Path("/tmp") / f"adbsim-escape-{secrets.token_hex(6)}"
    absolute = tmp_path / "written-by-the-phone"
    try:
        phone.shell(f"touch {in_tmp}; echo x > {absolute}; mkdir -p {tmp_path}/made")
        assert not in_tmp.exists()
        assert not absolute.exists() and not (tmp_path / "made").exists()
    finally:
        in_tmp.unlink(missing_ok=True)


def test_root_is_the_phone_folder_and_read_only(
    phone: AndroidDevice, simulator: SimulatedDevice
) -> None:
    listing = phone.shell("ls -a /", check=True).output.split()
    assert sorted(listing) == sorted([".", "..", *os.listdir(simulator.root)])
    assert {"data", "sdcard", "sys", "system"} <= set(listing)
    assert phone.shell("touch /new-file").exit_code != 0
    assert not (simulator.root / "new-file").exists()
    phone.shell("echo kept > /data/local/tmp/note && echo kept > /sdcard/note", check=True)
    assert (simulator.tmp_dir / "note").read_text() == "kept\n"
    assert (simulator.root / "sdcard" / "note").read_text() == "kept\n"


def test_the_shell_sees_only_the_phones_paths(
    phone: AndroidDevice, simulator: SimulatedDevice
) -> None:
    root = str(simulator.root)
    environment = phone.shell("env", check=True).output
    assert root not in environment
    assert "HOME=/data/local/tmp" in environment.splitlines()
    shims = phone.shell("cat /system/bin/getprop /system/bin/taskset", check=True).output
    assert root not in shims
    assert phone.shell("cd && pwd", check=True).output == "/data/local/tmp\n"
    assert phone.shell("getprop ro.product.cpu.abi", check=True).output == "x86_64\n"
    prime = phone.shell("cat /sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq", check=True)
    assert prime.output == f"{simulator.profile.clusters[-1].max_freq_khz}\n"
    zone = phone.shell("cat /sys/class/thermal/thermal_zone0/type", check=True).output
    assert zone == f"{simulator.profile.thermal_zones[0][0]}\n"
    battery = phone.shell("cat /sys/class/power_supply/battery/temp", check=True).output
    assert battery == f"{simulator.profile.battery_temp_decic}\n"
    pinned = phone.shell("taskset 80 sh -c 'grep Cpus_allowed_list /proc/self/status'")
    assert pinned.exit_code == 0 and "Cpus_allowed_list" in pinned.output


def test_arm64_runs_the_exec_wrapper_bound_read_only(start_phone: Start, connect: Connect) -> None:
    require_command("qemu-aarch64-static")
    phone = connect(start_phone(profile="arm64").serial)
    assert phone.shell("getprop ro.mobilenet_deploy.emulated", check=True).output == "1\n"
    version = phone.shell("/system/bin/qemu-aarch64-static --version", check=True).output
    assert "qemu" in version.lower()
    assert phone.shell("echo x > /system/bin/qemu-aarch64-static").exit_code != 0


# --- sync: symlinks planted by a command stay inside the phone ---
def test_symlinks_planted_by_a_command_do_not_lead_sync_out(
    phone: AndroidDevice,
    plain_client: AdbDeviceTcp,
    simulator: SimulatedDevice,
    host_secret: Path,
    tmp_path: Path,
) -> None:
    tmp = "/data/local/tmp"
    phone.shell(
        f"ln -s / {tmp}/host && ln -s {host_secret} {tmp}/secret && "
        f"echo inside > {tmp}/real && ln -s {tmp}/real {tmp}/alias",
        check=True,
    )
    for path in (f"{tmp}/host{host_secret}", f"{tmp}/secret"):
        assert plain_client.stat(path) == (0, 0, 0)
        back = io.BytesIO()
        with pytest.raises(AdbCommandFailureException):
            plain_client.pull(path, back)
        assert host_secret.read_bytes() not in back.getvalue()
    planted = tmp_path / "planted"
    with pytest.raises(PushFailedError):
        plain_client.push(io.BytesIO(b"x"), f"{tmp}/host{planted}", read_timeout_s=3)
    assert not planted.exists()
    alias = io.BytesIO()  # a symlink inside the phone is followed the phone's way
    plain_client.pull(f"{tmp}/alias", alias)
    assert alias.getvalue() == b"inside\n"


# --- processes ---
def test_phone_processes_have_one_pid_view_and_no_host_processes(
    simulator: SimulatedDevice, connect: Connect
) -> None:
    host = subprocess.Popen(["sleep", "321.5"])
    marker = f"sleep {400 + secrets.randbelow(100)}.25"
    runner, killer = connect(simulator.serial), connect(simulator.serial)
    pid_file = "/data/local/tmp/runner.pid"
    statuses: list[int] = []

    def run() -> None:  # as bench-android starts its runner: the pid on the phone, then exec
        command = f"sh -c 'echo $$ > {pid_file}; exec {marker}'"
        statuses.append(runner.shell(command, timeout_s=30).exit_code)

    thread = threading.Thread(target=run, daemon=True)
    try:
        assert killer.shell(f"kill -9 {host.pid}").exit_code != 0
        assert host.poll() is None, "a command on the phone killed a host process"
        thread.start()
        written = simulator.host_path(pid_file)
        deadline = time.monotonic() + 10
        while not (written.exists() and written.read_text().strip()):
            assert time.monotonic() < deadline, "the runner never wrote its pid"
            time.sleep(0.05)
        (host_pid,) = _host_processes(marker)
        assert simulator.host_pid(int(written.read_text())) == host_pid
        killer.shell(f"kill -9 $(cat {pid_file})", check=True)  # another shell, the same pid
        thread.join(10)
        assert statuses == [128 + signal.SIGKILL]
        assert _host_processes(marker) == []
    finally:
        host.kill()
        host.wait()
        if thread.ident is not None:
            thread.join(5)


def test_stopping_the_phone_ends_every_process_on_it(start_phone: Start, connect: Connect) -> None:
    marker = f"sleep {600 + secrets.randbelow(100)}.75"
    simulator = start_phone()
    phone = connect(simulator.serial)
    try:
        phone.shell(f"setsid {marker} </dev/null >/dev/null 2>&1 &", check=True)
        deadline = time.monotonic() + 5
        while not _host_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _host_processes(marker), "the detached process never started"
        simulator.stop()
        deadline = time.monotonic() + 5
        while _host_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _host_processes(marker) == [], "a process outlived its phone"
    finally:
        for pid in _host_processes(marker):  # only on failure: the process this test started
            os.kill(pid, signal.SIGKILL)


# --- the official client ---
@pytest.fixture
def adb(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Debian's `adb` with a private server (own HOME, own port)."""
    adb_path = require_command("adb")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "adb-home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), ANDROID_ADB_SERVER_PORT=str(port))
    env.pop("ANDROID_SERIAL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [adb_path, *args], env=env, capture_output=True, text=True, timeout=30, check=False
        )

    yield run
    run("kill-server")


def test_official_adb_shell_push_pull_in_the_sandbox(
    adb: Callable[..., subprocess.CompletedProcess[str]],
    simulator: SimulatedDevice,
    host_secret: Path,
    tmp_path: Path,
) -> None:
    serial = simulator.serial
    adb("connect", serial)
    assert adb("-s", serial, "wait-for-device").returncode == 0
    listing = adb("-s", serial, "shell", "ls /").stdout.split()
    assert sorted(listing) == sorted(os.listdir(simulator.root))
    leaked = adb("-s", serial, "shell", f"cat {host_secret}")
    assert host_secret.read_text() not in leaked.stdout + leaked.stderr
    source = tmp_path / "blob.bin"
    source.write_bytes(os.urandom(3_000_000))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    pushed = adb("-s", serial, "push", str(source), "/data/local/tmp/blob.bin")
    assert pushed.returncode == 0, pushed.stderr
    on_phone = adb("-s", serial, "shell", "sha256sum /data/local/tmp/blob.bin").stdout
    assert on_phone.split()[0] == digest
    back = tmp_path / "back.bin"
    pulled = adb("-s", serial, "pull", "/data/local/tmp/blob.bin", str(back))
    assert pulled.returncode == 0, pulled.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


# --- no sandbox: refuse, or run unconfined when told to ---
def _fake_bwrap(folder: Path, error: str) -> Path:
    program = folder / "bwrap"
    program.write_text(f"#!/bin/sh\necho '{error}' >&2\nexit 1\n")
    program.chmod(0o755)
    return program


def _start_or_raise(**options: object) -> SimulatorError:
    device = SimulatedDevice(**options)  # type: ignore[arg-type]
    try:
        device.start()
    except SimulatorError as exc:
        return exc
    device.stop()
    pytest.fail("the simulator started without a sandbox")


def test_refuses_to_start_without_bubblewrap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no" / "bwrap"), raising=False)
    folder = tmp_path / "phone"
    error = str(_start_or_raise(sandbox=folder))
    assert "\n" not in error
    assert "bubblewrap is not installed" in error and "apt-get install bubblewrap" in error
    assert "--unsafe-host-shell" in error


def test_refuses_to_start_when_bubblewrap_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_bwrap(tmp_path, "bwrap: No permissions to create a new namespace")
    monkeypatch.setattr(sandbox, "BWRAP", str(fake), raising=False)
    error = str(_start_or_raise())
    assert "\n" not in error
    assert "bwrap: No permissions to create a new namespace" in error
    assert "--unsafe-host-shell" in error


def test_command_line_refuses_in_one_line_without_bubblewrap(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty), PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "deploy.devices.simulator", "--port", "0"]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the simulator started (and served) without a sandbox")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot confine the simulated phone's shell commands")
    assert "apt-get install bubblewrap" in line and "--unsafe-host-shell" in line


def test_unsafe_host_shell_starts_without_bubblewrap_and_warns(
    monkeypatch: pytest.MonkeyPatch,
    start_phone: Start,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-not-installed", raising=False)
    with caplog.at_level(logging.WARNING, logger="deploy.devices.simulator"):
        simulator = start_phone(unsafe_host_shell=True)
    assert any("UNCONFINED" in record.getMessage() for record in caplog.records)
    phone = connect(simulator.serial)
    assert phone.shell("getprop ro.product.cpu.abi", check=True).output == "x86_64\n"
    phone.shell("echo unsafe > /data/local/tmp/note", check=True)  # paths rewritten, as before
    assert (simulator.tmp_dir / "note").read_text() == "unsafe\n"
