"""The ADB wire format, as a device sees it: packet headers, checksums, sync ids, and RSA auth.

Written from AOSP's protocol.txt and SYNC.TXT. Pure functions, no sockets.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

try:  # numpy makes checksums of 1 MB payloads cheap; the simulator works without it
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None  # type: ignore[assignment]


def _cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


A_SYNC = _cmd(b"SYNC")
A_CNXN = _cmd(b"CNXN")
A_AUTH = _cmd(b"AUTH")
A_OPEN = _cmd(b"OPEN")
A_OKAY = _cmd(b"OKAY")
A_CLSE = _cmd(b"CLSE")
A_WRTE = _cmd(b"WRTE")
A_STLS = _cmd(b"STLS")
# Each command is its own name read as a little-endian int: the names follow from the codes.
COMMAND_NAMES = {
    code: code.to_bytes(4, "little").decode()
    for code in (A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_STLS)
}

#: Protocol version of this device; from 0x01000001 on, payload checksums are not checked.
A_VERSION = 0x01000001
A_VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 1024 * 1024

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
TOKEN_SIZE = 20

HEADER = struct.Struct("<6I")

# sync: ids (SYNC.TXT)
ID_STAT = _cmd(b"STAT")
ID_LIST = _cmd(b"LIST")
ID_SEND = _cmd(b"SEND")
ID_RECV = _cmd(b"RECV")
ID_DENT = _cmd(b"DENT")
ID_DONE = _cmd(b"DONE")
ID_DATA = _cmd(b"DATA")
ID_OKAY = _cmd(b"OKAY")
ID_FAIL = _cmd(b"FAIL")
ID_QUIT = _cmd(b"QUIT")
SYNC_DATA_MAX = 64 * 1024
SYNC_REQUEST = struct.Struct("<2I")


@dataclass
class Packet:
    """One ADB message: command, two arguments and a payload."""

    command: int
    arg0: int
    arg1: int
    payload: bytes | bytearray = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, hex(self.command))


def checksum(data: bytes | bytearray | memoryview) -> int:
    """Sum of the payload's bytes, modulo 2**32 (only checked before version 0x01000001)."""
    if _np is not None and 4096 < len(data) <= 16 * 1024 * 1024:
        # a uint32 accumulator cannot overflow below 2**32 / 255 bytes, and is twice as fast
        return int(_np.frombuffer(data, dtype=_np.uint8).sum(dtype=_np.uint32))
    return sum(bytes(data)) & 0xFFFFFFFF


def pack_header(
    command: int, arg0: int, arg1: int, payload: bytes | bytearray | memoryview, with_checksum: bool
) -> bytes:
    """The 24-byte header that precedes a payload on the wire."""
    check = checksum(payload) if with_checksum and payload else 0
    return HEADER.pack(command, arg0, arg1, len(payload), check, command ^ 0xFFFFFFFF)


def unpack_header(raw: bytes) -> tuple[int, int, int, int, int]:
    """(command, arg0, arg1, length, checksum); ValueError on a corrupt header."""
    command, arg0, arg1, length, check, magic = HEADER.unpack(raw)
    if magic != command ^ 0xFFFFFFFF:
        raise ValueError(f"bad ADB header magic for command {command:#x}")
    return command, arg0, arg1, length, check


def banner(props: dict[str, str], features: tuple[str, ...] = ()) -> bytes:
    """The device's CNXN banner: identity read by `adb devices -l`, and its feature list."""
    keys = ("ro.product.name", "ro.product.model", "ro.product.device")
    parts = [f"{k}={props.get(k, '')}" for k in keys]
    parts.append("features=" + ",".join(features))
    return ("device::" + ";".join(parts) + ";").encode()


# --- RSA auth: Android's public key format and PKCS#1 v1.5 signatures over a SHA-1 "digest" ---

_ANDROID_PUBKEY = struct.Struct("<II256s256sI")
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


@dataclass(frozen=True)
class PublicKey:
    """An ADB public key: RSA modulus and exponent, plus the text it came from."""

    modulus: int
    exponent: int
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.modulus.to_bytes(256, "big")).hexdigest()[:16]


def parse_public_key(text: bytes | bytearray | str) -> PublicKey:
    """Decode `adbkey.pub` text (base64 of Android's RSAPublicKey struct, then ` user@host`)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    text = text.strip("\0 \n\r\t")
    b64, _, comment = text.partition(" ")
    raw = base64.b64decode(b64)
    words, _n0inv, modulus, _rr, exponent = _ANDROID_PUBKEY.unpack(raw[: _ANDROID_PUBKEY.size])
    if words != 64:
        raise ValueError("only 2048-bit ADB keys are supported")
    return PublicKey(int.from_bytes(modulus, "little"), exponent, comment.strip())


def verify_signature(key: PublicKey, token: bytes, signature: bytes | bytearray) -> bool:
    """Whether `signature` is `token` signed the way adbd expects (RSA_sign with NID_sha1)."""
    if len(signature) != 256:
        return False
    message = pow(int.from_bytes(signature, "big"), key.exponent, key.modulus).to_bytes(256, "big")
    payload = _SHA1_DIGEST_INFO + token
    expected = b"\x00\x01" + b"\xff" * (256 - 3 - len(payload)) + b"\x00" + payload
    return message == expected
