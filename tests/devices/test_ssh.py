"""SshDevice against a real OpenSSH server on 127.0.0.1 (tests/devices/sshd.py): this machine is
the board. Connect and facts, pushes (skipped, verified, executable), pulls, exit statuses,
timeouts and Ctrl-C that kill the remote command, refused keys, unknown and changed host keys,
connections dropped mid-push and mid-run, unsafe names, and the choice of our folder.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.devices.errors import (
    DeviceCommandError,
    DeviceDisconnectedError,
    DeviceFolderError,
    DeviceTimeoutError,
    HostKeyChangedError,
    HostKeyUnknownError,
    PushVerificationError,
    SshAuthError,
    UnsafePathError,
)
from deploy.devices.ssh import SshDevice, fingerprint, parse_linux_info, summary
from tests.devices.sshd import Sshd, process_gone, write_key

_IO_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One server for the tests that leave it listening."""
    server = Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A server of this test's own (it may be restarted or have its connections killed)."""
    server = Sshd(tmp_path / "sshd").start()
    yield server
    server.stop()


def connect(server: Sshd, root: Path | str | tuple[str, ...], **options: object) -> SshDevice:
    options.setdefault("key_path", server.user_key)
    options.setdefault("known_hosts", server.known_hosts)
    return SshDevice.connect(
        server.target,
        server.port,
        connect_timeout_s=5.0,
        io_timeout_s=_IO_TIMEOUT_S,
        device_root=root if isinstance(root, tuple) else str(root),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def board(sshd: Sshd, tmp_path: Path) -> Iterator[SshDevice]:
    device = connect(sshd, tmp_path / "board")
    yield device
    device.close()


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.strip() == text and text, repr(text)
    return text


def wait_gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def kill_quietly(pid: int | None) -> None:
    if pid is not None:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


# --- connect and facts ---
def _host_cores() -> dict[int, int | None]:
    """Max frequency of each core a command may use here (online, in our affinity)."""
    base = Path("/sys/devices/system/cpu")
    online_text = (base / "online").read_text().strip()
    online: set[int] = set()
    for part in online_text.split(","):
        lo, _, hi = part.partition("-")
        online.update(range(int(lo), int(hi or lo) + 1))
    cores: dict[int, int | None] = {}
    for cpu in sorted(online & os.sched_getaffinity(0)):  # sshd's commands inherit our CPUs
        max_file = base / f"cpu{cpu}" / "cpufreq" / "cpuinfo_max_freq"
        cores[cpu] = int(max_file.read_text()) if max_file.exists() else None
    return cores


def _os_pretty_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def test_connect_and_info_match_this_machine(board: SshDevice, sshd: Sshd, tmp_path: Path) -> None:
    assert board.serial == f"{sshd.user}@127.0.0.1:{sshd.port}"
    assert board.root == str(tmp_path / "board") and (tmp_path / "board").is_dir()
    facts = board.info()
    expected_abi = {"x86_64": "x86_64", "aarch64": "arm64-v8a"}[platform.machine()]
    assert facts.abi == expected_abi and facts.abis[0] == expected_abi
    host_cores = _host_cores()
    assert {c.cpu: c.max_freq_khz for c in facts.usable_cores} == host_cores
    assert facts.allowed_cpus is None or set(facts.allowed_cpus) == os.sched_getaffinity(0)
    fastest = max(host_cores, key=lambda cpu: (host_cores[cpu] or 0, cpu))
    assert facts.biggest_core == fastest
    assert facts.big_core_mask == format(1 << fastest, "x")
    assert all(isinstance(c.cluster, int) for c in facts.cores)
    zones = list(Path("/sys/class/thermal").glob("thermal_zone*"))
    assert len(facts.thermal_zones) == len(zones)
    assert facts.properties["linux.hostname"] == socket.gethostname()
    assert facts.properties.get("linux.os", "") == _os_pretty_name()
    assert facts.properties["linux.kernel"] == platform.release()
    usage = shutil.disk_usage(board.root)
    assert isinstance(facts.free_bytes, int)
    assert abs(facts.free_bytes - usage.free) < max(usage.total // 20, 1 << 30)
    assert isinstance(facts.model, str) and facts.model
    assert facts.android_version == "" and facts.sdk is None and not facts.is_simulator
    assert expected_abi in summary(facts) and f"cpu{fastest}" in summary(facts)


_FAKE_BOARD = """\
@@uname
aarch64
6.6.31+rpt-rpi-v8
@@bits
32
@@hostname
pi5
@@os
PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"
@@online
0-7
@@affinity
pid 812's current affinity mask: 1ff
@@cpus
0|1800000|schedutil|0-3||1024|1
1|1800000|schedutil|0-3|1|1024|1
2|1800000|schedutil|0-3|1|1024|1
3|1800000|schedutil|0-3|1|1024|1
4|2400000|performance|4-5|1|1024|1
5|2400000|performance|4-5|1|1024|1
6|2400000|performance|6-7|1|1024|1
7|2400000|performance|6-7|1|1024|1
8|3000000|performance|8|0|1024|1
@@cpuinfo
Hardware	: BCM2835
Model	: Raspberry Pi 5 Model B Rev 1.0
@@dt_model
Raspberry Pi 5 Model B Rev 1.0
@@dt_compatible
raspberrypi,5-model-b
brcm,bcm2712
@@dmi
sys_vendor|
product_name|
@@thermal
thermal_zone0|cpu-thermal|51350
@@df
Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/mmcblk0p2    30000000 1000000  28000000       4% /
@@end
"""


def test_facts_parsing_picks_the_fastest_online_core() -> None:
    facts = parse_linux_info("pi@pi5:22", _FAKE_BOARD)
    # cpu8 is fastest but offline; 4-7 tie at 2.4 GHz: the highest id wins, as on phones
    assert [c.cpu for c in facts.cores] == list(range(9))
    assert facts.online_cpus == tuple(range(8)) and facts.allowed_cpus == tuple(range(9))
    assert facts.biggest_core == 7 and facts.big_core_mask == "80"
    assert facts.clusters == ((0, 1, 2, 3), (4, 5), (6, 7), (8,))
    assert facts.governors[0] == "schedutil" and facts.governors[7] == "performance"
    assert facts.abi == "arm64-v8a" and facts.abis == ("arm64-v8a", "armeabi-v7a")
    assert facts.model == "Raspberry Pi 5 Model B Rev 1.0"
    assert facts.manufacturer == "raspberrypi" and facts.soc == "brcm,bcm2712"
    assert facts.hardware == "BCM2835"
    assert facts.thermal_zones[0].name == "cpu-thermal"
    assert facts.thermal_zones[0].temp_c == pytest.approx(51.35)
    assert facts.free_bytes == 28000000 * 1024
    assert facts.properties["linux.os"] == "Raspbian GNU/Linux 12 (bookworm)"


# --- files ---
def test_push_skips_unchanged_keeps_exec_bit_and_pulls(board: SshDevice, tmp_path: Path) -> None:
    runner = tmp_path / "runner"
    runner.write_text("#!/bin/sh\necho hello-from-runner\n")
    runner.chmod(0o755)
    data = tmp_path / "weights.bin"
    data.write_bytes(os.urandom(300_000))
    data.chmod(0o644)
    root = Path(board.root)

    first = board.push_many({runner: None, data: "models/weights.bin"})
    assert [r.skipped for r in first] == [False, False]
    assert first[0].remote == f"{board.root}/runner"
    assert first[1].remote == f"{board.root}/models/weights.bin"
    assert (root / "models" / "weights.bin").read_bytes() == data.read_bytes()
    assert first[1].sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert stat.S_IMODE((root / "runner").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "models" / "weights.bin").stat().st_mode) == 0o644
    result = board.shell(f"cd {board.root} && ./runner", check=True)
    assert result.output == "hello-from-runner\n"

    again = board.push_many([runner])
    assert again[0].skipped and again[0].sha256 == first[0].sha256

    runner.write_text("#!/bin/sh\necho changed\n")
    changed = board.push(runner)
    assert not changed.skipped and board.shell(f"{board.root}/runner").output == "changed\n"
    assert not list(root.rglob("*.part-*")), "temporary files left behind"

    back = board.pull("models/weights.bin", tmp_path / "back")
    assert back.read_bytes() == data.read_bytes()
    with pytest.raises(DeviceCommandError) as error:
        board.pull("missing.bin", tmp_path / "missing")
    assert "no such file" in one_line(error.value)
    assert not (tmp_path / "missing").exists()

    board.cleanup()
    assert not root.exists()
    assert not board.push(runner).skipped and (root / "runner").exists()


def test_push_verification_failure_leaves_nothing(
    board: SshDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "model.pte"
    local.write_bytes(b"program" * 1000)
    monkeypatch.setattr(board, "remote_sha256", lambda paths: {p: "0" * 64 for p in paths})
    with pytest.raises(PushVerificationError) as error:
        board.push(local)
    assert "push again" in one_line(error.value)
    assert not (Path(board.root) / "model.pte").exists()
    assert not list(Path(board.root).glob(".*part-*"))


def test_names_with_shell_metacharacters_are_refused(
    board: SshDevice, sshd: Sshd, tmp_path: Path
) -> None:
    local = tmp_path / "ok.bin"
    local.write_bytes(b"x")
    for remote in ("a;b", "a b", "$(touch pwned)", "../outside", "/etc/passwd", "x/`id`"):
        with pytest.raises(UnsafePathError) as error:
            board.push(local, remote)
        one_line(error.value)
    sneaky = tmp_path / "x$(touch pwned)"
    sneaky.write_bytes(b"x")
    with pytest.raises(UnsafePathError):
        board.push(sneaky)
    with pytest.raises(UnsafePathError):
        board.pull("a;rm -rf ~", tmp_path / "out")
    with pytest.raises(UnsafePathError):
        SshDevice(sshd.target, port=sshd.port, device_root="/tmp/our folder")
    assert not list(Path(board.root).iterdir())
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_device_root_falls_back_from_unusable_folders(sshd: Sshd, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)  # nobody's folder, as another user's /tmp/mobilenet_deploy
    candidates = [str(link), str(foreign)]
    noexec = tmp_path / "noexec"
    noexec.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "noexec,size=1m", "tmpfs", str(noexec)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        if mounted:
            candidates.append(str(noexec / "mobilenet_deploy"))
        with pytest.raises(DeviceFolderError) as error:
            connect(sshd, tuple(candidates))
        text = one_line(error.value)
        assert "not a plain folder" in text and "belongs to another user" in text
        assert ("noexec" in text) == mounted
        good = tmp_path / "good"
        device = connect(sshd, (*candidates, str(good)))
        try:
            assert device.root == str(good)
            assert stat.S_IMODE(good.stat().st_mode) == 0o700
        finally:
            device.close()
    finally:
        if mounted:
            subprocess.run(["umount", str(noexec)], check=False)


# --- commands ---
def test_shell_exit_statuses_and_output(board: SshDevice) -> None:
    assert board.shell("true").exit_code == 0
    assert board.shell("exit 3").exit_code == 3
    streamed: list[str] = []
    result = board.shell("echo out; echo err >&2; exit 5", on_output=streamed.append)
    assert result.exit_code == 5 and result.output == "out\nerr\n"
    assert "".join(streamed) == result.output and "__mobilenet_deploy" not in result.output
    assert board.shell("sh -c 'kill -9 $$'").exit_code == 137
    assert board.shell("printf '%s|' \"a b\" 'c;d'").output == "a b|c;d|"
    with pytest.raises(DeviceCommandError) as error:
        board.shell("echo boom >&2; exit 7", check=True)
    assert "status 7" in one_line(error.value) and "boom" in str(error.value)


def _sleeper(output: str) -> int:
    match = re.search(r"sleeper (\d+)", output)
    assert match, output
    return int(match.group(1))


def test_timeout_kills_the_remote_command(board: SshDevice) -> None:
    seen: list[str] = []
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError) as error:
        board.shell("sleep 30 & echo sleeper $!; wait", timeout_s=1.0, on_output=seen.append)
    assert time.monotonic() - start < 5
    assert "still running after 1 s" in one_line(error.value)
    pid = _sleeper("".join(seen))
    try:
        assert wait_gone(pid), f"the remote sleep {pid} survived the timeout"
    finally:
        kill_quietly(pid)
    # silence has its own bound
    seen.clear()
    with pytest.raises(DeviceTimeoutError) as error:
        board.shell(
            "sleep 30 & echo sleeper $!; wait",
            timeout_s=20,
            idle_timeout_s=1,
            on_output=seen.append,
        )
    assert "printed nothing for 1 s" in one_line(error.value)
    pid = _sleeper("".join(seen))
    try:
        assert wait_gone(pid)
    finally:
        kill_quietly(pid)
    assert board.shell("echo still-here").output == "still-here\n"


def test_ctrl_c_kills_the_remote_command(board: SshDevice) -> None:
    seen: list[str] = []

    def interrupt(text: str) -> None:
        seen.append(text)
        if "sleeper" in "".join(seen):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        board.shell("sleep 30 & echo sleeper $!; wait", timeout_s=60, on_output=interrupt)
    pid = _sleeper("".join(seen))
    try:
        assert wait_gone(pid), f"the remote sleep {pid} survived Ctrl-C"
    finally:
        kill_quietly(pid)


# --- connection failures ---
def test_refused_key_is_one_line(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_key"
    public = write_key(stranger)
    with pytest.raises(SshAuthError) as error:
        connect(sshd, tmp_path / "board", key_path=stranger)
    text = one_line(error.value)
    assert fingerprint(_public_key(public)) in text
    assert str(stranger) in text and f"user {sshd.user}" in text and "127.0.0.1" in text
    assert "authorized_keys" in text and "ssh-copy-id" in text


def test_unknown_host_key_is_refused_unless_trusted(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    with pytest.raises(HostKeyUnknownError) as error:
        connect(sshd, tmp_path / "board", known_hosts=known)
    text = one_line(error.value)
    host_fingerprint = fingerprint(_public_key(sshd.host_public))
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in text
    assert host_fingerprint in text and "trust_new_host=True" in text
    assert not known.exists()

    notes: list[str] = []
    device = connect(
        sshd, tmp_path / "board", known_hosts=known, trust_new_host=True, notify=notes.append
    )
    device.close()
    assert known.read_text().split() == [f"[127.0.0.1]:{sshd.port}", *sshd.host_public.split()[:2]]
    assert stat.S_IMODE(known.stat().st_mode) == 0o600 and host_fingerprint in notes[0]
    connect(sshd, tmp_path / "board", known_hosts=known).close()  # now known: no flag needed


def _public_key(line: str) -> object:
    import paramiko

    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(blob))


def test_changed_host_key_is_refused_with_the_fix(fresh_sshd: Sshd, tmp_path: Path) -> None:
    connect(fresh_sshd, tmp_path / "board").close()
    old = fingerprint(_public_key(fresh_sshd.host_public))
    fresh_sshd.restart_with_new_host_key()
    new = fingerprint(_public_key(fresh_sshd.host_public))
    assert old != new
    with pytest.raises(HostKeyChangedError) as error:
        connect(fresh_sshd, tmp_path / "board")
    text = one_line(error.value)
    assert f"ssh-keygen -R '[127.0.0.1]:{fresh_sshd.port}'" in text
    assert f"[127.0.0.1]:{fresh_sshd.port}" in text and old in text and new in text


def _kill_when(condition: object, server: Sshd, killed: list[float], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            if server.kill_sessions():
                killed.append(time.monotonic())
            return
        time.sleep(0.005)


def test_connection_dropped_mid_push(fresh_sshd: Sshd, tmp_path: Path) -> None:
    board = connect(fresh_sshd, tmp_path / "board")
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as sink:
        for _ in range(50):
            sink.write(block)
    root = Path(board.root)

    def some_megabytes_sent() -> bool:
        return any(p.stat().st_size >= 4 << 20 for p in root.glob(".big.bin.part-*"))

    killed: list[float] = []
    killer = threading.Thread(
        target=_kill_when, args=(some_megabytes_sent, fresh_sshd, killed, 30.0)
    )
    killer.start()
    try:
        with pytest.raises(DeviceDisconnectedError) as error:
            board.push(big)
        failed_at = time.monotonic()
    finally:
        killer.join()
    assert killed, "the push ended before the connection could be killed"
    assert failed_at - killed[0] < 3.0
    assert "device disconnected" in one_line(error.value) and "push" in str(error.value)
    assert not (root / "big.bin").exists()
    # the next call connects again
    assert board.shell("echo back").output == "back\n"
    board.close()


def test_connection_dropped_mid_run(fresh_sshd: Sshd, tmp_path: Path) -> None:
    board = connect(fresh_sshd, tmp_path / "board")
    seen: list[str] = []
    killed: list[float] = []
    killer = threading.Thread(
        target=_kill_when,
        args=(lambda: "sleeper" in "".join(seen), fresh_sshd, killed, 20.0),
    )
    killer.start()
    start = time.monotonic()
    try:
        with pytest.raises(DeviceDisconnectedError) as error:
            board.shell("sleep 30 & echo sleeper $!; wait", timeout_s=60, on_output=seen.append)
        failed_at = time.monotonic()
    finally:
        killer.join()
        pid = _sleeper("".join(seen)) if seen else None
        kill_quietly(pid)  # the board's command outlives the connection: ours to clean here
    assert killed and failed_at - killed[0] < 3.0 and failed_at - start < 10
    assert "device disconnected" in one_line(error.value)
    board.close()


def test_frozen_board_mid_push_times_out(fresh_sshd: Sshd, tmp_path: Path) -> None:
    """A board that stops answering but keeps the connection open: a timeout, not a hang."""
    board = SshDevice.connect(
        fresh_sshd.target,
        fresh_sshd.port,
        key_path=fresh_sshd.user_key,
        known_hosts=fresh_sshd.known_hosts,
        io_timeout_s=1.0,
        device_root=str(tmp_path / "board"),
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 40)
    root = Path(board.root)
    frozen: list[int] = []

    def freeze() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(p.stat().st_size >= 2 << 20 for p in root.glob(".big.bin.part-*")):
                frozen.extend(fresh_sshd.session_pids())
                for pid in frozen:
                    os.kill(pid, signal.SIGSTOP)
                return
            time.sleep(0.005)

    freezer = threading.Thread(target=freeze)
    freezer.start()
    start = time.monotonic()
    try:
        with pytest.raises(DeviceTimeoutError) as error:
            board.push(big)
        elapsed = time.monotonic() - start
    finally:
        freezer.join()
        for pid in frozen:
            kill_quietly(pid)
        board.close()
    assert frozen, "the push ended before the board could be frozen"
    assert elapsed < 4 and "no answer" in one_line(error.value), elapsed
