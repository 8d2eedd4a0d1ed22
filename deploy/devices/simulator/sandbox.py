"""Where the simulated phone's shell commands run: a bubblewrap (`bwrap`) sandbox.

Inside it `/` is the phone's folder, read-only like a phone's root, with `/data/local/tmp` and
`/sdcard` writable. The phone's programs are its own: mksh (its `sh`) and toybox, this host's
binaries bound read-only at /system/bin (with the exec wrapper, e.g. qemu); of this host only the
library folders the loader needs (/usr/lib*, /lib*) and the few /etc files it and `ls -l` read
are bound, read-only: no /usr/bin, no /bin, nothing of this host's GNU userland. A private /tmp,
a read-only /proc, a minimal /dev; the profile's `/sys` is the folder's own. No network, no
capabilities (so a file of mode 000 refuses even the phone's root, as SELinux refuses a phone's
shell), no host processes: all shells of one phone share one pid namespace (a pid written by one
shell is the pid another shell kills), held by a small init process for the phone's lifetime, so
stopping the phone ends every process on it.

`HostShell` is the unconfined fallback (`--unsafe-host-shell`): commands run on this host as the
simulator's user, with this host's /bin/sh and tools, the phone's paths in them rewritten to the
folder.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.devices.errors import SimulatorError

#: This host's library folders bound read-only at the same place (or recreated as the same
#: symlink): what the loader needs to run mksh, toybox and a host-built runner. No bin folder.
SYSTEM_DIRS = (
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
)
#: The /etc entries bound read-only: the loader's cache, user names.
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group")
#: The phone's folders a shell may write to (everything else of the phone is read-only).
WRITABLE = ("/data/local/tmp", "/sdcard")
#: Mount points the sandbox needs in the phone's folder (it is bound read-only, bwrap cannot).
MOUNT_POINTS = ("etc", "proc", "dev", "tmp")
#: Where the phone's programs (mksh, toybox, the exec wrapper) are seen on the phone.
WRAPPER_DIR = "/system/bin"
#: The phone's shell (mksh, bound there with the phone's programs).
SHELL = "/system/bin/sh"

#: Besides the phone's pid namespace: no network, no host IPC or hostname, no capabilities.
ISOLATION_ARGS = (
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--hostname",
    "localhost",
    "--unshare-cgroup-try",
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--chdir",
    "/",
)
#: The sandbox program, looked up on PATH (a test may name one that does not exist).
BWRAP = "bwrap"

_FIX = "or pass --unsafe-host-shell (unsafe_host_shell=True) to run them unconfined on this host"
_START_TIMEOUT_S = 20.0


def _binds(wrappers: Sequence[str], programs: Mapping[str, str]) -> dict[str, str]:
    """Phone path -> host file bound there: the phone's programs, then the exec wrappers."""
    binds = dict(programs)
    for host_file in wrappers:
        binds[f"{WRAPPER_DIR}/{Path(host_file).name}"] = host_file
    return binds


def prepare_root(
    root: Path, wrappers: Sequence[str] = (), programs: Mapping[str, str] | None = None
) -> None:
    """Create in the phone's folder the mount points and symlinks the sandbox binds onto."""
    for name in MOUNT_POINTS:
        (root / name).mkdir(exist_ok=True)
    for device_path in WRITABLE:
        (root / device_path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for host in map(Path, SYSTEM_DIRS):
        inside = root / str(host).lstrip("/")
        if inside.exists() or inside.is_symlink():
            continue
        if host.is_symlink():
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.symlink_to(os.readlink(host))
        elif host.is_dir():
            inside.mkdir(parents=True)
    for device_path in _binds(wrappers, programs or {}):
        placeholder = root / device_path.lstrip("/")
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        if placeholder.is_symlink():
            placeholder.unlink()
        placeholder.touch(exist_ok=True)


def mount_args(
    root: Path, wrappers: Sequence[str] = (), programs: Mapping[str, str] | None = None
) -> list[str]:
    """bwrap options: the filesystem the phone's shell sees (see the module docstring)."""
    args = ["--ro-bind", str(root), "/"]
    for device_path in WRITABLE:
        args += ["--bind", str(root / device_path.lstrip("/")), device_path]
    for host in SYSTEM_DIRS:
        if os.path.isdir(host) and not os.path.islink(host):
            args += ["--ro-bind", host, host]
    args += ["--tmpfs", "/etc"]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--remount-ro", "/etc"]
    for device_path, host_file in _binds(wrappers, programs or {}).items():
        args += ["--ro-bind", host_file, device_path]
    args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    return args


def require_bwrap(bwrap: str | None = None) -> str:
    """bwrap's path (`bwrap`, else BWRAP on PATH); SimulatorError when it is not installed."""
    found = bwrap or shutil.which(BWRAP)
    if found is None:
        raise SimulatorError(
            "cannot confine the simulated phone's shell commands: bubblewrap is not installed: "
            f"apt-get install bubblewrap, {_FIX}"
        )
    return found


class Sandbox:
    """Runs the phone's shell commands under bwrap; `start()` proves it works or raises.

    `programs`: phone path -> host binary bound there (mksh at /system/bin/mksh, toybox...);
    `/system/bin/sh` (the folder's link to mksh) must be among what they provide.
    """

    def __init__(
        self,
        root: Path,
        wrappers: Sequence[str] = (),
        bwrap: str | None = None,
        programs: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.wrappers = tuple(wrappers)
        self.programs = dict(programs or {})
        self.bwrap = bwrap or shutil.which(BWRAP)
        self._fs_args = mount_args(root, self.wrappers, self.programs)
        self._init: subprocess.Popen[bytes] | None = None
        self._ns_fds: tuple[int, int] | None = None  # (user namespace, pid namespace)
        self._lock = threading.Lock()

    def start(self) -> Sandbox:
        """Start the phone's pid namespace and run `echo ok` in it, or raise SimulatorError."""
        require_bwrap(self.bwrap)
        prepare_root(self.root, self.wrappers, self.programs)
        with self._lock:
            self._start_init()
        self._probe()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stop_init()

    # --- the phone's namespaces ---
    def _start_init(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            init = subprocess.Popen(
                [self.bwrap or BWRAP, "--unshare-user", "--unshare-pid", "--info-fd"]
                + [str(write_fd), *self._fs_args, *ISOLATION_ARGS]
                + ["--", SHELL, "-c", "read -r _; :"],
                stdin=subprocess.PIPE,  # the phone lives until this closes (or we die)
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_fd)
            raise self._failure(f"{self.bwrap}: {exc.strerror}") from exc
        finally:
            os.close(write_fd)
        self._init = init
        try:
            info = _read_all(read_fd, _START_TIMEOUT_S)
        finally:
            os.close(read_fd)
        try:
            child = int(json.loads(info)["child-pid"])
            _wait_for_uid_map(child, _START_TIMEOUT_S)
            self._ns_fds = (
                os.open(f"/proc/{child}/ns/user", os.O_RDONLY),
                os.open(f"/proc/{child}/ns/pid", os.O_RDONLY),
            )
        except (ValueError, KeyError, TypeError, OSError):
            stderr = self._init_stderr(init)
            self._stop_init()
            raise self._failure(_first_line(stderr)) from None

    def _stop_init(self) -> None:
        if self._ns_fds is not None:
            for fd in self._ns_fds:
                os.close(fd)
            self._ns_fds = None
        init, self._init = self._init, None
        if init is None:
            return
        if init.stdin is not None:
            init.stdin.close()
        try:
            init.wait(timeout=2)
        except subprocess.TimeoutExpired:
            init.kill()
            init.wait()

    @staticmethod
    def _init_stderr(init: subprocess.Popen[bytes]) -> bytes:
        """What a failed init said (it is ended by closing its stdin)."""
        try:
            _out, err = init.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            return b""
        return err or b""

    def _failure(self, cause: str) -> SimulatorError:
        return SimulatorError(
            f"cannot confine the simulated phone's shell commands: bwrap failed ({cause}): "
            f"install a bubblewrap that works here (user namespaces allowed), {_FIX}"
        )

    def _probe(self) -> None:
        proc = self.popen("echo ok", env={"PATH": WRAPPER_DIR})
        try:
            out, _err = proc.communicate(timeout=_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out = b"no answer to `echo ok`"
        if out != b"ok\n":
            self.stop()
            raise self._failure(_first_line(out))

    # --- commands ---
    def argv(self, command: str, namespaces: tuple[int, int]) -> list[str]:
        """bwrap's argv for `command` (a shell reading stdin when empty) in these namespaces."""
        user_fd, pid_fd = namespaces
        shell = [SHELL, "-c", command] if command else [SHELL]
        namespace_args = ["--userns", str(user_fd), "--pidns", str(pid_fd)]
        bwrap = self.bwrap or BWRAP
        return [bwrap, *namespace_args, *self._fs_args, *ISOLATION_ARGS, "--", *shell]

    def _namespaces(self) -> tuple[int, int]:
        with self._lock:
            if self._init is not None and self._init.poll() is not None:
                self._stop_init()  # the phone's init died: the next command gets a new one
            if self._ns_fds is None:
                self._start_init()
            assert self._ns_fds is not None
            return self._ns_fds

    def host_pid(self, device_pid: int) -> int:
        """The pid on this host of the phone's process `device_pid` (ProcessLookupError if none)."""
        with self._lock:
            if self._ns_fds is None:
                raise ProcessLookupError(device_pid)
            phone_ns = os.fstat(self._ns_fds[1]).st_ino
        for entry in Path("/proc").iterdir():
            try:
                if not entry.name.isdigit() or os.stat(entry / "ns" / "pid").st_ino != phone_ns:
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            ns_pids = next(
                (ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:")), []
            )
            if ns_pids and ns_pids[-1] == str(device_pid):
                return int(entry.name)
        raise ProcessLookupError(device_pid)

    def popen(self, command: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Start `command` on the phone; stdout and stderr come back together."""
        namespaces = self._namespaces()
        return subprocess.Popen(
            self.argv(command, namespaces),
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=namespaces,
            start_new_session=True,
        )


_DEVICE_PATHS = re.compile(r"(?<![\w.~/-])(/data/local/tmp|/sdcard|/sys)(?=[/\s'\";)&|<>*?\[]|$)")


class HostShell:
    """The unconfined fallback: commands run on this host, device paths rewritten to the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def start(self) -> HostShell:
        return self

    def stop(self) -> None:
        pass

    @staticmethod
    def host_pid(device_pid: int) -> int:
        """The phone's pids are this host's."""
        return device_pid

    def rewrite(self, command: str) -> str:
        """Point the phone's absolute paths in a shell command at the folder."""
        root = str(self.root)
        return _DEVICE_PATHS.sub(lambda m: root + m.group(1), command)

    def popen(self, command: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        argv = ["/bin/sh", "-c", self.rewrite(command)] if command else ["/bin/sh"]
        return subprocess.Popen(
            argv,
            cwd=self.root,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def phone_processes(root: Path, name: str) -> list[int]:
    """Host pids of the processes running on the phone whose folder is `root`, `name` in their
    command line (sandboxed: their `/` is `root`; unconfined: their working folder is in it)."""
    phone_root = os.stat(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if name.encode() not in (entry / "cmdline").read_bytes():
                continue
            cwd = os.readlink(entry / "cwd")
            inside = os.path.samestat(os.stat(entry / "root"), phone_root) or (
                cwd == str(root) or cwd.startswith(f"{root}/")
            )
        except OSError:
            continue
        if inside:
            found.append(int(entry.name))
    return found


def _wait_for_uid_map(pid: int, timeout_s: float) -> None:
    """Wait until the user namespace of `pid` has its uid map: a shell joining it earlier has
    no valid uid, and bwrap then fails ("Can't send pid: Invalid argument")."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if Path(f"/proc/{pid}/uid_map").read_text().strip():
            return
        time.sleep(0.005)


def _read_all(fd: int, timeout_s: float) -> bytes:
    """Everything written to a pipe until its writers close it (or the time is up)."""
    data = bytearray()
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        ready, _w, _x = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _first_line(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "no output"
