"""sha256 identities: of a file, and of an artifact that may be a folder (`.mlpackage`).

One definition for the manifest, the cache, the store, the device layer and the iOS harness's
Swift twin (`ios_harness/Sources/MobileNetBenchKit/Artifact.swift`): for a folder, sha256 over
every regular file in path order of `"<relative POSIX path>\\0"` + the file's sha256 hex.
A folder artifact holding a symbolic link is refused: an export writes none, and following one
would hash (and let a copy stage) a file from outside the artifact.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from deploy.errors import ArtifactIntegrityError

_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path | str) -> str:
    """sha256 hex of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: Path | str) -> str:
    """sha256 of an artifact: a file's bytes, or a folder's names and bytes."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    items = sorted(path.rglob("*"))
    links = [p for p in items if p.is_symlink()]
    if links:
        raise ArtifactIntegrityError(
            f"{path} holds a symbolic link ({links[0].relative_to(path)}), which no export "
            "writes; delete the artifact and re-export it (nox -s export)"
        )
    for item in (p for p in items if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(sha256_file(item).encode())
    return digest.hexdigest()
