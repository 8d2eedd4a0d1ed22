"""Linux boards over SSH (Raspberry Pi, Jetson, any arm64 or x86_64 Linux box) as a `Device`.

    with SshDevice.connect("pi@raspberrypi.local") as board:   # key auth, known_hosts checked
        board.push(Path("runner"))             # -> /tmp/mobilenet_deploy/runner, sha256-verified
        result = board.shell(f"cd {board.root} && ./runner", timeout_s=600, on_output=print)
        result.exit_code, board.info().big_core_mask

Keys: `key_path`, else the user's default keys (`~/.ssh/id_*`) and ssh-agent. The board's host
key must already be in known_hosts (default `~/.ssh/known_hosts`): an unknown key is refused with
the command that adds it, unless `trust_new_host=True` (then it is added, and said so). Silent
trust on first use is not the default because we push binaries to the board and run them: a
machine answering in its place on the network would get both. A changed key is always refused.
`~/.ssh/config` is not read: give user, host, port and key explicitly.

Everything we push lives in one folder of ours: `/tmp/mobilenet_deploy` (or
`~/.cache/mobilenet_deploy` when /tmp is mounted noexec, or the folder there belongs to someone
else); `root` is the one chosen at connect. Names with shell metacharacters are refused and every
argument that reaches the board's shell is quoted. Files travel over SFTP into a temporary name,
are checked on the board (size and sha256) and renamed into place; a file whose sha256 already
matches is skipped. A command runs in its own process group (sshd makes the session's shell a
session leader): on a timeout, on Ctrl-C and on `close()` the whole group is killed on the board.
A dropped connection is reported at once as DeviceDisconnectedError (TCP keep-alives and a TCP
user timeout of `io_timeout_s` catch a board that vanished without closing the connection).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import dataclasses
import errno
import getpass
import hashlib
import os
import posixpath
import re
import secrets
import shlex
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from deploy.artifacts.hashing import sha256_file
from deploy.devices import info as info_parsers
from deploy.devices.base import Device, DeviceInfo, OutputCallback, PushResult, ShellResult
from deploy.devices.errors import (
    DeviceCommandError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceFolderError,
    DeviceFullError,
    DeviceTimeoutError,
    HostKeyChangedError,
    HostKeyUnknownError,
    NoDeviceError,
    PushVerificationError,
    SshAuthError,
    SshKeyError,
    UnsafePathError,
)
from deploy.devices.paths import check_device_path, path_under_root

#: Candidate folders for our files on a board, tried in order ("~/" is the login user's home).
SSH_DEVICE_ROOTS: tuple[str, ...] = ("/tmp/mobilenet_deploy", "~/.cache/mobilenet_deploy")

#: `uname -m` -> the ABI names the Android side uses to choose a runner bundle.
MACHINE_ABIS = {
    "aarch64": "arm64-v8a",
    "arm64": "arm64-v8a",
    "armv8l": "armeabi-v7a",
    "armv7l": "armeabi-v7a",
    "armv6l": "armeabi",
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "i686": "x86",
    "i386": "x86",
}

_SHA_LINE = re.compile(r"^([0-9a-f]{64})\s+\*?(.+)$")
_CHUNK = 1 << 18
_POLL_S = 0.1
#: errno values an SFTP server reports for a file operation, not for a broken connection
_FILE_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR}

_EXEC_PROBE = "printf '#!/bin/sh\\necho exec-ok\\n'"
_ROOT_SCRIPT = r"""
probe() {
  d=$1
  if ! mkdir -p "$d" 2>/dev/null; then echo "@@bad $d is not writable"; return 1; fi
  if [ -L "$d" ] || [ ! -d "$d" ]; then echo "@@bad $d is not a plain folder"; return 1; fi
  if [ "$(stat -c %u "$d" 2>/dev/null)" != "$(id -u)" ]; then
    echo "@@bad $d belongs to another user"; return 1
  fi
  chmod 700 "$d" 2>/dev/null
  p="$d/.exec-probe.$$"
  if ! { PROBE > "$p" && chmod 700 "$p"; } 2>/dev/null; then
    rm -f "$p"; echo "@@bad $d is not writable"; return 1
  fi
  out=$("$p" 2>/dev/null); rm -f "$p"
  if [ "$out" != exec-ok ]; then echo "@@bad $d is on a noexec filesystem"; return 1; fi
  echo "@@ok $d"
}
command -v sha256sum >/dev/null 2>&1 || echo "@@nosha"
for d in CANDIDATES; do probe "$d" && break; done
true
""".replace("PROBE", _EXEC_PROBE)

LINUX_INFO_SCRIPT = r"""
exec 2>/dev/null
echo '@@uname'; uname -m; uname -r
echo '@@bits'; getconf LONG_BIT
echo '@@hostname'; hostname || cat /proc/sys/kernel/hostname
echo '@@os'; cat /etc/os-release
echo '@@online'; cat /sys/devices/system/cpu/online
echo '@@affinity'; taskset -p $$
echo '@@cpus'
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  [ -e "$c" ] || continue; f=$c/cpufreq
  max=$(cat $f/cpuinfo_max_freq); gov=$(cat $f/scaling_governor)
  rel=$(cat $f/related_cpus || cat $f/affected_cpus); on=$(cat $c/online)
  cap=$(cat $c/cpu_capacity); if [ -d $f ]; then d=1; else d=0; fi
  echo "${c##*/cpu}|$max|$gov|$rel|$on|$cap|$d"
done
echo '@@cpuinfo'; grep -E '^(model name|Hardware|Model)[[:space:]]*:' /proc/cpuinfo | sort -u
echo '@@dt_model'; tr -d '\000' < /proc/device-tree/model; echo
echo '@@dt_compatible'; tr '\000' '\n' < /proc/device-tree/compatible
echo '@@dmi'
for f in sys_vendor product_name; do echo "$f|$(cat /sys/class/dmi/id/$f)"; done
echo '@@thermal'
for z in /sys/class/thermal/thermal_zone*; do
  [ -d "$z" ] && echo "${z##*/}|$(cat $z/type 2>&1)|$(cat $z/temp 2>&1)"
done
echo '@@df'; df -Pk ROOT
echo '@@end'
"""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_target(target: str) -> tuple[str, str]:
    """`user@host` (or `host`: this computer's user name) -> (user, host); brackets of IPv6 off."""
    user, _, host = target.rpartition("@")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(ch.isspace() for ch in target):
        raise NoDeviceError(f"bad SSH target {target!r}: give it as user@host (e.g. pi@10.0.0.7)")
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        raise NoDeviceError(
            f"bad SSH target {target!r}: give the host as {user or 'user'}@{name} and the port "
            f"separately (port={port})"
        )
    return user or getpass.getuser(), host


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a key (`SHA256:...`, base64 without padding)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name a host has in known_hosts: `host` on port 22, else `[host]:port`."""
    return host if port == 22 else f"[{host}]:{port}"


def _display(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _shell_path(path: Path) -> str:
    """`path` as the user would type it in a shell: `~/...` when under home, quoted."""
    shown = _display(path)
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown[2:])
    return shlex.quote(shown)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:200] or type(exc).__name__


# --- facts ---
def _os_release(lines: list[str]) -> dict[str, str]:
    fields = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip():
            try:
                words = shlex.split(value)
            except ValueError:
                words = [value.strip().strip("\"'")]
            fields[key.strip()] = " ".join(words)
    return fields


def _cpuinfo(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def parse_linux_info(serial: str, output: str) -> DeviceInfo:
    """A DeviceInfo from LINUX_INFO_SCRIPT's output (a pure function: tests feed it text)."""
    sections = info_parsers.split_sections(output)
    uname = [line.strip() for line in sections.get("uname", [])]
    machine = uname[0] if uname else ""
    abi = MACHINE_ABIS.get(machine, machine)
    bits = (sections.get("bits") or [""])[0].strip()
    abis: tuple[str, ...] = (abi,) if abi else ()
    if abi == "arm64-v8a" and bits == "32":  # 64-bit kernel, 32-bit userland (Raspberry Pi OS)
        abis = (abi, "armeabi-v7a")
    hostname = (sections.get("hostname") or [""])[0].strip()
    os_fields = _os_release(sections.get("os", []))
    cpuinfo = _cpuinfo(sections.get("cpuinfo", []))
    dt_model = " ".join(line.strip() for line in sections.get("dt_model", [])).strip()
    compatible = [line.strip() for line in sections.get("dt_compatible", []) if line.strip()]
    dmi = {
        key.strip(): value.strip()
        for key, _, value in (line.partition("|") for line in sections.get("dmi", []))
    }
    vendor = dmi.get("sys_vendor", "") or (compatible[0].split(",")[0] if compatible else "")
    model = dt_model or cpuinfo.get("Model", "") or dmi.get("product_name", "") or hostname
    cpu_model = cpuinfo.get("model name", "")
    soc = compatible[-1] if compatible else cpu_model
    properties = {
        "ssh.target": serial,
        "linux.os": os_fields.get("PRETTY_NAME", ""),
        "linux.hostname": hostname,
        "linux.machine": machine,
        "linux.kernel": uname[1] if len(uname) > 1 else "",
        "linux.userland_bits": bits,
        "linux.cpu_model": cpu_model,
        "linux.dt_compatible": ",".join(compatible),
        "linux.dmi_vendor": dmi.get("sys_vendor", ""),
        "linux.dmi_product": dmi.get("product_name", ""),
    }
    return DeviceInfo(
        serial=serial,
        manufacturer=vendor,
        model=model,
        soc_model=soc,
        board_platform="",
        hardware=cpuinfo.get("Hardware", ""),
        android_version="",
        sdk=None,
        abi=abi,
        abis=abis,
        cores=info_parsers.parse_cores(sections.get("cpus", [])),
        thermal_zones=info_parsers.parse_thermal(sections.get("thermal", [])),
        free_bytes=info_parsers.parse_df_available(sections.get("df", [])),
        properties={key: value for key, value in properties.items() if value},
        online_cpus=info_parsers.parse_online(sections.get("online", [])),
        allowed_cpus=info_parsers.parse_affinity(sections.get("affinity", [])),
    )


def summary(facts: DeviceInfo) -> str:
    """One line for people about a Linux board (DeviceInfo.summary speaks of Android)."""
    big = next((c for c in facts.cores if c.cpu == facts.biggest_core), None)
    freq = f" @ {big.max_freq_khz / 1e6:.2f} GHz" if big and big.max_freq_khz else ""
    os_name = facts.properties.get("linux.os", "Linux")
    return (
        f"{facts.model} ({facts.soc}), {os_name}, {facts.abi}, {len(facts.cores)} cores, "
        f"big core cpu{facts.biggest_core}{freq} (mask {facts.big_core_mask})"
    )


@dataclass
class _Running:
    """A command of ours on the board: its process group, to kill it."""

    pgid: int | None = None


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """An unknown host key: refused with the command that adds it, or trusted when asked."""

    def __init__(self, device: SshDevice) -> None:
        self.device = device

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        device = self.device
        where = _shell_path(device.known_hosts)
        seen = f"{key.get_name()} {fingerprint(key)}"
        name = key.get_name()
        kind = "ed25519" if "ed25519" in name else "ecdsa" if "ecdsa" in name else "rsa"
        if not device.trust_new_host:
            once = (
                f" or connect once with `ssh -p {device.port} {device.user}@{device.host}`"
                if device.known_hosts == Path.home() / ".ssh" / "known_hosts"
                else ""
            )
            raise HostKeyUnknownError(
                f"unknown host key for {hostname} ({seen}) is not in {where}: check the "
                f"fingerprint on the board (`ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub`), "
                f"then add it with `ssh-keyscan -p {device.port} {device.host} >> {where}`"
                f"{once}, or pass trust_new_host=True"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        device._remember_host_key(hostname, key)
        device.notify(f"{device.serial}: trusted the new host key {seen}; added to {where}")


class SshDevice(Device):
    """One Linux board over SSH (paramiko): SFTP for files, exec channels for commands.

    Timeouts are explicit: `connect_timeout_s` for the TCP connection, the SSH handshake and
    authentication, `io_timeout_s` for any silence during file transfers and short commands.
    A shell command gets `timeout_s` in total (and as its allowed silence).
    """

    def __init__(
        self,
        target: str,
        *,
        port: int = 22,
        key_path: Path | str | None = None,
        known_hosts: Path | str | None = None,
        trust_new_host: bool = False,
        connect_timeout_s: float = 10.0,
        io_timeout_s: float = 30.0,
        device_root: str | Sequence[str] = SSH_DEVICE_ROOTS,
        notify: OutputCallback = _stderr,
    ) -> None:
        self.user, self.host = parse_target(target)
        self.port = int(port)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.serial = f"{self.user}@{host}:{self.port}"
        self.key_path = Path(key_path).expanduser() if key_path is not None else None
        self.known_hosts = (
            Path(known_hosts).expanduser()
            if known_hosts is not None
            else Path.home() / ".ssh" / "known_hosts"
        )
        self.trust_new_host = trust_new_host
        self.connect_timeout_s = connect_timeout_s
        self.io_timeout_s = io_timeout_s
        self.notify = notify
        candidates = (device_root,) if isinstance(device_root, str) else tuple(device_root)
        for candidate in candidates:
            check_device_path("/" + candidate[2:] if candidate.startswith("~/") else candidate)
        if not candidates:
            raise UnsafePathError("device_root is empty: give at least one folder")
        self._root_candidates = candidates
        #: Our folder on the board, chosen when connecting (the first usable candidate).
        self.root = ""
        self._client: paramiko.SSHClient | None = None
        self._sftp_client: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        self._running: set[int] = set()

    # --- connection ---
    @classmethod
    def connect(
        cls,
        target: str,
        port: int = 22,
        key_path: Path | str | None = None,
        known_hosts: Path | str | None = None,
        *,
        connect_timeout_s: float = 10.0,
        io_timeout_s: float = 30.0,
        **options: Any,
    ) -> SshDevice:
        """Connect to `user@host`, authenticate by key, and choose our folder on the board."""
        device = cls(
            target,
            port=port,
            key_path=key_path,
            known_hosts=known_hosts,
            connect_timeout_s=connect_timeout_s,
            io_timeout_s=io_timeout_s,
            **options,
        )
        device.open()
        return device

    def _socket(self) -> socket.socket:
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except socket.gaierror as exc:
            raise NoDeviceError(
                f"cannot resolve {self.host} ({exc.strerror or exc}): check the board's name, "
                "or give its IP address"
            ) from None
        except ConnectionRefusedError:
            raise NoDeviceError(
                f"nothing answers at {where} (connection refused): start the SSH server on the "
                "board (`sudo systemctl enable --now ssh`) or give the right port"
            ) from None
        except TimeoutError:
            raise DeviceTimeoutError(
                f"{where} did not answer within {self.connect_timeout_s:g} s: check that the "
                "board is on and on this network (or give a longer connect_timeout_s)"
            ) from None
        except OSError as exc:
            raise NoDeviceError(
                f"cannot reach {where} ({exc.strerror or exc}): check the address and the network"
            ) from None
        # a board that vanishes without closing the connection (power, Wi-Fi) is noticed within
        # about io_timeout_s: keep-alive probes when idle, a user timeout on unacknowledged data
        idle = max(1, int(self.io_timeout_s / 3))
        options = [
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), idle),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), idle),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), 3),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_USER_TIMEOUT", None), idle * 3000),
        ]
        for level, name, value in options:
            if name is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(level, name, value)
        return sock

    def _load_key(self) -> paramiko.PKey | None:
        path = self.key_path
        if path is None:
            return None
        if not path.is_file():
            raise SshKeyError(
                f"SSH key {path} not found: give the private key file (e.g. ~/.ssh/id_ed25519)"
            )
        try:
            return paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            raise SshKeyError(
                f"SSH key {path} is passphrase-protected: load it into ssh-agent "
                f"(`ssh-add {shlex.quote(str(path))}`) and connect without key_path"
            ) from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            raise SshKeyError(
                f"cannot read SSH key {path} ({_describe(exc)}): give an OpenSSH or PEM private "
                "key (ed25519, ecdsa or rsa)"
            ) from None

    def _keys_tried(self, pkey: paramiko.PKey | None) -> str:
        if pkey is not None:
            return f"the key {self.key_path} ({pkey.get_name()} {fingerprint(pkey)})"
        found = [
            f"~/.ssh/id_{name}"
            for name in ("rsa", "ecdsa", "ed25519")
            if (Path.home() / ".ssh" / f"id_{name}").is_file()
        ]
        if os.environ.get("SSH_AUTH_SOCK"):
            found.append("ssh-agent")
        return "the keys " + (", ".join(found) or "(none found)")

    def _load_known_hosts(self, client: paramiko.SSHClient) -> None:
        if not self.known_hosts.is_file():
            return
        try:
            client.get_host_keys().load(str(self.known_hosts))
        except (OSError, UnicodeDecodeError, paramiko.SSHException, ValueError) as exc:
            raise SshKeyError(
                f"cannot read {self.known_hosts} ({_describe(exc)}): fix or remove the bad line"
            ) from None

    def _remember_host_key(self, hostname: str, key: Any) -> None:
        """Append a trusted host key to known_hosts (made with mode 0600 if missing)."""
        path = self.known_hosts
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as sink:
                sink.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        except OSError as exc:
            raise SshKeyError(
                f"cannot add the host key of {hostname} to {path} ({exc.strerror or exc}): "
                "make the file writable, or add it with ssh-keyscan"
            ) from None

    def open(self) -> None:
        """Connect, check the host key, authenticate, then choose our folder on the board."""
        self.close()
        pkey = self._load_key()
        client = paramiko.SSHClient()
        self._load_known_hosts(client)
        client.set_missing_host_key_policy(_HostKeyPolicy(self))
        sock = self._socket()
        hostname = known_hosts_name(self.host, self.port)
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                pkey=pkey,
                sock=sock,
                allow_agent=pkey is None,
                look_for_keys=pkey is None,
                timeout=self.connect_timeout_s,
                banner_timeout=self.connect_timeout_s,
                auth_timeout=self.connect_timeout_s,
                channel_timeout=self.io_timeout_s,
            )
        except DeviceError:
            client.close()
            sock.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            sock.close()
            where = _display(self.known_hosts)
            option = (
                ""
                if self.known_hosts == Path.home() / ".ssh" / "known_hosts"
                else f" -f {_shell_path(self.known_hosts)}"
            )
            raise HostKeyChangedError(
                f"host key of {hostname} has CHANGED: {where} has "
                f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, the board sent "
                f"{exc.key.get_name()} {fingerprint(exc.key)}; if the board was reinstalled, run "
                f"`ssh-keygen -R {shlex.quote(hostname)}{option}` and connect again (otherwise "
                "someone may be intercepting the connection)"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            sock.close()
            if isinstance(exc, paramiko.PasswordRequiredException):
                raise SshKeyError(
                    f"a default SSH key for {self.serial} is passphrase-protected: load it into "
                    "ssh-agent (`ssh-add`) or pass key_path"
                ) from None
            if isinstance(exc, paramiko.BadAuthenticationType):
                raise SshAuthError(
                    f"{self.serial} does not accept key authentication for user {self.user} "
                    f"(allowed: {', '.join(exc.allowed_types) or 'none'}): set "
                    "`PubkeyAuthentication yes` in the board's sshd_config"
                ) from None
            tried = self._keys_tried(pkey)
            public = f"{self.key_path}.pub" if self.key_path else "~/.ssh/id_ed25519.pub"
            raise SshAuthError(
                f"{self.host}:{self.port} refused {tried} for user {self.user}: add its public "
                f"key to ~{self.user}/.ssh/authorized_keys on the board (`ssh-copy-id -i "
                f"{public} -p {self.port} {self.user}@{self.host}`), or pass key_path"
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            sock.close()
            if "No authentication methods available" in str(exc):
                raise SshAuthError(
                    f"no SSH key to offer to {self.serial} for user {self.user} (no ~/.ssh/id_* "
                    "key, no ssh-agent): make one with `ssh-keygen -t ed25519`, copy it with "
                    f"`ssh-copy-id -p {self.port} {self.user}@{self.host}`, or pass key_path"
                ) from None
            raise DeviceDisconnectedError(
                f"device disconnected: {self.serial} during the SSH handshake ({_describe(exc)}); "
                f"check that port {self.port} is an SSH server and retry"
            ) from None
        except TimeoutError:
            client.close()
            sock.close()
            raise DeviceTimeoutError(
                f"{self.serial}: the SSH handshake took more than {self.connect_timeout_s:g} s: "
                "check the board's load and network, or give a longer connect_timeout_s"
            ) from None
        except (EOFError, OSError) as exc:
            client.close()
            sock.close()
            raise DeviceDisconnectedError(
                f"device disconnected: {self.serial} during the SSH handshake ({_describe(exc)}); "
                "check that the board's SSH server is running and retry"
            ) from None
        self._client = client
        try:
            self.root = self._choose_root()
        except BaseException:
            self.close()
            raise

    def _choose_root(self) -> str:
        words = []
        for candidate in self._root_candidates:
            if candidate.startswith("~/"):
                words.append('"$HOME"/' + shlex.quote(candidate[2:]))
            else:
                words.append(shlex.quote(candidate))
        script = _ROOT_SCRIPT.replace("CANDIDATES", " ".join(words))
        output = self.shell(script, timeout_s=max(self.io_timeout_s, 10.0)).output
        problems = []
        for line in output.splitlines():
            if line.startswith("@@nosha"):
                raise DeviceCommandError(
                    f"{self.serial} has no sha256sum (needed to verify pushes): install "
                    "coreutils (or a busybox with sha256sum) on the board"
                )
            if line.startswith("@@bad "):
                problems.append(line[6:].strip())
            if line.startswith("@@ok "):
                try:
                    return check_device_path(line[5:].strip())
                except UnsafePathError:
                    problems.append(f"{line[5:].strip()!r} has shell metacharacters")
        raise DeviceFolderError(
            f"no folder of ours on {self.serial} is writable and executable "
            f"({'; '.join(problems) or 'no answer'}): give device_root= a folder of yours "
            "on a filesystem mounted with exec"
        )

    def close(self) -> None:
        """Kill our commands still running on the board, then release the connection."""
        with self._lock:
            running = list(self._running)
            self._running.clear()
        for pgid in running:
            self._kill_group(pgid, timeout_s=min(self.io_timeout_s, 5.0))
        self._drop()

    def _drop(self) -> None:
        sftp, self._sftp_client = self._sftp_client, None
        client, self._client = self._client, None
        for closable in (sftp, client):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()

    def _transport(self) -> paramiko.Transport:
        """The live transport; reconnects when the previous connection was closed or dropped."""
        transport = self._client.get_transport() if self._client is not None else None
        if transport is None or not transport.is_active():
            self.open()
            assert self._client is not None
            transport = self._client.get_transport()
            assert transport is not None
        return transport

    def _lost(self, wait: bool = True) -> bool:
        """Is the connection gone? Gives paramiko's reader thread a moment to notice."""
        client = self._client
        transport = client.get_transport() if client is not None else None
        deadline = time.monotonic() + (0.5 if wait else 0.0)
        while True:
            if transport is None or not transport.is_active():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    @contextlib.contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        """Turn paramiko and socket failures into one-line device errors."""
        try:
            yield
        except DeviceError:
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            quick = isinstance(exc, TimeoutError) or (
                isinstance(exc, OSError) and exc.errno in _FILE_ERRNOS
            )
            if isinstance(exc, ConnectionError | EOFError) or self._lost(wait=not quick):
                self._drop()
                raise DeviceDisconnectedError(
                    f"device disconnected: {self.serial} during {operation} ({_describe(exc)}); "
                    "check the board's power and network, then retry"
                ) from None
            if isinstance(exc, TimeoutError):
                self._drop()
                raise DeviceTimeoutError(
                    f"{self.serial}: no answer during {operation} for {self.io_timeout_s:g} s: "
                    "check the board and the network, then retry (or give a longer io_timeout_s)"
                ) from None
            raise DeviceCommandError(
                f"{self.serial}: {operation} failed ({_describe(exc)}); check the path and retry"
            ) from None

    # --- paths ---
    def device_path(self, name: str | os.PathLike[str]) -> str:
        """Where `name` lives on the board: relative names go under our folder; checked."""
        if not self.root:
            self._transport()
        return path_under_root(self.root, name)

    # --- shell ---
    def shell(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        on_output: OutputCallback | None = None,
        check: bool = False,
        idle_timeout_s: float | None = None,
    ) -> ShellResult:
        """Run `command` with /bin/sh in its own process group; stdout and stderr are merged.

        Output is passed to `on_output` as it arrives. `timeout_s` (default `io_timeout_s`)
        bounds the whole command, `idle_timeout_s` (default: `timeout_s`) any silence in it;
        past either, or on Ctrl-C, the command's process group is killed on the board.
        """
        timeout = float(timeout_s if timeout_s is not None else self.io_timeout_s)
        idle = min(timeout, float(idle_timeout_s)) if idle_timeout_s is not None else timeout
        marker = f"__mobilenet_deploy_pgid_{secrets.token_hex(6)}__"
        script = f"echo {marker}$$\n( {command}\n)"
        wrapped = "exec /bin/sh -c " + shlex.quote(script)
        short = command.strip().splitlines()[0][:60] if command.strip() else "sh"
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        found = re.compile(re.escape(marker) + r"(\d+)\r?\n")
        chunks: list[str] = []
        pending = ""  # text before the marker line, held until the marker is seen
        running = _Running()
        start = time.monotonic()

        def emit(text: str) -> None:
            if text:
                chunks.append(text)
                if on_output is not None:
                    on_output(text)

        with self._guard(f"`{short}`"):
            transport = self._transport()
            channel = transport.open_session(timeout=self.io_timeout_s)
            try:
                channel.set_combine_stderr(True)
                channel.settimeout(_POLL_S)
                channel.exec_command(wrapped)
                channel.shutdown_write()
                last = time.monotonic()
                while True:
                    try:
                        data: bytes | None = channel.recv(1 << 16)
                    except TimeoutError:
                        data = None
                    now = time.monotonic()
                    if data:
                        last = now
                        text = decoder.decode(data)
                        if running.pgid is None:
                            pending += text
                            match = found.search(pending)
                            if match is None:
                                continue
                            self._track(running, int(match.group(1)))
                            emit(pending[: match.start()])
                            text, pending = pending[match.end() :], ""
                        emit(text)
                        continue
                    if data == b"":
                        break
                    if not transport.is_active():
                        break
                    if now - start > timeout or now - last > idle:
                        what = (
                            f"still running after {timeout:g} s"
                            if now - start > timeout
                            else f"printed nothing for {idle:g} s"
                        )
                        raise DeviceTimeoutError(  # the handler below kills it
                            f"{self.serial}: `{short}` {what}: killed it on the board; "
                            "give it a longer timeout_s"
                        )
                channel.status_event.wait(min(self.io_timeout_s, 5.0))
                exit_code = channel.exit_status if channel.status_event.is_set() else -1
                if exit_code == -1 and self._lost():
                    raise EOFError("connection closed while the command ran")
            except BaseException:
                # Ctrl-C, a failing on_output, a lost connection: kill what we started
                if not self._lost(wait=False):
                    self._kill_running(running)
                self._untrack(running)
                with contextlib.suppress(Exception):
                    channel.close()
                raise
            self._untrack(running)
            channel.close()
        emit(pending + decoder.decode(b"", final=True))
        if exit_code == -1:
            raise DeviceCommandError(
                f"{self.serial}: `{short}` ended without an exit status "
                "(killed by a signal?); retry"
            )
        result = ShellResult(exit_code, "".join(chunks), time.monotonic() - start)
        if check and result.exit_code != 0:
            lastline = result.output.strip().splitlines()[-1:] or [""]
            raise DeviceCommandError(
                f"{self.serial}: `{short}` exited with status {result.exit_code}: "
                f"{lastline[0][:200]}"
            )
        return result

    def _track(self, running: _Running, pgid: int) -> None:
        running.pgid = pgid
        with self._lock:
            self._running.add(pgid)

    def _untrack(self, running: _Running) -> None:
        if running.pgid is not None:
            with self._lock:
                self._running.discard(running.pgid)

    def _kill_running(self, running: _Running) -> None:
        if running.pgid is not None:
            self._kill_group(running.pgid, timeout_s=min(self.io_timeout_s, 5.0))

    def _kill_group(self, pgid: int, timeout_s: float) -> None:
        """TERM the process group `pgid` on the board now, KILL it 2 s later; best effort.

        The KILL comes from a detached background job, so this returns at once.
        """
        script = (
            f"p={int(pgid)}; kill -TERM -- -$p 2>/dev/null || kill -TERM $p 2>/dev/null; "
            "( sleep 2; kill -KILL -- -$p 2>/dev/null || kill -KILL $p 2>/dev/null ) "
            ">/dev/null 2>&1 </dev/null & true"
        )
        client = self._client
        transport = client.get_transport() if client is not None else None
        if transport is None or not transport.is_active():
            return
        try:
            channel = transport.open_session(timeout=timeout_s)
            channel.settimeout(timeout_s)
            channel.exec_command(script)
            channel.shutdown_write()
            while channel.recv(1024):
                pass
            channel.close()
        except (paramiko.SSHException, EOFError, OSError):
            pass

    # --- files ---
    def _sftp(self) -> paramiko.SFTPClient:
        transport = self._transport()
        if self._sftp_client is None:
            channel = transport.open_session(timeout=self.io_timeout_s)
            channel.settimeout(self.io_timeout_s)
            try:
                channel.invoke_subsystem("sftp")
                sftp = paramiko.SFTPClient(channel)
            except (paramiko.SSHException, EOFError) as exc:
                if self._lost():
                    raise
                raise DeviceCommandError(
                    f"{self.serial} has no SFTP server ({_describe(exc)}): enable it in the "
                    "board's sshd_config (`Subsystem sftp internal-sftp`) or install "
                    "openssh-sftp-server"
                ) from None
            self._sftp_client = sftp
        return self._sftp_client

    def remote_sha256(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of each existing file among `paths` on the board (one `sha256sum` call)."""
        if not paths:
            return {}
        quoted = " ".join(shlex.quote(check_device_path(path)) for path in paths)
        output = self.shell(
            f"sha256sum {quoted} 2>/dev/null; true", timeout_s=max(self.io_timeout_s, 60.0)
        ).output
        digests: dict[str, str] = {}
        for line in output.splitlines():
            match = _SHA_LINE.match(line.strip())
            if match and match.group(2) in paths:
                digests[match.group(2)] = match.group(1)
        return digests

    def _remote_size(self, sftp: paramiko.SFTPClient, path: str) -> int | None:
        try:
            size = sftp.stat(path).st_size
        except FileNotFoundError:
            return None
        return size

    def push(self, local: Path | str, remote: str | None = None) -> PushResult:
        return self.push_many({Path(local): remote})[0]

    def push_many(self, files: Mapping[Path, str | None] | Sequence[Path]) -> list[PushResult]:
        """Push files into our folder; unchanged ones (same sha256 on the board) are skipped.

        Each file is written under a temporary name, checked on the board (size and sha256),
        given the local file's permission bits and renamed into place. Returns one result per
        file, in order.
        """
        items = (
            list(files.items()) if isinstance(files, Mapping) else [(Path(f), None) for f in files]
        )
        plan = []
        for local, remote in items:
            local = Path(local)
            if not local.is_file():
                raise DeviceCommandError(f"cannot push {local}: no such file; check the path")
            plan.append((local, self.device_path(remote or local.name), local.stat()))
        with self._guard("push"):
            sftp = self._sftp()
            sizes = {target: self._remote_size(sftp, target) for _l, target, _s in plan}
        candidates = {
            target: sha256_file(local)
            for local, target, st in plan
            if sizes.get(target) == st.st_size
        }
        present = self.remote_sha256(list(candidates))
        results: list[PushResult | None] = []
        sent: list[tuple[int, str, float]] = []  # (index, temporary path, start time)
        to_send = [
            (index, local, target, st)
            for index, (local, target, st) in enumerate(plan)
            if not (target in candidates and present.get(target) == candidates[target])
        ]
        for local, target, st in plan:
            if target in candidates and present.get(target) == candidates[target]:
                results.append(PushResult(local, target, st.st_size, candidates[target], True, 0.0))
            else:
                results.append(None)
        if to_send:
            self._make_folders([target for _i, _l, target, _s in to_send])
        try:
            for index, local, target, st in to_send:
                temp = posixpath.join(
                    posixpath.dirname(target),
                    f".{posixpath.basename(target)}.part-{secrets.token_hex(4)}",
                )
                start = time.monotonic()
                sent.append((index, temp, start))
                digest = self._send(local, temp, st.st_mode & 0o777)
                results[index] = PushResult(local, target, st.st_size, digest, False, 0.0)
            pushed = [(temp, results[index]) for index, temp, _s in sent]
            self._verify([(temp, result) for temp, result in pushed if result is not None])
            with self._guard("push"):
                sftp = self._sftp()
                for index, temp, start in sent:
                    result = results[index]
                    assert result is not None
                    sftp.posix_rename(temp, result.remote)
                    results[index] = dataclasses.replace(result, seconds=time.monotonic() - start)
        except BaseException:
            self._remove_quietly([temp for _i, temp, _s in sent])
            raise
        return [result for result in results if result is not None]

    def _make_folders(self, targets: Sequence[str]) -> None:
        """Our folder (again, after a cleanup) and the targets' parent folders, ours only."""
        folders = sorted({posixpath.dirname(target) for target in targets} - {self.root})
        root = shlex.quote(self.root)
        output = self.shell(
            f"mkdir -p {root} && chmod 700 {root} && [ ! -L {root} ] && "
            f'[ "$(stat -c %u {root})" = "$(id -u)" ] || echo @@notours; '
            + (f"mkdir -p {' '.join(shlex.quote(f) for f in folders)}; " if folders else "")
            + "true",
            timeout_s=max(self.io_timeout_s, 10.0),
        ).output
        if "@@notours" in output:
            raise DeviceFolderError(
                f"{self.root} on {self.serial} is not a folder of ours (another user made it, "
                f"or it is a link): remove it, or give device_root= a folder of yours"
            )

    def _send(self, local: Path, temp: str, mode: int) -> str:
        """Write one file over SFTP; return the sha256 of what was sent."""
        digest = hashlib.sha256()
        with open(local, "rb") as source, self._guard(f"push of {local.name}"):
            sftp = self._sftp()
            try:
                # no `with`: after a failure, closing would wait for a board that may be gone
                sink = sftp.open(temp, "wb")
                sink.set_pipelined(True)
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
                sink.close()
                sftp.chmod(temp, mode)
            except OSError as exc:
                if isinstance(exc, ConnectionError | TimeoutError) or self._lost():
                    raise
                self._raise_if_full(local, temp)
                raise
        return digest.hexdigest()

    def _raise_if_full(self, local: Path, temp: str) -> None:
        size = local.stat().st_size
        free = None
        with contextlib.suppress(DeviceError):
            df = self.shell(f"df -Pk {shlex.quote(self.root)}", timeout_s=self.io_timeout_s)
            free = info_parsers.parse_df_available(df.output.splitlines())
        if free is not None and free < size:
            self._remove_quietly([temp])
            raise DeviceFullError(
                f"no space left on {self.serial} for {local.name} ({size} bytes, "
                f"{free} free in {self.root}): free space on the board (or cleanup()) and retry"
            )

    def _verify(self, pushed: Sequence[tuple[str, PushResult]]) -> None:
        if not pushed:
            return
        with self._guard("push verification"):
            sftp = self._sftp()
            sizes = {temp: self._remote_size(sftp, temp) for temp, _r in pushed}
        digests = self.remote_sha256([temp for temp, _r in pushed])
        for temp, result in pushed:
            size = sizes.get(temp)
            digest = digests.get(temp, "missing")
            if size != result.size_bytes or digest != result.sha256:
                raise PushVerificationError(
                    f"{result.remote} on {self.serial} does not match {result.local} "
                    f"after the push (size {size} vs {result.size_bytes}, "
                    f"sha256 {digest[:12]} vs {result.sha256[:12]}): push again"
                )

    def _remove_quietly(self, paths: Sequence[str]) -> None:
        if not paths or self._lost(wait=False):
            return
        with contextlib.suppress(DeviceError):
            quoted = " ".join(shlex.quote(path) for path in paths)
            self.shell(f"rm -f {quoted}", timeout_s=self.io_timeout_s)

    def pull(self, remote: str, local: Path | str) -> Path:
        """Copy a board file to `local` through a temporary file, verified by sha256."""
        if not remote.startswith("/") and not self.root:
            self._transport()
        source = check_device_path(remote if remote.startswith("/") else f"{self.root}/{remote}")
        destination = Path(local)
        if destination.is_dir():
            destination = destination / posixpath.basename(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
        )
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as sink, self._guard(f"pull of {source}"):
                sftp = self._sftp()
                size = self._remote_size(sftp, source)
                if size is None:
                    raise DeviceCommandError(
                        f"{self.serial}: cannot pull {source}: no such file on the board; "
                        "check the path"
                    )
                reader = sftp.open(source, "rb")  # no `with`: see _send
                reader.prefetch(size)
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
                reader.close()
            expected = self.remote_sha256([source]).get(source)
            if expected is not None and expected != digest.hexdigest():
                raise PushVerificationError(
                    f"{destination.name} pulled from {self.serial} has sha256 "
                    f"{digest.hexdigest()[:12]}, the board has {expected[:12]}: pull again"
                )
            os.replace(temp, destination)
        finally:
            temp.unlink(missing_ok=True)
        return destination

    # --- facts ---
    def info(self) -> DeviceInfo:
        """Identity, cores (max frequency, governor), thermal zones and free space of our folder."""
        if not self.root:
            self._transport()
        script = LINUX_INFO_SCRIPT.replace("ROOT", shlex.quote(self.root))
        result = self.shell(script, timeout_s=max(self.io_timeout_s, 20.0))
        return parse_linux_info(self.serial, result.output)

    def cleanup(self) -> None:
        """Remove our folder from the board."""
        if not self.root:
            self._transport()
        self.shell(
            f"rm -rf {shlex.quote(self.root)}", timeout_s=max(self.io_timeout_s, 60.0), check=True
        )
