"""ADB authentication against the simulated phone: known key, accepted key, refused key."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.devices.android import AndroidDevice
from deploy.devices.errors import DeviceUnauthorizedError
from deploy.devices.keys import ensure_key, public_key_text, vendor_key_paths
from deploy.devices.simulator import Faults, SimulatedDevice

Start = Callable[..., SimulatedDevice]
Connect = Callable[..., AndroidDevice]


def test_known_key_connects_without_a_prompt(
    start_phone: Start, connect: Connect, adb_key: Path, notices: list[str]
) -> None:
    phone = start_phone(auth="keys", known_keys=[adb_key.with_name("adbkey.pub").read_text()])
    assert connect(phone.serial).shell("echo ok").output == "ok\n"
    assert notices == []


def test_new_key_is_accepted_after_the_prompt(
    start_phone: Start, connect: Connect, notices: list[str]
) -> None:
    phone = start_phone(auth="accept")
    assert phone.known_keys == []
    connect(phone.serial).close()
    assert len(notices) == 1 and "accept the 'Allow USB debugging?' prompt" in notices[0]
    assert len(phone.known_keys) == 1
    connect(phone.serial)  # now a known key: no second prompt
    assert len(notices) == 1


@pytest.mark.parametrize("auth", ["refuse", "keys"])
def test_refused_key_is_a_clear_error(start_phone: Start, connect: Connect, auth: str) -> None:
    phone = start_phone(auth=auth)
    start = time.monotonic()
    with pytest.raises(DeviceUnauthorizedError, match="refused this computer's key"):
        connect(phone.serial)
    assert time.monotonic() - start < 2


def test_unanswered_prompt_times_out_with_advice(start_phone: Start, connect: Connect) -> None:
    phone = start_phone(faults=Faults(unauthorized=True))
    start = time.monotonic()
    with pytest.raises(DeviceUnauthorizedError, match="tap Allow"):
        connect(phone.serial, auth_timeout_s=1.0)
    assert time.monotonic() - start < 3


def test_key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_phone: Start) -> None:
    key = ensure_key()  # ~/.android/adbkey under the test's private HOME
    assert key == Path.home() / ".android" / "adbkey"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.with_name("adbkey.pub").read_text().split()[0] == public_key_text(key).split()[0]
    vendor_dir = tmp_path / "vendor"
    vendor_dir.mkdir()
    vendor = ensure_key(vendor_dir / "ci.adb_key")
    vendor.with_name("ci.adb_key.pub").unlink()  # a vendor key may come without its .pub
    monkeypatch.setenv("ADB_VENDOR_KEYS", str(vendor_dir))
    assert vendor_key_paths() == [vendor]
    # a phone that only knows the vendor key lets us in through ADB_VENDOR_KEYS
    phone = start_phone(auth="keys", known_keys=[public_key_text(vendor)])
    with AndroidDevice.connect(phone.serial, connect_timeout_s=3, auth_timeout_s=2) as device:
        assert device.shell("true").exit_code == 0
