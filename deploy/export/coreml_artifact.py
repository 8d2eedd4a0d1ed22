"""Identity of Core ML artifacts, which are directories (`.mlpackage`, `.mlmodelc`).

The digest is the manifest's (`deploy.artifacts.hashing.sha256_path`), so the manifest, the store
and the iOS harness (its Swift twin: `ios_harness/Sources/MobileNetBenchKit/Artifact.swift`)
name the same thing: for a directory, sha256 over, for every regular file in the order of its
relative path's components (code-point order), `"<relative POSIX path>\\0<sha256 hex of the
file>"`; a plain file's identity is its own sha256. Nothing here imports coremltools, so bench/
can use it cheaply.
"""

from __future__ import annotations

from pathlib import Path

from deploy.artifacts.hashing import sha256_path


def artifact_sha256(path: Path) -> str:
    """sha256 of a file, or the digest of a directory artifact (see the module docstring)."""
    return sha256_path(Path(path))


def tree_sha256(root: Path) -> str:
    return sha256_path(Path(root))


def artifact_size(path: Path) -> int:
    """Bytes of a file, or of every file in a directory artifact."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
