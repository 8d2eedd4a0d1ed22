"""`artifacts/manifest.json`: what every exported artifact is, so nobody parses file names.

One entry per artifact file, keyed by the file's sha256. An entry says which model (spec),
which recipe, which weights and calibration images went in, how close the artifact's outputs
are to the eager fp32 model (fidelity), how much of the graph the backend took (delegation),
and which toolchain made it. Only entries with `valid` true may be deployed or benchmarked.

The file is versioned (`schema_version`); older versions are upgraded on load through
MIGRATIONS, newer or unknown ones are refused. Loading checks every entry's fields against
the types of ManifestEntry's fields, so a wrong value is one line naming the file and the field.
It is written atomically (temp file + os.replace, mode 0666 less the umask), so a crash never
leaves half a manifest. A change goes through `Manifest.locked`, which holds an exclusive lock
from load to save, so two exports into one folder keep each other's entries.

An entry's `file` is confined to the manifest's folder: it must be a relative path without
`..` (checked on load), and `path_of` and `remove_file` check the resolved path too, so no
entry and no symbolic link makes them read or delete anything outside the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Union, get_args, get_origin, get_type_hints

from deploy.artifacts.hashing import sha256_path
from deploy.artifacts.preprocessing import Preprocessing, imagenet
from deploy.errors import ArtifactIntegrityError, ManifestError

MANIFEST_SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"

ENTRY_FIX = "delete this entry (or the whole file) and re-export (nox -s export)"


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
    preprocessing: dict[str, Any]  # how an input is made: a Preprocessing's to_dict()
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

    @property
    def num_classes(self) -> int:
        """The model's class count (1000 for entries that do not record one)."""
        return int(self.model.get("num_classes", 1000))

    @property
    def input_preprocessing(self) -> Preprocessing:
        """How an input image becomes this artifact's input tensor (checked on load)."""
        return Preprocessing.from_dict(self.preprocessing, f"{self.describe()} preprocessing")

    def slot(self) -> tuple[str, str, str, str | None, tuple[int, ...]]:
        """What a re-export of the same thing replaces: model, recipe, weights, input shape."""
        return (
            self.model_name,
            self.recipe_name,
            str(self.weights.get("detail")),
            self.weights.get("sha256"),
            tuple(self.input_shape),
        )

    def describe(self) -> str:
        """The entry in a message: model, recipe and the start of its sha256."""
        return f"{self.model.get('name')} {self.recipe.get('name')} (sha256 {self.sha256[:12]})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest entry") -> ManifestEntry:
        """An entry from its JSON form, each field checked against its type; unknown ones dropped.

        A missing field, a wrong type or an unusable value (a `file` outside the folder, a
        sha256 that is not one) is a one-line ManifestError naming `where` and the field.
        """
        problem = _entry_problem(data, where)
        if problem is not None:
            raise ManifestError(f"{problem}; {ENTRY_FIX}")
        return cls(**{name: data[name] for name in _FIELD_TYPES if name in data})


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
        """The manifest at `path`, every entry type-checked; a missing file is an empty manifest."""
        path = Path(path)
        if not path.exists():
            return cls(path)
        document = migrate(_read_document(path), path)
        return cls(
            path,
            [
                ManifestEntry.from_dict(item, f"{path}: artifacts[{index}]")
                for index, item in enumerate(document["artifacts"])
            ],
        )

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
        """The artifact's absolute path, always inside this manifest's folder.

        ManifestError if `file` is not a relative path without `..`; ArtifactIntegrityError if
        a symbolic link leads it outside the folder (nothing there is read).
        """
        folder = self._confined_folder(entry)
        path = (folder / entry.file).resolve()
        if path == folder or not path.is_relative_to(folder):
            raise ArtifactIntegrityError(
                f"{self.path}: {entry.describe()} file {json.dumps(entry.file)} leads through a "
                f"symbolic link to {path}, not inside {folder}; delete the link and re-export it "
                "(nox -s export)"
            )
        return path

    def remove_file(self, entry: ManifestEntry) -> None:
        """Delete the entry's file or folder; never anything outside this manifest's folder.

        A symbolic link is deleted itself, never followed. A path under a linked folder that
        leads outside is refused (ArtifactIntegrityError) before anything is deleted.
        """
        folder = self._confined_folder(entry)
        path = folder / entry.file
        parent = path.parent.resolve()
        if not parent.is_relative_to(folder):
            raise ArtifactIntegrityError(
                f"{self.path}: {entry.describe()} file {json.dumps(entry.file)} lies under a "
                f"symbolic link to {parent}, outside {folder}, and was not deleted; delete the "
                "link and re-export (nox -s export)"
            )
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def remove_unused_files(self, replaced: Iterable[ManifestEntry]) -> None:
        """Delete the files of `replaced` entries that no entry of this manifest still names."""
        used = {PurePosixPath(e.file) for e in self.entries}
        for entry in replaced:
            if PurePosixPath(entry.file) not in used:
                self.remove_file(entry)

    def _confined_folder(self, entry: ManifestEntry) -> Path:
        """The resolved folder, once `entry.file` is known to name a path inside it."""
        problem = _file_problem(entry.file)
        if problem is not None:
            raise ManifestError(
                f"{self.path}: {entry.describe()} file {json.dumps(entry.file)} {problem}; "
                f"{ENTRY_FIX}"
            )
        return self.folder.resolve()

    def upsert(self, entry: ManifestEntry) -> list[ManifestEntry]:
        """Add `entry`, replacing entries with its sha256 or its slot; return those replaced."""
        replaced = [e for e in self.entries if e.sha256 == entry.sha256 or e.slot() == entry.slot()]
        self.entries = [e for e in self.entries if e not in replaced] + [entry]
        return replaced


def _v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    """v2 records each entry's preprocessing; v1 entries were all made with ImageNet's."""
    for item in document["artifacts"]:
        if isinstance(item, dict) and "preprocessing" not in item:
            resolution = _resolution_of(item)
            if resolution is not None:
                item["preprocessing"] = imagenet(resolution).to_dict()
    return document


def _resolution_of(item: dict[str, Any]) -> int | None:
    """The input's side from `input_shape` (N, C, H, W), else the model's resolution, else None."""
    shape = item.get("input_shape")
    if isinstance(shape, list) and shape and _is_kind(shape[-1], int) and shape[-1] > 0:
        return int(shape[-1])
    model = item.get("model")
    resolution: Any = model.get("resolution") if isinstance(model, dict) else None
    return int(resolution) if _is_kind(resolution, int) and resolution > 0 else None


# schema version N -> function upgrading a version-N document (a dict) to version N + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """Upgrade an older manifest document to MANIFEST_SCHEMA_VERSION, step by step."""
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
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
    """Write `data` to `path` via a temp file in the same folder and os.replace.

    The file gets mode 0666 less the umask (0644 under umask 022), as `open` would give it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = _create_temp(path)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty file beside `path`; unlike mkstemp's 0600, its mode honours the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


def _read_document(path: Path) -> dict[str, Any]:
    """The parsed manifest: an object with an `artifacts` list, else a one-line ManifestError."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(
            f"manifest {path} is not readable JSON ({exc}); delete it and re-export "
            "(`nox -s export`) to rebuild it"
        ) from None
    if not isinstance(document, dict):
        problem = f"the top level must be an object, got {_describe(document)}"
    elif not isinstance(document.get("artifacts"), list):
        problem = f"artifacts must be a list, got {_describe(document.get('artifacts'))}"
    else:
        return document
    raise ManifestError(f"{path}: {problem}; delete it and re-export (nox -s export) to rebuild it")


# -- entry validation: the JSON values against ManifestEntry's field types ----------------------

_HINTS = get_type_hints(ManifestEntry)
_FIELD_TYPES: dict[str, Any] = {f.name: _HINTS[f.name] for f in fields(ManifestEntry)}
_REQUIRED = [f.name for f in fields(ManifestEntry) if f.name != "timings"]
# keys inside dict fields that the code reads with [] (ManifestEntry's properties, verify)
_REQUIRED_KEYS: dict[str, dict[str, Any]] = {
    "model": {"name": str, "resolution": int},
    "recipe": {"name": str, "precision": str},
}
_JSON_KINDS: dict[Any, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _entry_problem(data: Any, where: str) -> str | None:
    """What is wrong with one parsed JSON entry, as `<where>.<field> ...`, or None."""
    if not isinstance(data, dict):
        return f"{where} must be an object, got {_describe(data)}"
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        return f"{where} lacks {', '.join(missing)}"
    return _types_problem(data, where) or _values_problem(data, where)


def _types_problem(data: dict[str, Any], where: str) -> str | None:
    """The first field, or key the code reads inside one, whose value has the wrong type."""
    problem = _first_problem(
        (data[name], hint, f"{where}.{name}") for name, hint in _FIELD_TYPES.items() if name in data
    )
    if problem is not None:
        return problem
    for name, keys in _REQUIRED_KEYS.items():
        absent = [key for key in keys if key not in data[name]]
        if absent:
            return f"{where}.{name} lacks {', '.join(absent)}"
    return _first_problem(
        (data[name][key], hint, f"{where}.{name}.{key}")
        for name, keys in _REQUIRED_KEYS.items()
        for key, hint in keys.items()
    )


def _values_problem(data: dict[str, Any], where: str) -> str | None:
    """A sha256 that is not one, or a file that would lead outside the manifest's folder."""
    if not re.fullmatch(r"[0-9a-f]{64}", data["sha256"]):
        return f"{where}.sha256 {_describe(data['sha256'])} must be 64 lowercase hex digits"
    label = f"{data['model']['name']} {data['recipe']['name']}, sha256 {data['sha256'][:12]}"
    problem = _file_problem(data["file"])
    if problem is not None:
        return f"{where}.file {json.dumps(data['file'])} ({label}) {problem}"
    return _preprocessing_problem(data, f"{where}.preprocessing ({label})")


def _preprocessing_problem(data: dict[str, Any], where: str) -> str | None:
    """A preprocessing that is no Preprocessing, or whose crop is not the input's side."""
    try:
        preprocessing = Preprocessing.from_dict(data["preprocessing"], where)
    except ManifestError as exc:
        return str(exc)
    shape = data["input_shape"]
    if shape and shape[-1] != preprocessing.crop:
        return f"{where}: crop {preprocessing.crop} does not match input_shape {shape}"
    return None


def _type_problem(value: Any, hint: Any, where: str) -> str | None:
    """None if the JSON `value` has the type `hint` (a field annotation), else what is wrong."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return None
    if origin in (Union, types.UnionType):
        if any(_type_problem(value, arg, where) is None for arg in args):
            return None
        expected = " or ".join(_JSON_KINDS[get_origin(arg) or arg] for arg in args)
        return f"{where} must be {expected}, got {_describe(value)}"
    if not _is_kind(value, origin or hint):
        return f"{where} must be {_JSON_KINDS[origin or hint]}, got {_describe(value)}"
    if origin is list:
        return _first_problem((v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        return _first_problem((v, args[1], f"{where}.{k}") for k, v in value.items())
    return None


def _first_problem(checks: Iterable[tuple[Any, Any, str]]) -> str | None:
    """The first problem of (value, hint, where) checks, in order, or None."""
    return next((p for p in (_type_problem(*check) for check in checks) if p is not None), None)


def _is_kind(value: Any, kind: Any) -> bool:
    """isinstance for parsed JSON: a bool is no number, an integer is a float."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _describe(value: Any) -> str:
    """A parsed JSON value in a message: containers by kind, scalars as written (shortened)."""
    if isinstance(value, dict | list):
        return _JSON_KINDS[type(value)]
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _file_problem(value: Any) -> str | None:
    """Why `value` cannot name a path inside the manifest's folder, or None."""
    if not isinstance(value, str):
        return "must be a string"
    path = PurePosixPath(value)
    if "\0" in value or not path.parts or path.is_absolute() or ".." in path.parts:
        return "must be a relative path inside the manifest's folder, without '..'"
    return None
