"""A simulated Android phone on 127.0.0.1 that speaks the ADB wire protocol.

One `SimulatedDevice` is one phone: its own port, its own sandbox folder (the phone's `/`, with
`/data/local/tmp` inside), its own profile and faults. It serves CNXN/AUTH, `shell:` and `exec:`
(v1: no exit status, output as it comes) and `sync:` (STAT, LIST, SEND, RECV, QUIT). Commands
really run on this machine, confined by bubblewrap to a sandbox whose `/` is that folder (see
sandbox.py), so a host-built program gives real timings; `sync:` resolves paths the same way
(rootfs.py). Without bubblewrap the phone refuses to start unless `unsafe_host_shell=True`.

Threads: one accepts, one reads each connection, and each open stream has its own worker.
"""

from __future__ import annotations

import logging
import os
import posixpath
import queue
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from deploy.devices.errors import SimulatorError
from deploy.devices.simulator import protocol as p
from deploy.devices.simulator.android_tools import phone_binaries
from deploy.devices.simulator.faults import Faults
from deploy.devices.simulator.profiles import Profile, get_profile, materialize, write_state
from deploy.devices.simulator.rootfs import NewFile, PhoneFolder
from deploy.devices.simulator.sandbox import WRITABLE, HostShell, Sandbox, require_bwrap

log = logging.getLogger("deploy.devices.simulator")

AUTH_MODES = ("accept", "keys", "refuse")
_ENOSPC = "write failed: No space left on device"


class _Gone(Exception):
    """The connection is closed (or this stream is): stop quietly."""


class SimulatedDevice:
    """One simulated phone serving ADB on `host:port` until `stop()`.

    `auth`: `accept` takes any key offered (a user tapping Allow; the key is then known),
    `keys` only the keys in `known_keys`, `refuse` none. `port=0` picks a free port.
    Shell commands run in a bubblewrap sandbox (start() raises SimulatorError when none can be
    made); `unsafe_host_shell=True` runs them unconfined on this host instead, as before.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        profile: str | Profile = "x86_64",
        auth: str = "accept",
        known_keys: Iterable[str | bytes] = (),
        faults: Faults | None = None,
        sandbox: Path | str | None = None,
        accept_delay_s: float = 0.0,
        unsafe_host_shell: bool = False,
    ) -> None:
        if auth not in AUTH_MODES:
            raise SimulatorError(f"unknown --auth {auth!r}: use one of {', '.join(AUTH_MODES)}")
        self.host = host
        self.port = port
        self.profile = get_profile(profile)
        self.auth = auth
        self.faults = faults or Faults()
        self.accept_delay_s = accept_delay_s
        self.unsafe_host_shell = unsafe_host_shell
        self.shell: Sandbox | HostShell | None = None
        self._keys: dict[str, p.PublicKey] = {}
        for key in known_keys:
            self.add_known_key(key)
        self._own_sandbox = sandbox is None
        self._sandbox_arg = Path(sandbox) if sandbox is not None else None
        self.root = Path()
        self.shell_env: dict[str, str] = {}
        self.props: dict[str, str] = {}
        self._temperatures = dict(self.profile.thermal_zones)
        self._battery_decic = self.profile.battery_temp_decic
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()

    # --- lifecycle ---
    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tmp_dir(self) -> Path:
        """The host folder that is the phone's /data/local/tmp."""
        return self.root / "data" / "local" / "tmp"

    def start(self) -> SimulatedDevice:
        try:
            listener = socket.create_server((self.host, self.port))
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}): pick another --port"
            ) from exc
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        if self._sandbox_arg is None:
            self.root = Path(tempfile.mkdtemp(prefix=f"adbsim-{self.port}-"))
        else:
            self.root = self._sandbox_arg
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.shell = self._start_shell()
        except BaseException:
            listener.close()
            self._remove_own_sandbox()
            raise
        self.props = self.profile.getprops(self.serial)
        thread = threading.Thread(target=self._accept_loop, name=f"adbsim-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        log.info(
            "simulated phone %s (%s) serving, sandbox %s", self.serial, self.profile.name, self.root
        )
        return self

    def _start_shell(self) -> Sandbox | HostShell:
        """The phone's shell: a bubblewrap sandbox (proved to work), or this host's if unsafe."""
        sandboxed = not self.unsafe_host_shell
        if sandboxed:
            require_bwrap()  # said first: without it, nothing else matters
        self.shell_env = materialize(self.profile, self.root, self.serial, sandboxed=sandboxed)
        if not sandboxed:
            log.warning(
                "simulated phone %s: --unsafe-host-shell: its shell commands run UNCONFINED on "
                "this host, as this user; anyone who can connect to it can use this machine",
                self.serial,
            )
            return HostShell(self.root)
        wrapper = self.profile.wrapper_path()
        wrappers = [wrapper] if wrapper else []
        return Sandbox(self.root, wrappers, programs=phone_binaries()).start()

    def _remove_own_sandbox(self) -> None:
        if self._own_sandbox and self.root != Path():
            shutil.rmtree(self.root, ignore_errors=True)

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()
        for thread in self._threads:
            thread.join(timeout=2)
        if self.shell is not None:
            self.shell.stop()
        self._remove_own_sandbox()

    def __enter__(self) -> SimulatedDevice:
        return self.start() if self._listener is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until stop() is called (from a signal handler or another thread)."""
        while not self._stop.wait(0.5):
            pass

    # --- what the phone senses ---
    def set_temperature(self, zone: str, celsius: float) -> None:
        """The thermal zone named `zone` (a profile zone type) reads `celsius` from now on: in
        /sys (even when the shell may not read it) and for the phone's dumpsys."""
        names = [name for name, _milli in self.profile.thermal_zones]
        if zone not in names:
            raise SimulatorError(f"no thermal zone {zone!r} on this phone: one of {names}")
        milli = round(celsius * 1000)
        self._temperatures[zone] = milli
        path = self.host_path(f"/sys/class/thermal/thermal_zone{names.index(zone)}/temp")
        mode = path.stat().st_mode & 0o777
        path.chmod(0o600)
        path.write_text(f"{milli}\n")
        path.chmod(mode)
        self._write_state()

    def set_battery_temperature(self, celsius: float) -> None:
        """The battery reads `celsius` from now on (sysfs and `dumpsys battery`)."""
        self._battery_decic = round(celsius * 10)
        path = self.host_path(f"/sys/class/power_supply/{self.profile.battery_supply}/temp")
        mode = path.stat().st_mode & 0o777
        path.chmod(0o600)
        path.write_text(f"{self._battery_decic}\n")
        path.chmod(mode)
        self._write_state()

    def _write_state(self) -> None:
        write_state(
            self.profile,
            self.root,
            self._temperatures,
            self._battery_decic,
            self.profile.battery_status,
        )

    # --- keys ---
    def add_known_key(self, key: str | bytes | p.PublicKey) -> None:
        """Trust a public key (the text of an adbkey.pub file)."""
        parsed = key if isinstance(key, p.PublicKey) else p.parse_public_key(key)
        self._keys[parsed.fingerprint] = parsed

    @property
    def known_keys(self) -> list[p.PublicKey]:
        return list(self._keys.values())

    def _verify(self, token: bytes, signature: bytes | bytearray) -> bool:
        return any(p.verify_signature(k, token, signature) for k in list(self._keys.values()))

    # --- paths ---
    def host_path(self, device_path: str) -> Path:
        """The file on this host that is `device_path` on the phone (by name; for inspection)."""
        norm = posixpath.normpath("/" + device_path.lstrip("/"))
        return self.root / norm.lstrip("/")

    def host_pid(self, device_pid: int) -> int:
        """The pid on this host of the phone's process `device_pid` (the phone has its own pids)."""
        if self.shell is None:
            raise ProcessLookupError(device_pid)
        return self.shell.host_pid(device_pid)

    @property
    def files(self) -> PhoneFolder:
        """The phone's files as `sync:` reaches them (symlinks never lead out of the folder)."""
        return PhoneFolder(self.root)

    def remaining_bytes(self) -> int | None:
        """Free space under the simulated quota, None when unlimited."""
        if self.faults.disk_full:
            return 0
        if self.faults.quota_bytes is None:
            return None
        used = 0
        for top in (self.host_path(w) for w in WRITABLE):
            for dirpath, _dirs, files in os.walk(top):
                for name in files:
                    try:
                        used += os.lstat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        pass
        return max(0, self.faults.quota_bytes - used)

    # --- connections ---
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn = _Connection(self, sock)
            with self._lock:
                self._connections.add(conn)
            thread = threading.Thread(target=conn.run, name=f"adbsim-{self.port}-conn", daemon=True)
            thread.start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)


class _Connection:
    """One host connected to the phone: handshake, auth, and the streams it opens."""

    def __init__(self, device: SimulatedDevice, sock: socket.socket) -> None:
        self.device = device
        self.faults = device.faults
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.send_lock = threading.Lock()
        self.count_lock = threading.Lock()
        self.closed = threading.Event()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 0
        self.version = p.A_VERSION
        self.max_payload = p.MAX_PAYLOAD
        self.checksums = True
        self.negotiated = False
        self.authorized = False
        self.token = b""
        self.bytes_moved = 0
        self._bw_next = 0.0

    # --- I/O with faults ---
    def _account(self, n: int) -> None:
        with self.count_lock:
            self.bytes_moved += n
            moved = self.bytes_moved
        faults = self.faults
        if faults.drop_after_bytes is not None and moved >= faults.drop_after_bytes:
            log.info("fault: dropping the connection after %d bytes", moved)
            self.close()
            raise _Gone
        if faults.hang_after_bytes is not None and moved >= faults.hang_after_bytes:
            log.info("fault: hanging after %d bytes", moved)
            self.closed.wait()
            raise _Gone
        if faults.bandwidth_mb_s:
            with self.count_lock:
                now = time.monotonic()
                start = max(now, self._bw_next)
                self._bw_next = start + n / (faults.bandwidth_mb_s * 1e6)
                delay = self._bw_next - now
            if delay > 0:
                time.sleep(delay)

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if k == 0:
                raise _Gone
            got += k
        return buf

    def read_packet(self) -> p.Packet:
        header = self._recv_exact(p.HEADER.size)
        try:
            command, arg0, arg1, length, check = p.unpack_header(bytes(header))
        except ValueError:
            log.warning("corrupt packet header; closing the connection")
            raise _Gone from None
        if length > p.MAX_PAYLOAD:
            log.warning("packet of %d bytes exceeds max payload; closing", length)
            raise _Gone
        payload: bytes | bytearray = self._recv_exact(length) if length else b""
        if self.negotiated and self.checksums and p.checksum(payload) != check:
            log.warning("payload checksum mismatch; closing the connection")
            raise _Gone
        self._account(p.HEADER.size + length)
        return p.Packet(command, arg0, arg1, payload)

    def send_packet(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        if self.closed.is_set():
            raise _Gone
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        header = p.pack_header(command, arg0, arg1, payload, self.checksums)
        with self.send_lock:
            self._account(len(header) + len(payload))
            try:
                if len(payload) < 65536:
                    self.sock.sendall(header + payload)
                else:
                    self.sock.sendall(header)
                    self.sock.sendall(payload)
            except OSError:
                self.close()
                raise _Gone from None

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for stream in list(self.streams.values()):
            stream.terminate()
        self.streams.clear()
        self.device._forget(self)

    # --- the reader ---
    def run(self) -> None:
        try:
            while not self.closed.is_set():
                self.handle(self.read_packet())
        except (_Gone, OSError):
            pass
        except Exception:  # a bug in the simulator: log it, drop this host, keep serving
            log.exception("simulator connection failed")
        finally:
            self.close()

    def handle(self, pkt: p.Packet) -> None:
        if pkt.command == p.A_CNXN:
            self.version = min(pkt.arg0, p.A_VERSION)
            self.max_payload = max(256, min(pkt.arg1 or p.MAX_PAYLOAD, p.MAX_PAYLOAD))
            self.checksums = self.version < p.A_VERSION_SKIP_CHECKSUM
            self.negotiated = True
            if self.authorized:
                self._send_cnxn()
            else:
                self._send_token()
        elif pkt.command == p.A_AUTH:
            self._handle_auth(pkt)
        elif not self.authorized:
            return  # like adbd: nothing but CNXN/AUTH before the host is authorized
        elif pkt.command == p.A_OPEN:
            self._open(pkt)
        elif pkt.command == p.A_OKAY:
            stream = self.streams.get(pkt.arg1)
            if stream is not None:
                stream.on_okay()
        elif pkt.command == p.A_WRTE:
            stream = self.streams.get(pkt.arg1)
            if stream is None:
                self.send_packet(p.A_CLSE, 0, pkt.arg0)
            else:
                stream.on_write(pkt.payload)
        elif pkt.command == p.A_CLSE:
            stream = self.streams.pop(pkt.arg1, None)
            if stream is not None:
                stream.on_host_close()

    def _send_cnxn(self) -> None:
        self.send_packet(p.A_CNXN, p.A_VERSION, p.MAX_PAYLOAD, p.banner(self.device.props))

    def _send_token(self) -> None:
        self.token = secrets.token_bytes(p.TOKEN_SIZE)
        self.send_packet(p.A_AUTH, p.AUTH_TOKEN, 0, self.token)

    def _handle_auth(self, pkt: p.Packet) -> None:
        device = self.device
        if not self.token or self.authorized:
            return
        if pkt.arg0 == p.AUTH_SIGNATURE:
            if device.auth != "refuse" and device._verify(self.token, pkt.payload):
                self.authorized = True
                self._send_cnxn()
            else:
                self._send_token()
        elif pkt.arg0 == p.AUTH_RSAPUBLICKEY:
            if self.faults.unauthorized:
                log.info("fault: the Allow prompt is shown and never answered")
                return
            try:
                key = p.parse_public_key(pkt.payload)
            except (ValueError, TypeError):
                log.warning("unreadable public key offered; closing")
                raise _Gone from None
            if device.auth != "accept":
                log.info("key %s refused (auth=%s)", key.fingerprint, device.auth)
                self.close()
                raise _Gone
            if device.accept_delay_s:
                time.sleep(device.accept_delay_s)
            device.add_known_key(key)
            self.authorized = True
            log.info("key %s accepted", key.fingerprint)
            self._send_cnxn()

    def _open(self, pkt: p.Packet) -> None:
        service = pkt.payload.rstrip(b"\0").decode("utf-8", "replace")
        self.next_id = self.next_id % 0x7FFFFFFF + 1
        local_id = self.next_id
        stream: _Stream
        if service.startswith("shell:"):
            stream = _ProcessStream(self, local_id, pkt.arg0, service[len("shell:") :])
        elif service.startswith("exec:"):
            stream = _ProcessStream(self, local_id, pkt.arg0, service[len("exec:") :])
        elif service == "sync:":
            stream = _SyncStream(self, local_id, pkt.arg0)
        else:
            log.info("service %r not supported; refusing", service)
            self.send_packet(p.A_CLSE, 0, pkt.arg0)
            return
        self.streams[local_id] = stream
        self.send_packet(p.A_OKAY, local_id, pkt.arg0)
        stream.start()


class _Stream:
    """One open stream: inbound payloads go through a queue to a worker, which acks them."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.can_send = threading.Event()
        self.can_send.set()
        self.inbound: queue.Queue[tuple[bytes | bytearray, bool] | None] = queue.Queue()
        self.closed = threading.Event()
        self._clse_lock = threading.Lock()
        self._clse_sent = False

    def start(self) -> None:
        threading.Thread(
            target=self._work, daemon=True, name=f"adbsim-stream-{self.local_id}"
        ).start()

    def _work(self) -> None:
        try:
            self.serve()
        except (_Gone, OSError):
            pass
        except Exception:
            log.exception("simulator stream failed")
        finally:
            self.terminate()
            self.finish()

    def serve(self) -> None:
        raise NotImplementedError

    # called by the reader thread
    def on_okay(self) -> None:
        self.can_send.set()

    def on_write(self, payload: bytes | bytearray) -> None:
        # like adbd, acknowledge as soon as the data is queued (at most two payloads ahead);
        # beyond that the worker acknowledges when it takes the payload: flow control holds
        early = self.inbound.qsize() < 2
        if early:
            self.ack()
        self.inbound.put((payload, early))

    def on_host_close(self) -> None:
        self.closed.set()
        self.inbound.put(None)
        self.terminate()
        self._send_clse()

    # used by the worker
    def ack(self) -> None:
        self.conn.send_packet(p.A_OKAY, self.local_id, self.remote_id)

    def next_payload(self) -> bytes | bytearray:
        while True:
            try:
                item = self.inbound.get(timeout=0.2)
            except queue.Empty:
                if self.conn.closed.is_set():
                    raise _Gone from None
                continue
            if item is None:
                raise _Gone
            data, acked = item
            if not acked:
                self.ack()
            return data

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        step = self.conn.max_payload
        for offset in range(0, len(view), step):
            while not self.can_send.wait(0.2):
                if self.closed.is_set() or self.conn.closed.is_set():
                    raise _Gone
            if self.closed.is_set():
                raise _Gone
            self.can_send.clear()
            self.conn.send_packet(
                p.A_WRTE, self.local_id, self.remote_id, bytes(view[offset : offset + step])
            )

    def finish(self) -> None:
        self.closed.set()
        self.conn.streams.pop(self.local_id, None)
        try:
            self._send_clse()
        except (_Gone, OSError):
            pass

    def _send_clse(self) -> None:
        with self._clse_lock:
            if self._clse_sent:
                return
            self._clse_sent = True
        self.conn.send_packet(p.A_CLSE, self.local_id, self.remote_id)

    def terminate(self) -> None:
        """Stop whatever runs behind this stream."""


class _ProcessStream(_Stream):
    """`shell:` / `exec:` v1: run the command on the phone; stdout+stderr go back raw."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int, command: str) -> None:
        super().__init__(conn, local_id, remote_id)
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None

    def serve(self) -> None:
        device = self.conn.device
        assert device.shell is not None
        self.proc = device.shell.popen(self.command, device.shell_env)
        threading.Thread(target=self._pump_input, daemon=True).start()
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, self.conn.max_payload)
            if not data:
                break
            self.write(data)
        self.proc.wait()

    def _pump_input(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        try:
            while True:
                data = self.next_payload()
                try:
                    proc.stdin.write(data)
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass
        except (_Gone, OSError):
            pass

    def terminate(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()


class _SyncStream(_Stream):
    """`sync:` v1: STAT, LIST, SEND, RECV and QUIT, framed as in SYNC.TXT."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        super().__init__(conn, local_id, remote_id)
        self._buf = memoryview(b"")
        self._pos = 0

    def read_views(self, n: int) -> list[memoryview]:
        """The next n bytes of the stream, as views into the payloads they arrived in."""
        parts = []
        while n > 0:
            if self._pos >= len(self._buf):
                self._buf = memoryview(self.next_payload())
                self._pos = 0
            take = min(n, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos : self._pos + take])
            self._pos += take
            n -= take
        return parts

    def read(self, n: int) -> bytes:
        return b"".join(self.read_views(n))

    def request(self) -> tuple[int, int]:
        ident, size = p.SYNC_REQUEST.unpack(self.read(8))
        return ident, size

    def fail(self, message: str) -> None:
        data = message.encode()
        self.write(p.SYNC_REQUEST.pack(p.ID_FAIL, len(data)) + data)

    def serve(self) -> None:
        while True:
            ident, size = self.request()
            if ident == p.ID_QUIT:
                return
            if size > 4096:
                self.fail("path too long")
                return
            path = self.read(size).decode("utf-8", "replace")
            if ident == p.ID_STAT:
                self._stat(path)
            elif ident == p.ID_LIST:
                self._list(path)
            elif ident == p.ID_SEND:
                if not self._send(path):
                    return
            elif ident == p.ID_RECV:
                if not self._recv(path):
                    return
            else:
                self.fail(f"unknown sync command {ident:#x}")
                return

    def _stat(self, path: str) -> None:
        try:
            st = self.conn.device.files.stat(path)
            reply = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF)
        except OSError:
            reply = (0, 0, 0)
        self.write(p.SYNC_REQUEST.pack(p.ID_STAT, reply[0]) + p.SYNC_REQUEST.pack(*reply[1:]))

    def _list(self, path: str) -> None:
        out = bytearray()
        try:
            entries = self.conn.device.files.scandir(path)
        except OSError:
            entries = []
        for entry_name, st in entries:
            name = entry_name.encode()
            out += p.SYNC_REQUEST.pack(p.ID_DENT, st.st_mode)
            out += p.SYNC_REQUEST.pack(st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF)
            out += len(name).to_bytes(4, "little") + name
        out += p.SYNC_REQUEST.pack(p.ID_DONE, 0) + bytes(12)
        self.write(out)

    def _create(self, path: str, mode: int) -> tuple[NewFile | None, str | None]:
        """The file a SEND writes to, or why it cannot be written."""
        if stat.S_ISLNK(mode):
            return None, "symlinks are not supported by this simulator"
        try:
            return self.conn.device.files.create(path), None
        except PermissionError:
            return None, f"couldn't create file: Permission denied ({path})"
        except OSError as exc:
            return None, f"couldn't create file: {exc.strerror or 'Is a directory'}"

    def _send(self, spec: str) -> bool:
        path, _, mode_text = spec.rpartition(",")
        try:
            mode = int(mode_text)
        except ValueError:
            path, mode = spec, 0o100644
        target, error = self._create(path, mode)
        if error is not None:
            self.fail(error)
        try:
            mtime = self._receive(target, error)
        except BaseException:
            if target is not None:
                target.discard()  # the connection went away: no partial file stays
            raise
        if mtime is None or target is None:
            return False
        target.finish(stat.S_IMODE(mode) or 0o644, mtime)
        self.write(p.SYNC_REQUEST.pack(p.ID_OKAY, 0))
        return True

    def _receive(self, target: NewFile | None, error: str | None) -> int | None:
        """Write a SEND's DATA into `target` until DONE: its mtime, None when the SEND failed."""
        room = self.conn.device.remaining_bytes()
        written = 0
        while True:
            ident, size = self.request()
            if ident == p.ID_DONE:
                return size if error is None else None
            if ident != p.ID_DATA:
                self.fail("invalid data message: expected DATA or DONE")
                raise _Gone
            if size > p.SYNC_DATA_MAX:
                self.fail(error or "data chunk too large")
                raise _Gone
            views = self.read_views(size)
            if error is not None or target is None:
                continue
            if room is not None and written + size > room:
                error = _ENOSPC
                target.discard()
                self.fail(error)
                continue
            for view in views:
                target.write(view)
            written += size

    def _recv(self, path: str) -> bool:
        try:
            handle = self.conn.device.files.open_read(path)
        except OSError as exc:
            self.fail(f"open failed: {exc.strerror}")
            return False
        with handle:
            out = bytearray()
            step = self.conn.max_payload
            while True:
                chunk = handle.read(p.SYNC_DATA_MAX)
                if not chunk:
                    break
                out += p.SYNC_REQUEST.pack(p.ID_DATA, len(chunk))
                out += chunk
                if len(out) >= step:
                    self.write(bytes(out[:step]))
                    del out[:step]
            out += p.SYNC_REQUEST.pack(p.ID_DONE, 0)
            self.write(out)
        return True
