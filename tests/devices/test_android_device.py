"""Our Android layer (adb-shell underneath) against the simulated phone: files, shell, info."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.devices.android import AndroidDevice
from deploy.devices.base import DEVICE_ROOT
from deploy.devices.errors import DeviceBusyError, DeviceCommandError, UnsafePathError
from deploy.devices.simulator import SIMULATOR_MODEL, SimulatedDevice


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_and_pull_20mb_keep_sha256(
    phone: AndroidDevice, simulator: SimulatedDevice, tmp_path: Path
) -> None:
    source = tmp_path / "model.pte"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    result = phone.push(source)
    assert result.remote == f"{DEVICE_ROOT}/model.pte" and not result.skipped
    on_device = simulator.host_path(result.remote)
    assert _sha(on_device) == _sha(source) == result.sha256
    back = phone.pull(result.remote, tmp_path / "back" / "model.pte")
    assert _sha(back) == result.sha256
    assert sorted(p.name for p in back.parent.iterdir()) == ["model.pte"]  # no temp files left


def test_unchanged_push_is_skipped(
    phone: AndroidDevice, simulator: SimulatedDevice, tmp_path: Path
) -> None:
    source = tmp_path / "runner"
    source.write_bytes(b"\x7fELF" + os.urandom(300_000))
    source.chmod(0o755)
    first = phone.push(source)
    again = phone.push(source)
    assert not first.skipped and again.skipped
    assert os.access(simulator.host_path(first.remote), os.X_OK)
    source.write_bytes(b"\x7fELF" + os.urandom(300_000))
    assert not phone.push(source).skipped
    assert _sha(simulator.host_path(first.remote)) == _sha(source)


def test_push_many_keeps_names_and_skips(phone: AndroidDevice, tmp_path: Path) -> None:
    files = []
    for name in ("a.pte", "b.pte"):
        (tmp_path / name).write_bytes(name.encode() * 1000)
        files.append(tmp_path / name)
    assert [r.skipped for r in phone.push_many(files)] == [False, False]
    results = phone.push_many({files[0]: "bundle/a.pte", files[1]: "b.pte"})
    assert [r.skipped for r in results] == [False, True]
    assert results[0].remote == f"{DEVICE_ROOT}/bundle/a.pte"


def test_exit_codes_and_output(phone: AndroidDevice) -> None:
    assert phone.shell("true").exit_code == 0
    assert phone.shell("false").exit_code == 1
    result = phone.shell("echo out; echo err >&2; exit 7")
    assert (result.exit_code, result.output) == (7, "out\nerr\n")
    assert phone.shell("printf abc").output == "abc"
    with pytest.raises(DeviceCommandError, match="exited with status 3"):
        phone.shell("echo boom; exit 3", check=True)


def test_output_streams_while_the_command_runs(phone: AndroidDevice) -> None:
    seen: list[tuple[float, str]] = []
    start = time.monotonic()
    result = phone.shell(
        "for i in 1 2 3; do echo line$i; sleep 0.3; done",
        timeout_s=10,
        on_output=lambda text: seen.append((time.monotonic() - start, text)),
    )
    assert "".join(text for _, text in seen) == result.output == "line1\nline2\nline3\n"
    assert seen[0][0] < 0.5  # the first line arrived long before the command ended
    assert result.seconds >= 0.9


def test_commands_run_on_this_host_inside_the_sandbox(
    phone: AndroidDevice, simulator: SimulatedDevice
) -> None:
    phone.shell(f"mkdir -p {DEVICE_ROOT} && echo hi > {DEVICE_ROOT}/note", check=True)
    assert (simulator.tmp_dir / "mobilenet_deploy" / "note").read_text() == "hi\n"
    assert phone.shell("getprop ro.product.model").output.strip() == SIMULATOR_MODEL


def test_unsafe_names_are_refused(phone: AndroidDevice, tmp_path: Path) -> None:
    good = tmp_path / "ok.bin"
    good.write_bytes(b"x")
    for remote in ("a;rm -rf x", "$(reboot)", "../escape", "/etc/passwd", "has space", "-rf"):
        with pytest.raises(UnsafePathError):
            phone.push(good, remote)
    bad = tmp_path / "bad`name`.bin"
    bad.write_bytes(b"x")
    with pytest.raises(UnsafePathError, match="metacharacters"):
        phone.push(bad)


def test_cleanup_removes_our_folder_only(
    phone: AndroidDevice, simulator: SimulatedDevice, tmp_path: Path
) -> None:
    (simulator.tmp_dir / "theirs").write_text("keep")
    source = tmp_path / "f"
    source.write_bytes(b"data")
    phone.push(source)
    phone.cleanup()
    assert not (simulator.tmp_dir / "mobilenet_deploy").exists()
    assert (simulator.tmp_dir / "theirs").read_text() == "keep"


def test_device_info_from_the_simulated_phone(phone: AndroidDevice) -> None:
    facts = phone.info()
    assert facts.is_simulator and facts.model == SIMULATOR_MODEL
    assert facts.abi == "x86_64" and facts.android_version == "14"
    assert facts.clusters == ((0, 1, 2, 3), (4, 5, 6), (7,))
    assert facts.biggest_core == 7 and facts.big_core_mask == "80"
    assert set(facts.governors.values()) == {"schedutil"}
    assert any(zone.temp_c for zone in facts.thermal_zones)
    assert facts.battery_temp_c == 31.0 and facts.charging is False
    assert facts.free_bytes and facts.free_bytes > 0
    # the big-core mask works with taskset on the simulated phone (mapped onto a host core)
    assert phone.shell(f"taskset {facts.big_core_mask} true").exit_code == 0


def test_arm64_profile_and_several_phones_at_once(
    start_phone: Callable[..., SimulatedDevice],
    connect: Callable[..., AndroidDevice],
    tmp_path: Path,
) -> None:
    x86 = start_phone(profile="x86_64")
    arm = start_phone(profile="arm64")
    assert x86.port != arm.port and x86.root != arm.root
    first, second = connect(x86.serial), connect(arm.serial)
    assert second.info().abi == "arm64-v8a" and first.info().abi == "x86_64"
    source = tmp_path / "only-on-arm"
    source.write_bytes(b"1")
    second.push(source)
    assert arm.host_path(f"{DEVICE_ROOT}/only-on-arm").exists()
    assert not x86.host_path(f"{DEVICE_ROOT}/only-on-arm").exists()


def test_exec_wrapper_hook_reaches_taskset(
    start_phone: Callable[..., SimulatedDevice], connect: Callable[..., AndroidDevice]
) -> None:
    from dataclasses import replace

    from deploy.devices.simulator import get_profile

    profile = replace(get_profile("arm64"), exec_wrapper=("env", "WRAPPED=yes"))
    phone = connect(start_phone(profile=profile).serial)
    assert phone.shell("getprop ro.mobilenet_deploy.emulated").output.strip() == "1"
    # a pushed program (named by its path) goes through the wrapper; the phone's own programs
    # (toybox's, found on PATH) run natively, as they must under qemu
    phone.shell(
        "printf '#!/system/bin/sh\\necho wrapped=$WRAPPED\\n' > /data/local/tmp/show && "
        "chmod 755 /data/local/tmp/show",
        check=True,
    )
    assert phone.shell("taskset 80 /data/local/tmp/show").output == "wrapped=yes\n"
    assert phone.shell("taskset 80 sh -c 'echo wrapped=$WRAPPED'").output == "wrapped=\n"


def test_usb_device_held_by_an_adb_server_is_explained() -> None:
    usb1 = pytest.importorskip("usb1")
    device = AndroidDevice("0123456789ABCDEF")
    for error in (usb1.USBErrorAccess(), usb1.USBErrorBusy()):
        with pytest.raises(DeviceBusyError, match="adb kill-server"):
            with device._guard("connect"):
                raise error  # what libusb raises when adb's server holds the interface


def test_no_device_and_several_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.devices import discovery
    from deploy.devices.errors import MultipleDevicesError, NoDeviceError

    monkeypatch.setattr(discovery, "usb_devices", lambda: [])
    with pytest.raises(NoDeviceError, match="--serial"):
        discovery.resolve_serial(None)
    two = [discovery.DeviceEntry(s, "available", "usb") for s in ("A1", "B2")]
    monkeypatch.setattr(discovery, "usb_devices", lambda: two)
    with pytest.raises(MultipleDevicesError, match="A1, B2"):
        discovery.resolve_serial(None)
    monkeypatch.setenv("ANDROID_SERIAL", "B2")
    assert discovery.resolve_serial(None) == "B2"
    assert discovery.resolve_serial("10.0.0.5:5555") == "10.0.0.5:5555"
    assert discovery.split_tcp_serial("10.0.0.5:5555") == ("10.0.0.5", 5555)
    assert discovery.split_tcp_serial("R58M123ABC") is None


def test_long_runs_need_their_timeouts(phone: AndroidDevice) -> None:
    from deploy.devices.errors import DeviceTimeoutError

    # a command quiet for longer than the default 10 s of adb-shell would pass with its own budget;
    # here a short idle timeout must fail fast, and a long total one must let a slow command finish
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError):
        phone.shell("sleep 3; echo late", timeout_s=30, idle_timeout_s=0.5)
    assert time.monotonic() - start < 2
    assert phone.shell("sleep 1.2; echo done", timeout_s=5).output == "done\n"
    with pytest.raises(DeviceTimeoutError, match="still running after 1 s"):
        phone.shell("for i in 1 2 3 4 5 6; do echo tick; sleep 0.3; done", timeout_s=1)
