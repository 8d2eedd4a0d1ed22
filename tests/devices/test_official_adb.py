"""Debian's official `adb` client against the simulated phone: connect, shell, push, pull.

Runs a private adb server (own HOME, own server port) so no user adb server is touched.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.devices.keys import ensure_key, public_key_text
from deploy.devices.simulator import SIMULATOR_MODEL, SimulatedDevice
from tests.conftest import require_command

Adb = Callable[..., subprocess.CompletedProcess[str]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def adb(tmp_path: Path) -> Iterator[Adb]:
    adb_path = require_command("adb")
    home = tmp_path / "adb-home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), ANDROID_ADB_SERVER_PORT=str(_free_port()))
    env.pop("ANDROID_SERIAL", None)
    env.pop("ADB_VENDOR_KEYS", None)

    def run(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [adb_path, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    yield run
    run("kill-server", timeout_s=10)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_official_client_connects_shells_pushes_and_pulls(
    adb: Adb, start_phone: Callable[..., SimulatedDevice], tmp_path: Path
) -> None:
    phone = start_phone(auth="accept")
    connected = adb("connect", phone.serial)
    # a new key: adb reports the pending prompt ("failed to authenticate"), then the phone accepts
    assert phone.serial in connected.stdout, connected
    assert adb("-s", phone.serial, "wait-for-device", timeout_s=15).returncode == 0
    listing = adb("devices", "-l").stdout
    assert f"{phone.serial}" in listing and "model:mobilenet_deploy_simulator" in listing
    assert "device product:" in listing

    shell = adb("-s", phone.serial, "shell", "echo hello; getprop ro.product.model")
    assert shell.stdout.splitlines() == ["hello", SIMULATOR_MODEL]

    source = tmp_path / "twenty.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    pushed = adb("-s", phone.serial, "push", str(source), "/data/local/tmp/twenty.bin")
    assert pushed.returncode == 0, pushed.stderr
    assert _sha(phone.host_path("/data/local/tmp/twenty.bin")) == _sha(source)
    back = tmp_path / "back.bin"
    pulled = adb("-s", phone.serial, "pull", "/data/local/tmp/twenty.bin", str(back))
    assert pulled.returncode == 0, pulled.stderr
    assert _sha(back) == _sha(source)


def test_official_client_with_a_known_key(
    adb: Adb, start_phone: Callable[..., SimulatedDevice], tmp_path: Path
) -> None:
    # our key format is adb's: make the private adb server's key ourselves and let the phone know it
    key = ensure_key(tmp_path / "adb-home" / ".android" / "adbkey")
    phone = start_phone(auth="keys", known_keys=[public_key_text(key)])
    assert adb("connect", phone.serial).stdout.startswith("connected to")
    assert adb("-s", phone.serial, "wait-for-device", timeout_s=15).returncode == 0
    assert adb("-s", phone.serial, "shell", "echo ok").stdout == "ok\n"


def test_official_client_on_phones_that_say_no(
    adb: Adb, start_phone: Callable[..., SimulatedDevice], tmp_path: Path
) -> None:
    """Debian's adb against the refusal profiles: mksh and toybox answer it as they answer us."""
    old = start_phone(profile="android9-offline-big-core")
    assert phone_ready(adb, old.serial)
    assert adb("-s", old.serial, "shell", "getprop ro.build.version.sdk").stdout == "28\n"
    refused = adb("-s", old.serial, "shell", "taskset 80 true; echo rc=$?").stdout
    assert "Invalid argument" in refused and refused.endswith("rc=1\n")
    assert adb("-s", old.serial, "shell", "taskset 40 echo pinned").stdout == "pinned\n"
    blind = start_phone(profile="android14-no-temperature")
    assert phone_ready(adb, blind.serial)
    zone = adb("-s", blind.serial, "shell", "cat /sys/class/thermal/thermal_zone0/temp")
    assert "Permission denied" in zone.stdout + zone.stderr
    dump = adb("-s", blind.serial, "shell", "dumpsys battery").stdout
    assert dump.startswith("Permission Denial: can't dump BatteryService")
    source = tmp_path / "blob.bin"
    source.write_bytes(os.urandom(100_000))
    assert adb("-s", blind.serial, "push", str(source), "/data/local/tmp/blob.bin").returncode == 0
    on_phone = adb("-s", blind.serial, "shell", "sha256sum /data/local/tmp/blob.bin").stdout
    assert on_phone.split()[0] == _sha(source)


def phone_ready(adb: Adb, serial: str) -> bool:
    adb("connect", serial)
    return adb("-s", serial, "wait-for-device", timeout_s=15).returncode == 0
