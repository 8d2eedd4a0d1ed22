"""Every injected fault ends in its named one-line error, quickly, with nothing corrupt left."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.devices.android import AndroidDevice
from deploy.devices.base import DEVICE_ROOT
from deploy.devices.errors import DeviceDisconnectedError, DeviceFullError, DeviceTimeoutError
from deploy.devices.simulator import Faults, SimulatedDevice

Start = Callable[..., SimulatedDevice]
Connect = Callable[..., AndroidDevice]


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights.pte"
    path.write_bytes(os.urandom(6 * 1024 * 1024))
    return path


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_connection_dropped_during_push(
    start_phone: Start, connect: Connect, big_file: Path
) -> None:
    phone = start_phone(faults=Faults(drop_after_bytes=2_000_000))
    device = connect(phone.serial)
    start = time.monotonic()
    with pytest.raises(DeviceDisconnectedError) as exc:
        device.push(big_file)
    assert time.monotonic() - start < 3
    assert _one_line(exc).startswith("device disconnected")


def test_connection_dropped_during_pull_leaves_no_file(
    start_phone: Start, connect: Connect, big_file: Path, tmp_path: Path
) -> None:
    phone = start_phone(faults=Faults(drop_after_bytes=3_000_000))
    target = phone.host_path(f"{DEVICE_ROOT}/weights.pte")
    target.parent.mkdir(parents=True)
    target.write_bytes(big_file.read_bytes())
    out_dir = tmp_path / "pulled"
    out_dir.mkdir()
    (out_dir / "weights.pte").write_bytes(b"previous good copy")
    start = time.monotonic()
    with pytest.raises(DeviceDisconnectedError):
        connect(phone.serial).pull("weights.pte", out_dir / "weights.pte")
    assert time.monotonic() - start < 3
    assert [p.name for p in out_dir.iterdir()] == ["weights.pte"]  # no partial or temp file
    assert (out_dir / "weights.pte").read_bytes() == b"previous good copy"


def test_connection_dropped_during_shell(start_phone: Start, connect: Connect) -> None:
    phone = start_phone(faults=Faults(drop_after_bytes=500_000))
    device = connect(phone.serial)
    start = time.monotonic()
    with pytest.raises(DeviceDisconnectedError):
        device.shell("head -c 2000000 /dev/urandom | base64", timeout_s=30)
    assert time.monotonic() - start < 3


def test_disk_full(start_phone: Start, connect: Connect, big_file: Path) -> None:
    phone = start_phone(faults=Faults(disk_full=True))
    device = connect(phone.serial)
    start = time.monotonic()
    with pytest.raises(DeviceFullError) as exc:
        device.push(big_file)
    assert time.monotonic() - start < 3
    assert "no space left on device" in _one_line(exc)
    assert not phone.host_path(f"{DEVICE_ROOT}/weights.pte").exists()
    assert device.shell("echo still usable").exit_code == 0


def test_quota_fills_up(
    start_phone: Start, connect: Connect, big_file: Path, tmp_path: Path
) -> None:
    phone = start_phone(faults=Faults(quota_bytes=8 * 1024 * 1024))
    device = connect(phone.serial)
    small = tmp_path / "small.pte"
    small.write_bytes(os.urandom(3 * 1024 * 1024))
    device.push(small)
    with pytest.raises(DeviceFullError):
        device.push(big_file)


def test_hung_device_times_out(start_phone: Start, connect: Connect, big_file: Path) -> None:
    phone = start_phone(faults=Faults(hang_after_bytes=1_500_000))
    device = connect(phone.serial, io_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError) as exc:
        device.push(big_file)
    assert time.monotonic() - start < 4
    assert "no answer for 1 s" in _one_line(exc)


def test_hung_shell_times_out(start_phone: Start, connect: Connect) -> None:
    phone = start_phone(faults=Faults(hang_after_bytes=1500))  # just after the handshake
    device = connect(phone.serial, io_timeout_s=1.0, connect_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError):
        device.shell("echo hi", timeout_s=1.0)
    assert time.monotonic() - start < 4


def test_latency_and_bandwidth_are_felt(
    start_phone: Start, connect: Connect, tmp_path: Path
) -> None:
    slow = connect(start_phone(faults=Faults(latency_ms=30)).serial)
    start = time.monotonic()
    slow.shell("true")
    assert time.monotonic() - start >= 0.06  # OKAY + WRTE + CLSE each wait 30 ms
    narrow = connect(start_phone(faults=Faults(bandwidth_mb_s=10)).serial)
    payload = tmp_path / "two_mb"
    payload.write_bytes(os.urandom(2_000_000))
    start = time.monotonic()
    narrow.push(payload)
    assert time.monotonic() - start >= 0.18


def test_nothing_listening(connect: Connect) -> None:
    import socket

    from deploy.devices.errors import NoDeviceError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NoDeviceError, match="nothing answers"):
        connect(f"127.0.0.1:{port}")
