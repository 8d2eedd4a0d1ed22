"""`artifacts/manifest.json`: what every exported artifact is, so nobody parses file names.

One entry per artifact file, keyed by the file's sha256. An entry says which model (spec),
which recipe, which weights and calibration images went in, how close the artifact's outputs
are to the eager fp32 model (fidelity), how much of the graph the backend took (delegation),
and which toolchain made it. Only entries with `valid` true may be deployed or benchmarked.

The file is versioned (`schema_version`); older versions are upgraded on load through
MIGRATIONS, newer or unknown ones are refused. It is written atomically (temp file +
os.replace), so a crash never leaves half a manifest. A change goes through `Manifest.locked`,
which holds an exclusive lock from load to save, so two exports into one folder keep each
other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from deploy.errors import ArtifactIntegrityError, ManifestError
from deploy.hashing import sha256_path

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"

# schema version N -> function upgrading a version-N document (a dict) to version N + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


@dataclass(frozen=True)
class ManifestEntry:
    """One artifact: its identity (sha256), where it is, what it is, and whether it is valid."""

    sha256: str
    file: str  # relative to the manifest's folder
    size_bytes: int
    model: dict[str, Any]  # name, family, width, resolution
    recipe: dict[str, Any]  # name, backend, precision, format (+ quantization)
    input_shape: list[int]
    params: int
    madds: int
    weights: dict[str, Any]  # source (random|checkpoint|imagenet), detail, sha256
    calibration: dict[str, Any] | None  # sha256, count, folder; None without calibration
    fidelity: dict[str, Any]  # metric -> value, "thresholds", "passed"
    valid: bool
    delegation: dict[str, Any]  # delegated_ops, non_delegated (op -> count), coverage
    toolchain: dict[str, str]  # torch, executorch, torchao, coremltools, python
    exported_at: str  # ISO 8601, UTC
    export_s: float
    cache_key: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds per pipeline stage

    @property
    def model_name(self) -> str:
        return str(self.model["name"])

    @property
    def recipe_name(self) -> str:
        return str(self.recipe["name"])

    @property
    def precision(self) -> str:
        return str(self.recipe["precision"])

    def slot(self) -> tuple[str, str, str, str | None, tuple[int, ...]]:
        """What a re-export of the same thing replaces: model, recipe, weights, input shape."""
        return (
            self.model_name,
            self.recipe_name,
            str(self.weights.get("detail")),
            self.weights.get("sha256"),
            tuple(self.input_shape),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestEntry:
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name != "timings"}
        missing = sorted(required - set(data))
        if missing:
            raise ManifestError(
                f"manifest entry {data.get('file', '?')} lacks {', '.join(missing)}; "
                "re-export with `nox -s export -- --force`"
            )
        return cls(**{k: v for k, v in data.items() if k in names})


class Manifest:
    """The entries of one manifest file; load, change, save."""

    def __init__(self, path: Path, entries: list[ManifestEntry] | None = None) -> None:
        self.path = Path(path)
        self.entries: list[ManifestEntry] = list(entries or [])

    @property
    def folder(self) -> Path:
        return self.path.parent

    @classmethod
    def load(cls, path: Path | str) -> Manifest:
        """The manifest at `path`; a missing file is an empty manifest."""
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            document = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(
                f"manifest {path} is not readable JSON ({exc}); delete it and re-export "
                "(`nox -s export`) to rebuild it"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("artifacts"), list):
            raise ManifestError(
                f"manifest {path} has no 'artifacts' list; delete it and re-export to rebuild it"
            )
        document = migrate(document, path)
        return cls(path, [ManifestEntry.from_dict(e) for e in document["artifacts"]])

    @classmethod
    @contextlib.contextmanager
    def locked(cls, path: Path | str) -> Iterator[Manifest]:
        """Load, let the caller change, save; no other `locked` of this file runs in between.

        The lock is a sidecar file (`.manifest.json.lock`) so that os.replace of the manifest
        itself does not drop it; nothing is saved if the block raises.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f".{path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            manifest = cls.load(path)
            yield manifest
            manifest.save()

    def save(self) -> None:
        """Write atomically: a temp file in the same folder, then os.replace."""
        document = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "artifacts": [e.to_dict() for e in self.entries],
        }
        atomic_write_bytes(self.path, (json.dumps(document, indent=2) + "\n").encode())

    def valid_entries(self) -> list[ManifestEntry]:
        return [e for e in self.entries if e.valid]

    def find(
        self, model_name: str | None = None, recipe_name: str | None = None
    ) -> list[ManifestEntry]:
        """Entries (valid or not) matching the given model and/or recipe name."""
        return [
            e
            for e in self.entries
            if (model_name is None or e.model_name == model_name)
            and (recipe_name is None or e.recipe_name == recipe_name)
        ]

    def path_of(self, entry: ManifestEntry) -> Path:
        """The artifact's absolute path."""
        return (self.folder / entry.file).resolve()

    def upsert(self, entry: ManifestEntry) -> list[ManifestEntry]:
        """Add `entry`, replacing entries with its sha256 or its slot; return those replaced."""
        replaced = [e for e in self.entries if e.sha256 == entry.sha256 or e.slot() == entry.slot()]
        self.entries = [e for e in self.entries if e not in replaced] + [entry]
        return replaced


def migrate(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """Upgrade an older manifest document to MANIFEST_SCHEMA_VERSION, step by step."""
    version = document.get("schema_version")
    if not isinstance(version, int):
        raise ManifestError(
            f"manifest {path} has no integer schema_version; delete it and re-export"
        )
    if version > MANIFEST_SCHEMA_VERSION:
        raise ManifestError(
            f"manifest {path} has schema version {version}, newer than this tool's "
            f"{MANIFEST_SCHEMA_VERSION}; update mobilenet-deploy or export into another folder"
        )
    while version < MANIFEST_SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ManifestError(
                f"manifest {path} has schema version {version}, which cannot be upgraded; "
                "delete it and re-export"
            )
        document = step(document)
        version += 1
        document["schema_version"] = version
    return document


def verify_artifact(manifest: Manifest, entry: ManifestEntry) -> Path:
    """The artifact's path, after checking it exists and its sha256 is the entry's."""
    path = manifest.path_of(entry)
    if not path.exists():
        raise ArtifactIntegrityError(
            f"artifact {path} listed in {manifest.path} is missing; re-export it"
        )
    actual = sha256_path(path)
    if actual != entry.sha256:
        raise ArtifactIntegrityError(
            f"artifact {path} has sha256 {actual[:12]}..., not {entry.sha256[:12]}... as "
            "the manifest says (tampered or corrupted); re-export it with --force"
        )
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
