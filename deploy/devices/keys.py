"""ADB keys: `~/.android/adbkey` (created if missing, private key mode 0600) and ADB_VENDOR_KEYS."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from adb_shell.auth.keygen import encode_pubkey, get_user_info, keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from deploy.devices.errors import DeviceKeyError


def default_key_path() -> Path:
    """Where adb keeps this user's key: `~/.android/adbkey`."""
    return Path.home() / ".android" / "adbkey"


def ensure_key(path: Path | None = None) -> Path:
    """The private key at `path`, generated (with its .pub) if missing; private key mode 0600."""
    path = path or default_key_path()
    public = path.with_name(path.name + ".pub")
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # create the file 0600 before any key material is written to it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            keygen(str(path))
        elif not public.exists():
            public.write_text(public_key_text(path))
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError as exc:
        raise DeviceKeyError(
            f"cannot create the ADB key {path} ({exc.strerror}): make {path.parent} writable"
        ) from exc
    return path


def public_key_text(private_key: Path) -> str:
    """The `adbkey.pub` text of a private key: Android's RSA struct in base64, ` user@host`."""
    return base64.b64encode(encode_pubkey(str(private_key))).decode() + get_user_info()


def vendor_key_paths(value: str | None = None) -> list[Path]:
    """Private keys named by ADB_VENDOR_KEYS: files, or folders of `*.adb_key` files."""
    value = os.environ.get("ADB_VENDOR_KEYS", "") if value is None else value
    paths: list[Path] = []
    for entry in filter(None, value.split(os.pathsep)):
        item = Path(entry).expanduser()
        if item.is_dir():
            paths += sorted(item.glob("*.adb_key"))
        elif item.is_file():
            paths.append(item)
    return paths


def load_signer(private_key: Path) -> PythonRSASigner:
    """A signer for one private key (its .pub is used if present, else derived)."""
    public = private_key.with_name(private_key.name + ".pub")
    try:
        priv = private_key.read_text()
        pub = public.read_text() if public.exists() else public_key_text(private_key)
        return PythonRSASigner(pub, priv)
    except (OSError, ValueError) as exc:
        raise DeviceKeyError(
            f"cannot read the ADB key {private_key} ({exc}): delete it to have a new one made"
        ) from exc


def load_signers(key_path: Path | None = None) -> list[PythonRSASigner]:
    """This user's key (created if missing) first, then every ADB_VENDOR_KEYS key."""
    paths = [ensure_key(key_path)] + vendor_key_paths()
    return [load_signer(path) for path in paths]
