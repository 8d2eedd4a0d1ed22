"""Device paths every device kind shares: plain names only, and nothing outside our folder.

A device path reaches a device shell (quoted, but also shown to people and used as a file name),
so each of its parts must be a plain name: letters, digits and `._+,=@%-`, not starting with `-`.
"""

from __future__ import annotations

import os
import posixpath
import re

from deploy.devices.errors import UnsafePathError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+,=@%][A-Za-z0-9._+,=@%-]*$")


def check_device_path(path: str) -> str:
    """`path` normalised, if it is absolute and every part is a plain name; else UnsafePathError."""
    norm = posixpath.normpath(path)
    parts = [part for part in norm.split("/") if part]
    if not norm.startswith("/") or ".." in path.split("/"):
        raise UnsafePathError(f"device path {path!r} must be absolute, without '..': fix the name")
    for part in parts:
        if not _SAFE_NAME.match(part):
            raise UnsafePathError(
                f"refusing device path {path!r}: {part!r} has shell metacharacters or spaces; "
                "rename it to letters, digits and ._+,=@%-"
            )
    return norm


def path_under_root(root: str, name: str | os.PathLike[str]) -> str:
    """Where `name` lives on the device: relative names go under `root`; checked to stay there."""
    text = os.fspath(name)
    path = check_device_path(text if text.startswith("/") else f"{root}/{text}")
    if path != root and not path.startswith(root + "/"):
        raise UnsafePathError(f"{text!r} is outside {root}: push only into our own folder")
    return path
