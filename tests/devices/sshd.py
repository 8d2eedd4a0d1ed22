"""A real OpenSSH server on 127.0.0.1 for the SSH device tests (Debian's openssh-server).

`Sshd(folder).start()` writes a host key and a user key (ed25519, made here), an
authorized_keys file with the user key, a known_hosts file with the host key and an sshd_config
(root may log in by key, no PAM, no strict modes, SFTP built in), then runs
`sshd -D -e -f <config>` on a free port until `stop()`. `kill_sessions()` kills the sshd
processes that serve the open connections (not the listener): a connection dropped at once.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import debian_packages, require_command

_PRIVSEP_DIR = Path("/run/sshd")


def sshd_binary() -> str:
    """sshd's path; it lives in /usr/sbin, which a non-root PATH may lack, so look there too."""
    if "sshd" not in debian_packages():
        require_command("sshd")  # raises: the command must be listed in .ci/debian-packages.txt
    found = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin")
    return found or require_command("sshd")


def write_key(path: Path) -> str:
    """A new ed25519 private key at `path` (OpenSSH format, mode 0600); returns its public line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(private)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = public.decode()
    path.with_name(path.name + ".pub").write_text(line + "\n")
    return line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def process_gone(pid: int) -> bool:
    """True when `pid` has ended (a zombie nobody reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] in ("Z", "X")


class Sshd:
    """One sshd on 127.0.0.1 with its own keys and files under `folder`."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.binary = sshd_binary()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.host_key = folder / "ssh_host_ed25519_key"
        self.user_key = folder / "id_ed25519"
        self.authorized_keys = folder / "authorized_keys"
        self.known_hosts = folder / "known_hosts"
        self.config = folder / "sshd_config"
        self.log = folder / "sshd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.authorized_keys.write_text(write_key(self.user_key) + "\n")
        self.host_public = ""
        self.new_host_key()

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1"

    def new_host_key(self) -> None:
        """A fresh host key; known_hosts keeps the key the clients knew before."""
        self.host_public = write_key(self.host_key)
        if not self.known_hosts.exists():
            self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {self.host_public}\n")

    def _write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            "X11Forwarding no",
            "MaxStartups 100",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        # OpenSSH 9.8+ penalises sources whose connections fail or crash: not ours to test
        with self.config.open("a") as sink:
            sink.write("PerSourcePenalties no\n")
        check = subprocess.run(
            [self.binary, "-t", "-f", str(self.config)], capture_output=True, text=True
        )
        if check.returncode != 0 and "PerSourcePenalties" in check.stderr:
            self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Sshd:
        if not _PRIVSEP_DIR.is_dir():
            try:
                _PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
            except PermissionError:
                pytest.skip(f"sshd needs {_PRIVSEP_DIR} (run the tests as root, or create it)")
        self._write_config()
        seen = self.log.stat().st_size if self.log.exists() else 0
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-D", "-e", "-f", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        ready = f"Server listening on 127.0.0.1 port {self.port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if ready in self.log.read_bytes()[seen:].decode(errors="replace"):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"sshd did not start on port {self.port}: {' | '.join(tail)}")

    def session_pids(self) -> list[int]:
        """The sshd processes below the listener: one or two per open connection."""
        if self.process is None:
            return []
        tree = _children()
        found, todo = [], list(tree.get(self.process.pid, []))
        while todo:
            pid = todo.pop()
            if _comm(pid).startswith("sshd"):
                found.append(pid)
                todo += tree.get(pid, [])
        return found

    def kill_sessions(self) -> int:
        """SIGKILL every connection's sshd processes at once; returns how many were killed."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        self.process = process
        self.kill_sessions()
        self.process = None
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def restart_with_new_host_key(self) -> None:
        """The board reinstalled: a new host key, same port; known_hosts keeps the old key."""
        self.stop()
        self.new_host_key()
        self.start()
