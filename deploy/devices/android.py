"""Android over ADB on adb-shell, hardened: every push verified, every failure one clear line.

    with AndroidDevice.connect("127.0.0.1:5555") as phone:   # or a USB serial, or None
        phone.push(Path("runner"))           # -> /data/local/tmp/mobilenet_deploy/runner
        result = phone.shell("cd /data/local/tmp/mobilenet_deploy && ./runner", timeout_s=600,
                             on_output=print)
        result.exit_code, phone.info().big_core_mask

Everything we put on the phone lives under DEVICE_ROOT; `cleanup()` removes it. Names with shell
metacharacters are refused, and every path that reaches the device shell is quoted.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import posixpath
import re
import secrets
import shlex
import stat as stat_module
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adb_shell import exceptions as adb_errors
from adb_shell.adb_device import AdbDevice

from deploy.artifacts.hashing import sha256_file
from deploy.devices import discovery, info, keys
from deploy.devices.adbsync import StreamClosed, SyncFailure, SyncSession
from deploy.devices.base import (
    DEVICE_ROOT,
    Device,
    DeviceInfo,
    OutputCallback,
    PushResult,
    ShellResult,
)
from deploy.devices.errors import (
    DeviceBusyError,
    DeviceCommandError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceFullError,
    DeviceTimeoutError,
    DeviceUnauthorizedError,
    NoDeviceError,
    PushVerificationError,
)
from deploy.devices.paths import check_device_path, path_under_root
from deploy.devices.transport import (
    IOManager,
    TcpTransport,
    TransportClosed,
    TransportRefused,
    TransportTimeout,
)

_SHA_LINE = re.compile(r"^([0-9a-f]{64})\s+\*?(.+)$")
_HASH_CHUNK = 1 << 20


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _split_before_marker(text: str, marker: str) -> tuple[str, str]:
    """(output that is surely the command's, the rest: from the marker or a partial marker)."""
    found = text.find(marker)
    if found >= 0:
        return text[:found], text[found:]
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return text[:-size], text[-size:]
    return text, ""


class AndroidDevice(Device):
    """One Android phone (or simulator) over ADB, through adb-shell on hardened transports.

    Timeouts are explicit: `connect_timeout_s` for the handshake, `auth_timeout_s` for the user
    to tap Allow, `io_timeout_s` for any silence during file transfers and short commands.
    A shell command gets `timeout_s` in total (and as its allowed silence).
    """

    def __init__(
        self,
        serial: str,
        *,
        key_path: Path | None = None,
        signers: Sequence[Any] | None = None,
        connect_timeout_s: float = 5.0,
        auth_timeout_s: float = 60.0,
        io_timeout_s: float = 10.0,
        notify: Callable[[str], None] = _stderr,
        device_root: str = DEVICE_ROOT,
    ) -> None:
        self.serial = serial
        self.key_path = key_path
        self._signers = list(signers) if signers is not None else None
        self.connect_timeout_s = connect_timeout_s
        self.auth_timeout_s = auth_timeout_s
        self.io_timeout_s = io_timeout_s
        self.notify = notify
        self.root = check_device_path(device_root)
        self._adb: AdbDevice | None = None

    # --- connection ---
    @classmethod
    def connect(cls, serial: str | None = None, **options: Any) -> AndroidDevice:
        """Connect to --serial / ANDROID_SERIAL / the only USB device (see discovery)."""
        device = cls(discovery.resolve_serial(serial), **options)
        device.open()
        return device

    def _transport(self) -> Any:
        tcp = discovery.split_tcp_serial(self.serial)
        if tcp is not None:
            return TcpTransport(*tcp)
        try:
            import usb1
            from adb_shell.transport.usb_transport import UsbTransport
        except (ImportError, OSError) as exc:
            raise NoDeviceError(
                f"USB device {self.serial} needs libusb ({exc}): install libusb-1.0, "
                "or use a HOST:PORT serial"
            ) from exc
        try:
            return UsbTransport.find_adb(
                serial=self.serial, default_transport_timeout_s=self.io_timeout_s
            )
        except adb_errors.UsbDeviceNotFoundError:
            raise NoDeviceError(
                f"no USB device with serial {self.serial}: "
                "check the cable and `python -m deploy devices`"
            ) from None
        except usb1.USBError as exc:
            raise DeviceBusyError(
                f"USB device {self.serial}: {exc}: {discovery.BUSY_HINT}"
            ) from exc

    def open(self) -> None:
        """Connect and authenticate; tells the user when the phone must accept our key."""
        self.close()
        signers = self._signers if self._signers is not None else keys.load_signers(self.key_path)
        transport = self._transport()
        adb = AdbDevice(
            transport, default_transport_timeout_s=self.io_timeout_s, banner="mobilenet-deploy"
        )
        adb._io_manager = IOManager(transport)  # protocol 0x01000001: no per-byte checksums
        prompted = False

        def on_prompt(_manager: object) -> None:
            nonlocal prompted
            prompted = True
            self.notify(
                f"{self.serial}: accept the 'Allow USB debugging?' prompt on the phone "
                f"(tick 'Always allow from this computer'); waiting up to {self.auth_timeout_s:g} s"
            )

        try:
            with self._guard("connect", drop=False):
                adb.connect(
                    rsa_keys=signers,
                    transport_timeout_s=self.connect_timeout_s,
                    auth_timeout_s=self.auth_timeout_s,
                    read_timeout_s=self.connect_timeout_s,
                    auth_callback=on_prompt,
                )
        except (DeviceDisconnectedError, DeviceTimeoutError) as exc:
            adb.close()
            if not prompted:
                raise
            if isinstance(exc, DeviceTimeoutError):
                raise DeviceUnauthorizedError(
                    f"{self.serial} did not accept this computer's key "
                    f"within {self.auth_timeout_s:g} s: "
                    "unlock the phone, tap Allow on the USB debugging prompt, and retry"
                ) from None
            raise DeviceUnauthorizedError(
                f"{self.serial} refused this computer's key: revoke USB debugging authorizations "
                "on the phone, reconnect, and tap Allow"
            ) from None
        except DeviceError:
            adb.close()
            raise
        self._adb = adb

    def close(self) -> None:
        adb, self._adb = self._adb, None
        if adb is not None:
            try:
                adb.close()
            except Exception:  # closing a broken connection must not hide the real error
                pass

    def _connected(self) -> AdbDevice:
        if self._adb is None:
            self.open()
        assert self._adb is not None
        return self._adb

    @contextmanager
    def _guard(self, operation: str, *, drop: bool = True) -> Iterator[None]:
        """Turn transport and adb-shell failures into one-line device errors."""
        where = f"{self.serial} during {operation}"
        try:
            yield
        except DeviceError:
            if drop:
                self.close()
            raise
        except TransportRefused as exc:
            raise NoDeviceError(
                f"nothing answers at {self.serial} ({exc}): check the address, "
                "run `adb tcpip 5555` "
                "on a USB-connected phone, or start a simulator (`nox -s simulator`)"
            ) from None
        except (TransportClosed, StreamClosed, adb_errors.AdbConnectionError) as exc:
            if drop:
                self.close()
            raise DeviceDisconnectedError(
                f"device disconnected: {where} ({exc}); "
                "reconnect it (cable, Wi-Fi, `adb connect`) and retry"
            ) from None
        except TransportTimeout as exc:
            if drop:
                self.close()
            raise DeviceTimeoutError(
                f"{where}: no answer for {exc.timeout_s:g} s; check that the phone is awake and "
                "connected, then retry (or give a longer timeout)"
            ) from None
        except (adb_errors.AdbTimeoutError, adb_errors.TcpTimeoutException) as exc:
            if drop:
                self.close()
            raise DeviceTimeoutError(f"{where}: {exc}; reconnect the phone and retry") from None
        except (adb_errors.UsbReadFailedError, adb_errors.UsbWriteFailedError) as exc:
            if drop:
                self.close()
            text = str(getattr(exc, "usb_error", "") or exc)
            if "TIMEOUT" in text.upper():
                raise DeviceTimeoutError(
                    f"{where}: USB timed out ({text}); reconnect and retry"
                ) from None
            raise DeviceDisconnectedError(
                f"device disconnected: {where} ({text}); reconnect the cable and retry"
            ) from None
        except (
            adb_errors.InvalidChecksumError,
            adb_errors.InvalidCommandError,
            adb_errors.InvalidResponseError,
            adb_errors.AdbCommandFailureException,
        ) as exc:
            if drop:
                self.close()
            raise DeviceCommandError(
                f"{where}: protocol error ({exc}); reconnect and retry"
            ) from None
        except OSError as exc:
            text = str(exc)
            if "LIBUSB_ERROR_ACCESS" in text or "LIBUSB_ERROR_BUSY" in text:
                raise DeviceBusyError(
                    f"USB device {self.serial} is in use: {discovery.BUSY_HINT}"
                ) from None
            raise
        except Exception as exc:  # usb1 errors are not OSErrors
            name = type(exc).__name__
            if name in ("USBErrorAccess", "USBErrorBusy"):
                raise DeviceBusyError(
                    f"USB device {self.serial} is held by another program ({name}): "
                    f"{discovery.BUSY_HINT}"
                ) from None
            raise

    # --- paths ---
    def device_path(self, name: str | os.PathLike[str]) -> str:
        """Where `name` lives on the device: relative names go under our folder; checked."""
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
        """Run `command` with `sh`; its exit status is recovered from shell v1 with a marker.

        Output is passed to `on_output` as it arrives. `timeout_s` (default `io_timeout_s`)
        bounds the whole command, `idle_timeout_s` (default: `timeout_s`) any silence in it;
        a long benchmark run needs a long `timeout_s`.
        """
        timeout = float(timeout_s if timeout_s is not None else self.io_timeout_s)
        idle = min(timeout, float(idle_timeout_s)) if idle_timeout_s is not None else timeout
        marker = f"__mobilenet_deploy_rc_{secrets.token_hex(6)}__"
        wrapped = f"( {command}\n); echo {marker}$?"
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        chunks: list[str] = []
        start = time.monotonic()
        short = command.strip().splitlines()[0][:60] if command.strip() else "sh"
        with self._guard(f"`{short}`"):
            adb = self._connected()
            stream = adb.streaming_shell(
                wrapped, transport_timeout_s=idle, read_timeout_s=timeout, decode=False
            )
            for raw in stream:
                pending += decoder.decode(raw)
                ready, pending = _split_before_marker(pending, marker)
                if ready:
                    chunks.append(ready)
                    if on_output is not None:
                        on_output(ready)
                if time.monotonic() - start > timeout:
                    self.close()
                    raise DeviceTimeoutError(
                        f"{self.serial}: `{short}` still running after {timeout:g} s: "
                        "give it a longer timeout_s"
                    )
        pending += decoder.decode(b"", final=True)
        match = re.search(re.escape(marker) + r"(\d+)\r?\n?$", pending)
        if match is None:
            raise DeviceCommandError(
                f"{self.serial}: `{short}` ended without an exit status "
                "(the shell was killed?); retry"
            )
        tail = pending[: match.start()]
        chunks.append(tail)
        if on_output is not None and tail:
            on_output(tail)
        result = ShellResult(int(match.group(1)), "".join(chunks), time.monotonic() - start)
        if check and result.exit_code != 0:
            last = result.output.strip().splitlines()[-1:] or [""]
            raise DeviceCommandError(
                f"{self.serial}: `{short}` exited with status {result.exit_code}: {last[0][:200]}"
            )
        return result

    # --- files ---
    @contextmanager
    def _sync(self, operation: str) -> Iterator[SyncSession]:
        with self._guard(operation):
            session = SyncSession(self._connected(), self.io_timeout_s)
            try:
                yield session
            except SyncFailure:
                self._close_sync(session)
                raise
            else:
                session.close()

    def _close_sync(self, session: SyncSession) -> None:
        try:
            session.close()
        except Exception:
            self.close()

    def remote_files(
        self, paths: Sequence[str], hash_paths: Sequence[str] = ()
    ) -> tuple[dict[str, int], dict[str, str]]:
        """Sizes of the existing files among `paths`, sha256 of those in `hash_paths`: one call."""
        if not paths and not hash_paths:
            return {}, {}
        parts = []
        if paths:
            quoted = " ".join(shlex.quote(path) for path in paths)
            parts.append(
                f'for p in {quoted}; do echo "size $(stat -c %s "$p" 2>/dev/null || echo -)"; done'
            )
        if hash_paths:
            parts.append(
                "sha256sum " + " ".join(shlex.quote(p) for p in hash_paths) + " 2>/dev/null"
            )
        output = self.shell("; ".join(parts) + "; true", timeout_s=max(self.io_timeout_s, 60.0))
        lines = [line.strip() for line in output.output.splitlines() if line.strip()]
        sizes: dict[str, int] = {}
        size_lines = [line[5:] for line in lines if line.startswith("size ")]
        for path, text in zip(paths, size_lines, strict=False):
            if text.isdigit():
                sizes[path] = int(text)
        printed = {}
        for line in lines:
            match = _SHA_LINE.match(line)
            if match:
                printed[match.group(2)] = match.group(1)
        digests: dict[str, str] = {}
        for path in hash_paths:
            # a simulator may print its sandbox path: match on the end of the name
            for name, digest in printed.items():
                if name == path or name.endswith(path):
                    digests[path] = digest
                    break
        return sizes, digests

    def remote_sha256(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of each existing file among `paths` on the device."""
        return self.remote_files((), paths)[1]

    def push(self, local: Path | str, remote: str | None = None) -> PushResult:
        return self.push_many({Path(local): remote or Path(local).name})[0]

    def push_many(self, files: Mapping[Path, str | None] | Sequence[Path]) -> list[PushResult]:
        """Push files into our folder; unchanged ones (same sha256 on the device) are skipped.

        Only files whose size already matches on the device are hashed before the push; the
        others are hashed while they are sent. Each push is verified on the device (size and
        sha256). Returns one result per file, in order.
        """
        items = (
            list(files.items()) if isinstance(files, Mapping) else [(Path(f), None) for f in files]
        )
        plan = []
        for local, remote in items:
            local = Path(local)
            if not local.is_file():
                raise DeviceCommandError(f"cannot push {local}: no such file; check the path")
            plan.append((local, self.device_path(remote or local.name), local.stat().st_size))
        sizes, _ = self.remote_files([target for _l, target, _n in plan])
        candidates = {
            target: sha256_file(local) for local, target, size in plan if sizes.get(target) == size
        }
        _, present = self.remote_files((), list(candidates))
        results: list[PushResult] = []
        for local, target, size in plan:
            digest = candidates.get(target)
            if digest is not None and present.get(target) == digest:
                results.append(PushResult(local, target, size, digest, True, 0.0))
                continue
            start = time.monotonic()
            digest = self._push_one(local, target, size)
            results.append(PushResult(local, target, size, digest, False, time.monotonic() - start))
        self._verify([r for r in results if not r.skipped])
        return results

    def _push_one(self, local: Path, target: str, size: int) -> str:
        """Send one file; return the sha256 of what was sent."""
        st = local.stat()
        mode = stat_module.S_IFREG | stat_module.S_IMODE(st.st_mode)
        digest = hashlib.sha256()
        try:
            with self._sync(f"push of {local.name}") as session, open(local, "rb") as source:
                session.push(source, target, mode, int(st.st_mtime), digest.update)
        except SyncFailure as exc:
            message = str(exc)
            if "no space" in message.lower() or "enospc" in message.lower():
                self._remove_quietly(target)
                raise DeviceFullError(
                    f"no space left on device {self.serial} for {local.name} ({size} bytes): "
                    "free space on the phone (or `python -m deploy devices --cleanup`) and retry"
                ) from None
            raise DeviceCommandError(
                f"{self.serial}: push of {local.name} failed: {message}"
            ) from None
        return digest.hexdigest()

    def _remove_quietly(self, target: str) -> None:
        try:
            self.shell(f"rm -f {shlex.quote(target)}", timeout_s=self.io_timeout_s)
        except DeviceError:
            pass

    def _verify(self, results: Sequence[PushResult]) -> None:
        if not results:
            return
        paths = [r.remote for r in results]
        sizes, digests = self.remote_files(paths, paths)
        for result in results:
            size = sizes.get(result.remote)
            digest = digests.get(result.remote, "missing")
            if size != result.size_bytes or digest != result.sha256:
                raise PushVerificationError(
                    f"{result.remote} on {self.serial} does not match {result.local} "
                    f"after the push (size {size} vs {result.size_bytes}, "
                    f"sha256 {digest[:12]} vs {result.sha256[:12]}): push again"
                )

    def pull(self, remote: str, local: Path | str) -> Path:
        """Copy a device file to `local` through a temporary file, verified by sha256."""
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
            with os.fdopen(fd, "wb") as sink:
                try:
                    with self._sync(f"pull of {source}") as session:
                        session.pull(source, sink, digest.update)
                except SyncFailure as exc:
                    raise DeviceCommandError(
                        f"{self.serial}: cannot pull {source}: {exc}"
                    ) from None
            expected = self.remote_sha256([source]).get(source)
            if expected is not None and expected != digest.hexdigest():
                raise PushVerificationError(
                    f"{destination.name} pulled from {self.serial} "
                    f"has sha256 {digest.hexdigest()[:12]}, "
                    f"the device has {expected[:12]}: pull again"
                )
            os.replace(temp, destination)
        finally:
            temp.unlink(missing_ok=True)
        return destination

    def stat(self, remote: str) -> tuple[int, int, int]:
        """(mode, size, mtime) of a device path; zeros when missing."""
        path = check_device_path(remote)
        with self._sync(f"stat of {path}") as session:
            return session.stat(path)

    # --- facts ---
    def info(self) -> DeviceInfo:
        result = self.shell(info.INFO_SCRIPT, timeout_s=max(self.io_timeout_s, 20.0))
        return info.parse_info(self.serial, result.output)

    def cleanup(self) -> None:
        """Remove our folder from the device."""
        self.shell(
            f"rm -rf {shlex.quote(self.root)}", timeout_s=max(self.io_timeout_s, 60.0), check=True
        )
