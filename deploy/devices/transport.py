"""Transport and packet I/O under adb-shell that fix its pitfalls (adb-shell 0.4.4 is pinned).

TcpTransport: TCP_NODELAY, whole writes, fast failure. IOManager: protocol version 0x01000001.

adb-shell's own TCP transport leaves Nagle on (every small exchange stalls ~40 ms), may send
only part of a buffer on a non-blocking socket, and treats a closed socket as "no data yet",
spinning until its read timeout. Here a closed socket raises at once and a silent one raises
after exactly the timeout it was given. The device layer turns both into user-facing errors.
"""

from __future__ import annotations

import socket
from typing import Any

from adb_shell import constants as adb_constants
from adb_shell import exceptions as adb_errors
from adb_shell.adb_device import _AdbIOManager
from adb_shell.adb_message import unpack
from adb_shell.transport.base_transport import BaseTransport

from deploy.devices.simulator import protocol as wire


class TransportClosed(Exception):
    """The device closed the connection (or it reset)."""


class TransportTimeout(Exception):
    """The device sent or accepted nothing for `timeout_s` seconds."""

    def __init__(self, timeout_s: float | None) -> None:
        super().__init__(f"no data for {timeout_s} s")
        self.timeout_s = timeout_s


class TransportRefused(Exception):
    """Nothing listens at the address."""


class TcpTransport(BaseTransport):  # type: ignore[misc]
    """ADB over TCP with TCP_NODELAY, sendall, and closed-socket detection."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None

    def connect(self, transport_timeout_s: float | None) -> None:
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=transport_timeout_s)
        except ConnectionRefusedError as exc:
            raise TransportRefused(str(exc)) from exc
        except TimeoutError as exc:
            raise TransportTimeout(transport_timeout_s) from exc
        except OSError as exc:
            raise TransportRefused(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise TransportClosed("not connected")
        return self._sock

    def bulk_read(self, numbytes: int, transport_timeout_s: float | None) -> bytes:
        sock = self._socket()
        sock.settimeout(transport_timeout_s)
        try:
            data = sock.recv(numbytes)
        except TimeoutError as exc:
            raise TransportTimeout(transport_timeout_s) from exc
        except OSError as exc:
            raise TransportClosed(str(exc)) from exc
        if not data:
            raise TransportClosed("connection closed by the device")
        return data

    def bulk_write(self, data: bytes, transport_timeout_s: float | None) -> int:
        sock = self._socket()
        sock.settimeout(transport_timeout_s)
        try:
            sock.sendall(data)
        except TimeoutError as exc:
            raise TransportTimeout(transport_timeout_s) from exc
        except OSError as exc:
            raise TransportClosed(str(exc)) from exc
        return len(data)


class IOManager(_AdbIOManager):  # type: ignore[misc]
    """adb-shell's packet I/O, offering protocol version 0x01000001 (as adb itself does).

    When the device agrees, payload checksums are neither computed nor checked (adb-shell sums
    every payload byte by byte in Python: ~5 ms per MB); otherwise they are checked with numpy.
    """

    def __init__(self, transport: BaseTransport) -> None:
        super().__init__(transport)
        self.protocol_version = adb_constants.VERSION
        self._negotiated = False

    @property
    def checksums(self) -> bool:
        return self.protocol_version < wire.A_VERSION_SKIP_CHECKSUM

    def _send(self, msg: Any, adb_info: Any) -> None:
        if msg.command == _CNXN:
            msg.arg0 = wire.A_VERSION
            self.protocol_version = adb_constants.VERSION
            self._negotiated = False
        header = msg.pack() if self.checksums or not msg.data else _zero_checksum(msg)
        self._transport.bulk_write(header, adb_info.transport_timeout_s)
        if msg.data:
            self._transport.bulk_write(msg.data, adb_info.transport_timeout_s)

    def _read_packet_from_device(self, adb_info: Any) -> tuple[bytes, int, int, bytes]:
        header = self._read_bytes_from_device(adb_constants.MESSAGE_SIZE, adb_info)
        cmd, arg0, arg1, length, check = unpack(header)
        command = adb_constants.WIRE_TO_ID.get(cmd)
        if not command:
            raise adb_errors.InvalidCommandError(f"unknown ADB command {cmd:#x} from the device")
        data = self._read_bytes_from_device(length, adb_info) if length else b""
        if command == adb_constants.CNXN:
            self.protocol_version = min(arg0, wire.A_VERSION)
            self._negotiated = True
        elif (
            data and self.checksums and (check or self._negotiated) and wire.checksum(data) != check
        ):
            # before the device's CNXN (during AUTH) a device may already skip checksums: 0
            raise adb_errors.InvalidChecksumError(f"payload checksum {check} does not match")
        return command, arg0, arg1, data


_CNXN = adb_constants.ID_TO_WIRE[adb_constants.CNXN]


def _zero_checksum(msg: Any) -> bytes:
    return wire.HEADER.pack(msg.command, msg.arg0, msg.arg1, len(msg.data), 0, msg.magic)
