"""`python -m deploy devices` and `python -m deploy simulator` as users run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.devices import cli as devices_cli
from deploy.devices.simulator import SimulatedDevice

ROOT = Path(__file__).resolve().parents[2]


def _run(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    devices_cli.add_arguments(parser)
    return devices_cli.run(parser.parse_args(argv))


def test_devices_lists_model_and_state(
    simulator: SimulatedDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["--serial", simulator.serial]) == 0
    out = capsys.readouterr().out
    assert f"{simulator.serial}\tdevice  model:mobilenet-deploy_simulator  transport:tcp" in out


def test_devices_uses_android_serial(
    simulator: SimulatedDevice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANDROID_SERIAL", simulator.serial)
    assert _run(["--info"]) == 0
    out = capsys.readouterr().out
    assert "big core cpu7" in out and "(mask 80)" in out and "clusters: 0,1,2,3 | 4,5,6 | 7" in out


def test_several_devices_and_an_offline_one(
    start_phone: object, capsys: pytest.CaptureFixture[str]
) -> None:
    first = start_phone()  # type: ignore[operator]
    second = start_phone(auth="refuse")  # type: ignore[operator]
    assert _run(["--serial", first.serial, "--serial", second.serial, "--timeout-s", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{first.serial}\tdevice")
    assert lines[1].startswith(f"{second.serial}\tunauthorized")


def test_cleanup_flag(simulator: SimulatedDevice, capsys: pytest.CaptureFixture[str]) -> None:
    ours = simulator.tmp_dir / "mobilenet_deploy"
    ours.mkdir()
    (ours / "model.pte").write_bytes(b"x")
    assert _run(["--serial", simulator.serial, "--cleanup"]) == 0
    assert not ours.exists()
    assert "removed /data/local/tmp/mobilenet_deploy" in capsys.readouterr().out


def test_simulator_entry_point_prints_its_serial_and_stops() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.devices.simulator", "--port", "0", "--profile", "arm64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        serial = proc.stdout.readline().strip()
        assert serial.startswith("127.0.0.1:") and int(serial.split(":")[1]) > 0
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "profile arm64" in err
