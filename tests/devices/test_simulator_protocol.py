"""The simulator's wire protocol through adb-shell as shipped (version 0x01000000, checksums on)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from deploy.devices.simulator import SimulatedDevice, start_simulator_process


@pytest.fixture
def plain_client(simulator: SimulatedDevice, adb_key: Path) -> Iterator[AdbDeviceTcp]:
    client = AdbDeviceTcp("127.0.0.1", simulator.port, default_transport_timeout_s=5)
    assert client.connect(rsa_keys=[PythonRSASigner.FromRSAKeyPath(str(adb_key))], auth_timeout_s=5)
    yield client
    client.close()


def test_shell_exec_and_sync_with_checksums(
    plain_client: AdbDeviceTcp, simulator: SimulatedDevice
) -> None:
    assert plain_client.shell("echo $((6 * 7))") == "42\n"
    assert plain_client.exec_out("printf raw") == "raw"
    data = os.urandom(3_000_000)
    plain_client.push(io.BytesIO(data), "/data/local/tmp/sub/blob", mtime=1_700_000_000)
    assert simulator.host_path("/data/local/tmp/sub/blob").read_bytes() == data
    mode, size, mtime = plain_client.stat("/data/local/tmp/sub/blob")
    assert (size, mtime) == (len(data), 1_700_000_000)
    assert [entry.filename for entry in plain_client.list("/data/local/tmp/sub")] == [
        bytearray(b"blob")
    ]
    back = io.BytesIO()
    plain_client.pull("/data/local/tmp/sub/blob", back)
    assert hashlib.sha256(back.getvalue()).digest() == hashlib.sha256(data).digest()
    assert plain_client.stat("/data/local/tmp/missing") == (0, 0, 0)


def test_writes_outside_tmp_are_refused(
    plain_client: AdbDeviceTcp, simulator: SimulatedDevice
) -> None:
    from adb_shell.exceptions import PushFailedError

    with pytest.raises(PushFailedError):
        plain_client.push(io.BytesIO(b"x"), "/system/bin/evil", read_timeout_s=3)
    assert not simulator.host_path("/system/bin/evil").exists()


def test_simulator_as_a_child_process(adb_key: Path) -> None:
    with start_simulator_process(profile="arm64") as phone:
        client = AdbDeviceTcp("127.0.0.1", phone.port, default_transport_timeout_s=5)
        client.connect(rsa_keys=[PythonRSASigner.FromRSAKeyPath(str(adb_key))], auth_timeout_s=5)
        assert client.shell("getprop ro.product.cpu.abi") == "arm64-v8a\n"
        client.close()
