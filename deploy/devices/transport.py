"""Transports under adb-shell that fix its pitfalls: TCP_NODELAY, whole writes, fast failure.

adb-shell's own TCP transport leaves Nagle on (every small exchange stalls ~40 ms), may send
only part of a buffer on a non-blocking socket, and treats a closed socket as "no data yet",
spinning until its read timeout. Here a closed socket raises at once and a silent one raises
after exactly the timeout it was given. The device layer turns both into user-facing errors.
"""

from __future__ import annotations

import socket

from adb_shell.transport.base_transport import BaseTransport


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
