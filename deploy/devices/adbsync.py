"""The ADB `sync:` service (SYNC.TXT v1) over an adb-shell connection: push, pull, stat.

adb-shell's own push drops the device's FAIL message when it arrives before the final reply
(a full disk then looks like a read timeout), and checksums each payload in pure Python. This
client reads every packet of the stream, so a FAIL is seen as soon as it is sent.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO, Any

from adb_shell import constants as adb_constants

from deploy.devices.simulator import protocol as wire

_MESSAGE = struct.Struct("<2I")
_STAT = struct.Struct("<4I")


class SyncFailure(Exception):
    """The device answered FAIL; the message is the device's own."""


class StreamClosed(Exception):
    """The device closed the sync stream."""


class _Message:
    """An ADB packet in the shape adb-shell's I/O manager sends (pack() and data)."""

    def __init__(
        self,
        command: int,
        arg0: int,
        arg1: int,
        data: bytes | bytearray | memoryview,
        with_checksum: bool,
    ) -> None:
        self.command = command
        self.arg0 = arg0
        self.arg1 = arg1
        self.magic = command ^ 0xFFFFFFFF
        self.data = data
        self._header = wire.pack_header(command, arg0, arg1, data, with_checksum)

    def pack(self) -> bytes:
        return self._header


class SyncSession:
    """One open `sync:` stream on an adb-shell AdbDevice."""

    def __init__(self, adb: Any, timeout_s: float) -> None:
        self._adb = adb
        self._io = adb._io_manager
        self._info = adb._open(b"sync:", timeout_s, timeout_s, None)
        self._max = max(4096, min(int(adb._maxdata), wire.MAX_PAYLOAD))
        self._checksums = bool(getattr(self._io, "checksums", True))
        self._rx = bytearray()
        self._pos = 0

    # --- packets ---
    def _receive(self, expected: list[bytes]) -> tuple[bytes, bytes]:
        cmd, _arg0, _arg1, data = self._io.read(expected, self._info, allow_zeros=True)
        if cmd == adb_constants.CLSE:
            raise StreamClosed("the device closed the sync stream")
        if cmd == adb_constants.WRTE:
            self._adb._okay(self._info)
            if self._pos:
                del self._rx[: self._pos]
                self._pos = 0
            self._rx += data
        return cmd, data

    def _message(self, payload: bytes | bytearray | memoryview) -> _Message:
        return _Message(
            wire.A_WRTE, self._info.local_id, self._info.remote_id, payload, self._checksums
        )

    def _send(self, message: _Message) -> None:
        self._io.send(message, self._info)

    def _wait_okay(self) -> None:
        """Wait for the device to take the last payload; a FAIL sent meanwhile is raised."""
        while True:
            cmd, _ = self._receive([adb_constants.OKAY, adb_constants.WRTE, adb_constants.CLSE])
            if cmd == adb_constants.OKAY:
                break
        self._raise_if_failed()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes on the stream, one payload at a time, each acknowledged by the device."""
        view = memoryview(data)
        for offset in range(0, len(view), self._max):
            self._send(self._message(view[offset : offset + self._max]))
            self._wait_okay()

    def read_exact(self, n: int) -> bytes:
        while len(self._rx) - self._pos < n:
            self._receive([adb_constants.WRTE, adb_constants.CLSE])
        out = bytes(self._rx[self._pos : self._pos + n])
        self._pos += n
        return out

    def _raise_if_failed(self) -> None:
        """A device reply arriving while we still send is always a FAIL: raise it now."""
        if len(self._rx) - self._pos >= 8:
            ident, size = _MESSAGE.unpack(self.read_exact(8))
            message = (
                self.read_exact(size).decode("utf-8", "replace") if ident == wire.ID_FAIL else ""
            )
            raise SyncFailure(message or f"unexpected sync reply {ident:#x}")

    def _reply(self) -> tuple[int, int]:
        ident, size = _MESSAGE.unpack(self.read_exact(8))
        if ident == wire.ID_FAIL:
            raise SyncFailure(self.read_exact(size).decode("utf-8", "replace"))
        return ident, size

    def close(self) -> None:
        self._adb._clse(self._info)

    # --- requests ---
    @staticmethod
    def _request(ident: int, text: str) -> bytes:
        raw = text.encode()
        return _MESSAGE.pack(ident, len(raw)) + raw

    def stat(self, path: str) -> tuple[int, int, int]:
        """(mode, size, mtime); all zero when the path does not exist."""
        self.write(self._request(wire.ID_STAT, path))
        _ident, mode, size, mtime = _STAT.unpack(self.read_exact(_STAT.size))
        return mode, size, mtime

    def push(
        self,
        source: IO[bytes],
        path: str,
        mode: int,
        mtime: int,
        on_chunk: Callable[[memoryview], None] | None = None,
    ) -> int:
        """Send a file: SEND, DATA chunks read straight into full payloads, DONE; wait for OKAY.

        Two payload buffers alternate: the next one is read and checksummed while the device
        works on the last one (the protocol still has one payload in flight at a time).
        """
        buffers = [bytearray(self._max), bytearray(self._max)]
        request = self._request(wire.ID_SEND, f"{path},{mode}")
        state = {"total": 0, "done": False}

        def fill(buf: bytearray, prefix: bytes) -> _Message | None:
            if state["done"]:
                return None
            view = memoryview(buf)
            view[: len(prefix)] = prefix
            pos = len(prefix)
            while pos + 8 + wire.SYNC_DATA_MAX <= self._max:
                body = view[pos + 8 : pos + 8 + wire.SYNC_DATA_MAX]
                count = source.readinto(body)  # type: ignore[attr-defined]
                if not count:
                    _MESSAGE.pack_into(buf, pos, wire.ID_DONE, mtime & 0xFFFFFFFF)
                    pos += 8
                    state["done"] = True
                    break
                _MESSAGE.pack_into(buf, pos, wire.ID_DATA, count)
                if on_chunk is not None:
                    on_chunk(body[:count])
                pos += 8 + count
                state["total"] += count
            return self._message(view[:pos])

        current = fill(buffers[0], request)
        turn = 1
        while current is not None:
            self._send(current)
            upcoming = fill(buffers[turn], b"")
            turn ^= 1
            self._wait_okay()
            current = upcoming
        ident, _ = self._reply()
        if ident != wire.ID_OKAY:
            raise SyncFailure(f"unexpected reply {ident:#x} to a push")
        return int(state["total"])

    def pull(
        self, path: str, sink: IO[bytes], on_chunk: Callable[[bytes], None] | None = None
    ) -> int:
        """Receive a file: RECV, then DATA chunks until DONE."""
        self.write(self._request(wire.ID_RECV, path))
        total = 0
        while True:
            ident, size = self._reply()
            if ident == wire.ID_DONE:
                return total
            if ident != wire.ID_DATA:
                raise SyncFailure(f"unexpected reply {ident:#x} to a pull")
            data = self.read_exact(size)
            sink.write(data)
            if on_chunk is not None:
                on_chunk(data)
            total += size
