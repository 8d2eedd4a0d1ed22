"""Identity of Core ML artifacts, which are directories (`.mlpackage`, `.mlmodelc`).

`tree_sha256` is the digest the manifest stores and the iOS harness prints (its Swift twin is
`ios_harness/Sources/MobileNetBenchKit/Artifact.swift`): sha256 over, for every regular file in
byte order of its relative POSIX path (names starting with "." skipped, at any depth),
`"<relative path>\\0<sha256 hex of the file>\\n"`. A plain file's identity is its own sha256.
Nothing here imports coremltools, so bench/ can use it cheaply.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every regular, non-hidden file, in byte order of the path."""
    found = []
    for path in Path(root).rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append((relative.as_posix(), path))
    return sorted(found, key=lambda item: item[0].encode())


def tree_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for relative, path in tree_files(root):
        digest.update(f"{relative}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def artifact_sha256(path: Path) -> str:
    """sha256 of a file, or the tree digest of a directory artifact."""
    path = Path(path)
    return tree_sha256(path) if path.is_dir() else file_sha256(path)


def artifact_size(path: Path) -> int:
    """Bytes of a file, or of every file in a directory artifact."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for _, p in tree_files(path))
    return path.stat().st_size
