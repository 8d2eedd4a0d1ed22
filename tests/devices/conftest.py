"""Fixtures for device tests: an ADB key, simulated phones on random ports, connected devices.

Other test folders can start simulators the same way through `deploy.devices.simulator`
(`simulated_device(...)` in-process, `start_simulator_process(...)` as a child process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.devices.android import AndroidDevice
from deploy.devices.keys import ensure_key
from deploy.devices.simulator import SimulatedDevice
from tests.conftest import require_command


@pytest.fixture(scope="session")
def adb_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private ADB key made for this test session (never the user's ~/.android/adbkey)."""
    return ensure_key(tmp_path_factory.mktemp("android") / "adbkey")


@pytest.fixture(autouse=True)
def _private_adb_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's keys, vendor keys or chosen device."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ADB_VENDOR_KEYS", raising=False)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)


@pytest.fixture
def start_phone() -> Iterator[Callable[..., SimulatedDevice]]:
    """Factory: start a simulated phone on a random port (options as SimulatedDevice)."""
    started: list[SimulatedDevice] = []

    def start(**options: object) -> SimulatedDevice:
        if not options.get("unsafe_host_shell"):
            require_command("bwrap")
            require_command("mksh")  # the phone's shell
            require_command("toybox")  # the phone's tools
        device = SimulatedDevice(**options).start()  # type: ignore[arg-type]
        started.append(device)
        return device

    yield start
    for device in started:
        device.stop()


@pytest.fixture
def simulator(start_phone: Callable[..., SimulatedDevice]) -> SimulatedDevice:
    """A healthy x86_64 simulated phone that accepts any key."""
    return start_phone()


@pytest.fixture
def simulator_serial(simulator: SimulatedDevice) -> str:
    return simulator.serial


@pytest.fixture
def notices() -> list[str]:
    """What the device layer told the user (e.g. to accept the prompt)."""
    return []


@pytest.fixture
def connect(adb_key: Path, notices: list[str]) -> Iterator[Callable[..., AndroidDevice]]:
    """Factory: connect our Android layer to a serial with short timeouts and the session key."""
    opened: list[AndroidDevice] = []

    def open_device(serial: str, **options: object) -> AndroidDevice:
        settings: dict[str, object] = {
            "key_path": adb_key,
            "connect_timeout_s": 3.0,
            "auth_timeout_s": 3.0,
            "io_timeout_s": 5.0,
            "notify": notices.append,
        }
        settings.update(options)
        device = AndroidDevice.connect(serial, **settings)
        opened.append(device)
        return device

    yield open_device
    for device in opened:
        device.close()


@pytest.fixture
def phone(simulator: SimulatedDevice, connect: Callable[..., AndroidDevice]) -> AndroidDevice:
    """Our Android layer connected to the healthy simulated phone."""
    return connect(simulator.serial)
