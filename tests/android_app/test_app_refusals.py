"""App mode when a phone says no: `pm install` and `am start` failures print the tool's own words
(and a fix only where the failure code tells one), against the simulated phone's pm and am."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.android import app
from deploy.devices.android import AndroidDevice
from deploy.devices.simulator import SimulatedDevice

Start = Callable[..., SimulatedDevice]
Connect = Callable[..., AndroidDevice]


@pytest.fixture
def apk(tmp_path: Path) -> Path:
    path = tmp_path / "app-release.apk"
    path.write_bytes(b"PK\x03\x04 not really an app")
    return path


def test_install_refused_over_usb_says_pms_words_and_the_real_fix(
    start_phone: Start, connect: Connect, apk: Path
) -> None:
    phone = connect(start_phone(profile="android13-vendor").serial)
    with pytest.raises(app.AppError) as failure:
        app.install_app(phone, apk)
    message = str(failure.value)
    assert (
        "pm install said 'Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]'"
        in (message)
    )
    assert "'Install via USB' in Developer options" in message
    assert "uninstall" not in message  # the old, misleading hint
    assert "\n" not in message


def test_other_install_failures_keep_pms_words_without_a_made_up_fix(
    start_phone: Start, connect: Connect, apk: Path
) -> None:
    phone = connect(start_phone().serial)
    with pytest.raises(app.AppError) as failure:
        app.install_app(phone, apk)
    message = str(failure.value)
    assert "INSTALL_FAILED_ABORTED: this simulated phone cannot install apps" in message
    assert "uninstall" not in message
    assert app.install_failure(
        "Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package x signatures do not match]\n", "a.apk"
    ).endswith(": uninstall the old app (`adb uninstall org.mobilenetdeploy.bench`)")


def test_am_start_of_a_missing_app_says_ams_words(
    start_phone: Start, connect: Connect, tmp_path: Path
) -> None:
    phone = connect(start_phone().serial)
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"not a program")
    with pytest.raises(app.AppError) as failure:
        app.run_in_app(phone, pte, app.AppRunConfig(), sleep=lambda _s: None)
    message = str(failure.value)
    assert message.startswith("am start failed: Error type 3 / Error: Activity class ")
    assert "{org.mobilenetdeploy.bench/org.mobilenetdeploy.bench.BenchActivity} does not exist" in (
        message
    )
    assert "is the app installed?" in message
