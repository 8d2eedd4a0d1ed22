"""The phone's folder as `sync:` sees it: every path resolved the way the phone resolves it.

A shell command on the phone can plant symlinks (`ln -s / /data/local/tmp/host`); followed by the
host they would lead out of the folder. Here a path is walked one name at a time from the folder,
by file descriptor: a symlink is read and resolved against the phone's `/` (the folder), `..`
never climbs above it, and a folder swapped for a symlink midway fails instead of being followed.
Only `/data/local/tmp` and `/sdcard` (once resolved) take writes.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from deploy.devices.simulator.sandbox import WRITABLE

_MAX_SYMLINKS = 40
_WRITABLE_PARTS = tuple(tuple(w.strip("/").split("/")) for w in WRITABLE)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def writable(parts: list[str]) -> bool:
    """Whether the phone's path with these names is inside /data/local/tmp or /sdcard."""
    return any(tuple(parts[: len(w)]) == w for w in _WRITABLE_PARTS)


def _mode(folder: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


class _Walk:
    """Open folders from the phone's `/` down to the parent of the last name."""

    def __init__(self, root: Path) -> None:
        self.fds = [os.open(root, _DIR_FLAGS)]
        self.names: list[str] = []

    def up(self) -> None:
        if len(self.fds) > 1:
            os.close(self.fds.pop())
            self.names.pop()

    def to_root(self) -> None:
        while len(self.fds) > 1:
            self.up()

    def down(self, name: str) -> None:
        self.fds.append(os.open(name, _DIR_FLAGS, dir_fd=self.fds[-1]))
        self.names.append(name)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


class NewFile:
    """A file being pushed: `finish` it with its mode and mtime, or `discard` it."""

    def __init__(self, file: BinaryIO, folder: int, name: str) -> None:
        self.file = file
        self._folder = folder
        self._name = name

    def write(self, data: bytes | memoryview) -> None:
        self.file.write(data)

    def finish(self, mode: int, mtime: int) -> None:
        self.file.flush()
        os.fchmod(self.file.fileno(), mode)
        if mtime:
            os.utime(self.file.fileno(), (mtime, mtime))
        self._close()

    def discard(self) -> None:
        if self._folder < 0:
            return
        try:
            os.unlink(self._name, dir_fd=self._folder)
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        if self._folder >= 0:
            self.file.close()
            os.close(self._folder)
            self._folder = -1


class PhoneFolder:
    """The files of the phone whose `/` is the host folder `root`, never leaving it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def _resolve(self, device_path: str, make_dirs: bool = False) -> Iterator[tuple[_Walk, str]]:
        """The open parent folder of `device_path` and its last name ("." for the phone's `/`).

        Symlinks are followed inside the folder, the last one too. `make_dirs` creates missing
        folders on the way, in the writable folders only.
        """
        walk = _Walk(self.root)
        try:
            yield walk, self._descend(walk, _split(device_path), make_dirs)
        finally:
            walk.close()

    @staticmethod
    def _descend(walk: _Walk, pending: list[str], make_dirs: bool) -> str:
        links = 0
        while pending:
            name = pending.pop(0)
            if name == "..":
                walk.up()
                continue
            mode = _mode(walk.fds[-1], name)
            if mode is None and pending and make_dirs and writable([*walk.names, name]):
                os.mkdir(name, dir_fd=walk.fds[-1])
                mode = stat.S_IFDIR
            if mode is not None and stat.S_ISLNK(mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                target = os.readlink(name, dir_fd=walk.fds[-1])
                if target.startswith("/"):
                    walk.to_root()
                pending[:0] = _split(target)
                continue
            if not pending:
                return name
            if mode is None:
                raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
            walk.down(name)
        return "."

    def stat(self, device_path: str) -> os.stat_result:
        with self._resolve(device_path) as (walk, name):
            return os.stat(name, dir_fd=walk.fds[-1], follow_symlinks=False)

    def scandir(self, device_path: str) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of each entry of a folder, sorted by name."""
        with self._resolve(device_path) as (walk, name):
            fd = os.open(name, _DIR_FLAGS, dir_fd=walk.fds[-1])
        try:
            entries = []
            for entry in os.scandir(fd):
                try:
                    entries.append((entry.name, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
            return sorted(entries, key=lambda item: item[0])
        finally:
            os.close(fd)

    def open_read(self, device_path: str) -> BinaryIO:
        with self._resolve(device_path) as (walk, name):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=walk.fds[-1])
        return os.fdopen(fd, "rb")

    def create(self, device_path: str) -> NewFile:
        """A new (or truncated) file in /data/local/tmp or /sdcard, its folders made as needed.

        Raises PermissionError elsewhere (by name, or once symlinks are resolved), OSError when
        the file cannot be created.
        """
        if not writable(_split(posixpath.normpath("/" + device_path))):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        with self._resolve(device_path, make_dirs=True) as (walk, name):
            if name == "." or not writable([*walk.names, name]):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o644, dir_fd=walk.fds[-1])
            folder = os.dup(walk.fds[-1])
        return NewFile(os.fdopen(fd, "wb"), folder, name)
