"""The results store: one SQLite file (default results/bench.sqlite), versioned with migrations.

Tables (schema version 5):

    devices    id (PK: "host:<hostname>", an adb serial, "ssh:<host>", ...), kind
               (phone|board|host|simulator|peer),
               name, model, soc, abi, os, metadata_json, first_seen, last_seen
    artifacts  sha256 (PK), model, recipe, precision, backend, format, family, width,
               resolution, input_shape (JSON), params, madds, weights_source, weights_sha256,
               file, size_bytes, manifest_json, added_at
    runs       id, device_id -> devices, artifact_sha256 -> artifacts, provenance, status
               (ok|failed), error, runner_name, runner_version, executorch_version, threads,
               core_mask, config_key, warmup, iterations, load_ms, first_inference_ms,
               output_checksum, output_top1, started_at, ended_at, result_json,
               machine_json (the machine's state around the run; `host_json` before v3),
               [v2] temp_before_c, temp_after_c, latencies_valid,
               [v4] session_id, round (a run is one ROUND: one runner process; the rounds of
               one measuring session share its session_id; a run stored before v4 reads back as
               round 0 of its own session "run-<id>")
    samples    run_id -> runs, phase (warmup|measured), idx, latency_ms
    metrics    [v4] run_id -> runs, name, value, unit: deterministic figures measured with a run
               (e.g. instructions per inference), never latencies
    evaluations  [v5] id, device_id -> devices (the runtime that ran it: the host), model,
               artifact_sha256 (NULL for the eager fp32 model), recipe ("eager-fp32" for it),
               weights_sha256, data_sha256 (the labelled folder's hash), data_folder, images,
               skipped, top1, top5 (fractions), reference_top1/5 (eager fp32 on the same
               images), created_at, detail_json
    profiles   [v5] id, device_id -> devices, artifact_sha256 -> artifacts, provenance,
               session_id (the timed session it was taken beside; profiling never enters a
               latency), iterations, total_ms (median per-inference time inside the profile),
               etdump_sha256, created_at, detail_json
    profile_layers [v5] profile_id -> profiles, idx, name, op, kernel, stride, groups,
               in_channels, out_channels, madds (count), time_ms (median over the profiled
               iterations), delegated (1|0), detail_json
    peaks      [v5] id, device_id -> devices, precision, gmacs (the core's measured peak MAC
               rate), madds, median_ms, probe_sha256, provenance, created_at, detail_json

Provenance is one of phone, board, host, simulator, emulated, peer. An EMULATED run (qemu) is
kept as a functional check only: its output checksum/top1 are stored, its timings are not (no
samples, NULL load/first-inference times, latencies_valid = 0), so nothing can read qemu time as
a latency. A simulator run (the ADB simulator) has samples but latencies_valid = 0 as well.

Writes are transactional per run: `record_run` inserts the run row and all its samples in one
transaction, so a crash, SIGKILL or Ctrl-C leaves either the whole run or nothing.

Another process may hold the store's write lock (a second bench, a `sqlite3` shell in a
transaction). Every write waits for it, for at most `lock_timeout_s` (LOCK_TIMEOUT_S, 30 s) in
all: SQLite's busy timeout within each attempt, our own exponential back-off between attempts
(`Store._execute_waiting`, the one place that waits). Past that, a write raises
StoreLockedError. The measuring loops store runs with `save_run`, which never loses a finished
measurement to a lock: the run is kept in `<store>.unstored/<id>.json`, the loop prints its
result, says in one line that it was not stored, goes on and exits non-zero; once the other
process is done, `python -m bench.store import-unstored <store>` stores the kept runs. A device
or artifact upsert that meets such a lock is written with the next run instead (a device or
artifact row is only needed by its runs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from bench.errors import StoreError, StoreLockedError
from bench.results import RunnerResult
from deploy.artifacts.preprocessing import Preprocessing, of_entry

DEFAULT_PATH = Path("results") / "bench.sqlite"
# How long one write waits, in all, for another process's write transaction to end.
LOCK_TIMEOUT_S = 30.0
BUSY_SLICE_S = 1.0  # SQLite's busy timeout within one attempt
FIRST_BACKOFF_S = 0.05  # pause after the first failed attempt, doubled after each one
MAX_BACKOFF_S = 2.0
PROVENANCES = ("phone", "board", "host", "simulator", "emulated", "peer")
# Provenances whose timings are real measurements of a real CPU.
TIMED_PROVENANCES = ("phone", "board", "host", "peer")
DEVICE_KINDS = ("phone", "board", "host", "simulator", "peer")
STATUSES = ("ok", "failed")


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Statement by statement: executescript() would COMMIT the migration's transaction."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT, model TEXT, soc TEXT, abi TEXT, os TEXT,
            metadata_json TEXT NOT NULL DEFAULT '{}',
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
        );
        CREATE TABLE artifacts (
            sha256 TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            recipe TEXT NOT NULL,
            precision TEXT, backend TEXT, format TEXT, family TEXT,
            width REAL, resolution INTEGER, input_shape TEXT,
            params INTEGER, madds INTEGER,
            weights_source TEXT, weights_sha256 TEXT,
            file TEXT, size_bytes INTEGER,
            manifest_json TEXT NOT NULL DEFAULT '{}',
            added_at TEXT NOT NULL
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT NOT NULL REFERENCES devices(id),
            artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
            provenance TEXT NOT NULL
                CHECK (provenance IN ('phone', 'host', 'simulator', 'emulated', 'peer')),
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            error TEXT,
            runner_name TEXT, runner_version TEXT, executorch_version TEXT,
            threads INTEGER, core_mask TEXT,
            config_key TEXT NOT NULL,
            warmup INTEGER, iterations INTEGER,
            load_ms REAL, first_inference_ms REAL,
            output_checksum REAL, output_top1 INTEGER,
            started_at TEXT NOT NULL, ended_at TEXT,
            result_json TEXT, host_json TEXT
        );
        CREATE INDEX runs_identity ON runs (device_id, artifact_sha256, config_key, status);
        CREATE TABLE samples (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            phase TEXT NOT NULL CHECK (phase IN ('warmup', 'measured')),
            idx INTEGER NOT NULL,
            latency_ms REAL NOT NULL,
            PRIMARY KEY (run_id, phase, idx)
        ) WITHOUT ROWID;
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    """Thermal state around a phone run, and an explicit flag for untrustworthy timings."""
    db.execute("ALTER TABLE runs ADD COLUMN temp_before_c REAL")
    db.execute("ALTER TABLE runs ADD COLUMN temp_after_c REAL")
    db.execute("ALTER TABLE runs ADD COLUMN latencies_valid INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE runs SET latencies_valid = 0 WHERE provenance IN ('emulated', 'simulator')")


_V3_RUNS = """
CREATE TABLE runs_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices(id),
    artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
    provenance TEXT NOT NULL
        CHECK (provenance IN ('phone', 'board', 'host', 'simulator', 'emulated', 'peer')),
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    runner_name TEXT, runner_version TEXT, executorch_version TEXT,
    threads INTEGER, core_mask TEXT,
    config_key TEXT NOT NULL,
    warmup INTEGER, iterations INTEGER,
    load_ms REAL, first_inference_ms REAL,
    output_checksum REAL, output_top1 INTEGER,
    started_at TEXT NOT NULL, ended_at TEXT,
    result_json TEXT, machine_json TEXT,
    temp_before_c REAL, temp_after_c REAL,
    latencies_valid INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE samples_v3 (
    run_id INTEGER NOT NULL REFERENCES runs_v3(id) ON DELETE CASCADE,
    phase TEXT NOT NULL CHECK (phase IN ('warmup', 'measured')),
    idx INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    PRIMARY KEY (run_id, phase, idx)
) WITHOUT ROWID
"""
_V3_COLUMNS = (
    "id, device_id, artifact_sha256, provenance, status, error, runner_name, runner_version, "
    "executorch_version, threads, core_mask, config_key, warmup, iterations, load_ms, "
    "first_inference_ms, output_checksum, output_top1, started_at, ended_at, result_json, {}, "
    "temp_before_c, temp_after_c, latencies_valid"
)


def _v3(db: sqlite3.Connection) -> None:
    """`host_json` becomes `machine_json` (it holds a phone's or a board's state too), and
    `board` (a Linux board over SSH) joins the provenances. SQLite cannot change a CHECK in
    place: the runs and samples tables are rebuilt (samples first re-pointed at the new runs, so
    dropping the old tables cascades nothing)."""
    _script(db, _V3_RUNS)
    db.execute(
        f"INSERT INTO runs_v3 ({_V3_COLUMNS.format('machine_json')}) "
        f"SELECT {_V3_COLUMNS.format('host_json')} FROM runs"
    )
    db.execute("INSERT INTO samples_v3 SELECT run_id, phase, idx, latency_ms FROM samples")
    db.execute("DROP TABLE samples")
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_v3 RENAME TO runs")
    db.execute("ALTER TABLE samples_v3 RENAME TO samples")
    db.execute(
        "CREATE INDEX runs_identity ON runs (device_id, artifact_sha256, config_key, status)"
    )


def _v4(db: sqlite3.Connection) -> None:
    """Rounds: the runs of one session share a session_id and count their round; and metrics, a
    table of per-run figures that are not latencies (instructions per inference, ...)."""
    db.execute("ALTER TABLE runs ADD COLUMN session_id TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN round INTEGER NOT NULL DEFAULT 0")
    _script(
        db,
        """
        CREATE TABLE metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, name)
        ) WITHOUT ROWID
        """,
    )


def _v5(db: sqlite3.Connection) -> None:
    """Accuracy beside latency (evaluations), per-layer profiles, and each core's peak MAC rate."""
    _script(
        db,
        """
        CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL REFERENCES devices(id),
            model TEXT NOT NULL,
            artifact_sha256 TEXT,
            recipe TEXT NOT NULL,
            weights_sha256 TEXT NOT NULL DEFAULT '',
            data_sha256 TEXT NOT NULL,
            data_folder TEXT NOT NULL DEFAULT '',
            images INTEGER NOT NULL,
            skipped INTEGER NOT NULL DEFAULT 0,
            top1 REAL NOT NULL,
            top5 REAL,
            reference_top1 REAL,
            reference_top5 REAL,
            created_at TEXT NOT NULL,
            detail_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX evaluations_identity ON evaluations (model, recipe, data_sha256);
        CREATE TABLE profiles (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL REFERENCES devices(id),
            artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
            provenance TEXT NOT NULL,
            session_id TEXT,
            iterations INTEGER NOT NULL,
            total_ms REAL,
            etdump_sha256 TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            detail_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE profile_layers (
            profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            name TEXT NOT NULL,
            op TEXT NOT NULL,
            kernel INTEGER,
            stride INTEGER,
            groups INTEGER,
            in_channels INTEGER,
            out_channels INTEGER,
            madds INTEGER,
            time_ms REAL NOT NULL,
            delegated INTEGER NOT NULL DEFAULT 1,
            detail_json TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (profile_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE peaks (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL REFERENCES devices(id),
            precision TEXT NOT NULL,
            gmacs REAL NOT NULL,
            madds INTEGER NOT NULL,
            median_ms REAL NOT NULL,
            probe_sha256 TEXT NOT NULL DEFAULT '',
            provenance TEXT NOT NULL,
            created_at TEXT NOT NULL,
            detail_json TEXT NOT NULL DEFAULT '{}'
        )
        """,
    )


# MIGRATIONS[i] takes a store from version i to version i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _is_locked(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock we need."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def unstored_folder(path: str | Path) -> Path:
    """Where `Store.save_run` keeps the runs a locked store could not take."""
    path = Path(path)
    return path.with_name(path.name + ".unstored")


class Saved(NamedTuple):
    """What `Store.save_run` did with a run: `run_id, not_stored = store.save_run(...)`."""

    run_id: int | None  # None: not stored
    not_stored: str = ""  # then: one line saying why, where the run was kept, and the fix


@dataclass(frozen=True)
class DeviceRecord:
    id: str
    kind: str
    name: str = ""
    model: str = ""
    soc: str = ""
    abi: str = ""
    os: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactRecord:
    sha256: str
    model: str
    recipe: str
    precision: str = ""
    backend: str = ""
    format: str = ""
    family: str = ""
    width: float | None = None
    resolution: int | None = None
    input_shape: tuple[int, ...] = ()
    params: int | None = None
    madds: int | None = None
    weights_source: str = ""
    weights_sha256: str = ""
    file: str = ""
    size_bytes: int | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def preprocessing(self) -> Preprocessing | None:
        """The input recipe its manifest entry records (None for an artifact without one)."""
        return of_entry(self.manifest)

    @classmethod
    def from_manifest_entry(cls, entry: Any) -> ArtifactRecord:
        """From a deploy.artifacts.manifest.ManifestEntry (duck-typed: only its fields are read)."""
        model = entry.model if isinstance(entry.model, dict) else asdict(entry.model)
        recipe = entry.recipe if isinstance(entry.recipe, dict) else asdict(entry.recipe)
        weights = getattr(entry, "weights", None) or {}
        if not isinstance(weights, dict):
            weights = asdict(weights)
        raw: dict[str, Any] = {}
        with contextlib.suppress(TypeError):
            raw = asdict(entry)
        return cls(
            sha256=entry.sha256,
            model=model.get("name", ""),
            recipe=recipe.get("name", ""),
            precision=recipe.get("precision", ""),
            backend=recipe.get("backend", ""),
            format=recipe.get("format", ""),
            family=model.get("family", ""),
            width=model.get("width"),
            resolution=model.get("resolution"),
            input_shape=tuple(getattr(entry, "input_shape", ()) or ()),
            params=getattr(entry, "params", None),
            madds=getattr(entry, "madds", None),
            weights_source=weights.get("source", "") or "",
            weights_sha256=weights.get("sha256", "") or "",
            file=str(getattr(entry, "file", "")),
            size_bytes=getattr(entry, "size_bytes", None),
            manifest=json.loads(json.dumps(raw, default=str)),
        )


@dataclass(frozen=True)
class RunRecord:
    device_id: str
    artifact_sha256: str
    provenance: str
    config_key: str
    status: str = "ok"
    error: str | None = None
    runner_name: str = ""
    runner_version: str = ""
    executorch_version: str = ""
    threads: int | None = None
    core_mask: str = ""
    warmup: int | None = None
    iterations: int | None = None
    load_ms: float | None = None
    first_inference_ms: float | None = None
    output_checksum: float | None = None
    output_top1: int | None = None
    started_at: str = field(default_factory=_now)
    ended_at: str | None = None
    result_json: str | None = None
    machine: dict[str, Any] = field(default_factory=dict)  # the machine's state around the run
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    session_id: str | None = None  # the rounds of one measuring session share it
    round: int = 0
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (value, unit)

    @classmethod
    def from_result(
        cls,
        result: RunnerResult,
        *,
        device_id: str,
        provenance: str,
        config_key: str,
        started_at: str,
        ended_at: str | None = None,
        machine: dict[str, Any] | None = None,
        temp_before_c: float | None = None,
        temp_after_c: float | None = None,
    ) -> RunRecord:
        return cls(
            device_id=device_id,
            artifact_sha256=result.artifact_sha256,
            provenance=provenance,
            config_key=config_key,
            runner_name=result.runner_name,
            runner_version=result.runner_version,
            executorch_version=result.executorch_version,
            threads=result.threads,
            core_mask=result.cpu_mask,
            warmup=result.warmup,
            iterations=result.iterations,
            load_ms=result.load_ms,
            first_inference_ms=result.first_inference_ms,
            output_checksum=result.checksum,
            output_top1=result.top1,
            started_at=started_at,
            ended_at=ended_at or _now(),
            result_json=result.to_json(),
            machine=machine or {},
            temp_before_c=temp_before_c,
            temp_after_c=temp_after_c,
        )


@dataclass(frozen=True)
class StoredRun:
    """A run as read back, joined with its device and artifact identity."""

    id: int
    device_id: str
    device_kind: str
    artifact_sha256: str
    model: str
    recipe: str
    precision: str
    input_shape: tuple[int, ...]
    weights_source: str
    provenance: str
    status: str
    error: str | None
    runner_version: str
    executorch_version: str
    threads: int | None
    core_mask: str
    config_key: str
    iterations: int | None
    load_ms: float | None
    first_inference_ms: float | None
    output_checksum: float | None
    output_top1: int | None
    started_at: str
    ended_at: str | None
    latencies_valid: bool
    temp_before_c: float | None
    temp_after_c: float | None
    machine: dict[str, Any]
    runner_name: str  # "bench_runner", or the peer's engine ("onnxruntime", ...)
    madds: int | None  # of the artifact's model, a count (not millions)
    resolution: int | None
    session_id: str  # "run-<id>" for a run stored before rounds existed (v4)
    round: int


@dataclass(frozen=True)
class EvaluationRecord:
    """Top-1/top-5 of one model or artifact on one labelled folder (fractions in [0, 1])."""

    device_id: str
    model: str
    recipe: str  # the artifact's recipe, or EAGER_RECIPE for the eager fp32 model
    data_sha256: str
    images: int
    top1: float
    top5: float | None = None
    artifact_sha256: str | None = None  # None for the eager model
    weights_sha256: str = ""
    data_folder: str = ""
    skipped: int = 0
    reference_top1: float | None = None  # eager fp32 on the same images
    reference_top5: float | None = None
    created_at: str = field(default_factory=_now)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # set when read back


EAGER_RECIPE = "eager-fp32"


@dataclass(frozen=True)
class LayerRecord:
    """One layer of a profile: what it is (from the model, never a file name) and its time."""

    idx: int
    name: str
    op: str  # "conv", "dwconv", "linear", "other", ...
    time_ms: float  # median over the profiled iterations
    kernel: int | None = None
    stride: int | None = None
    groups: int | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    madds: int | None = None
    delegated: bool = True
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileRecord:
    """A profiling round of one artifact on one device, kept apart from the timed rounds."""

    device_id: str
    artifact_sha256: str
    provenance: str
    iterations: int
    layers: tuple[LayerRecord, ...] = ()
    total_ms: float | None = None
    session_id: str | None = None
    etdump_sha256: str = ""
    created_at: str = field(default_factory=_now)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # set when read back


@dataclass(frozen=True)
class PeakRecord:
    """A core's measured peak MAC rate for one precision (a large 1x1 convolution)."""

    device_id: str
    precision: str
    gmacs: float
    madds: int
    median_ms: float
    provenance: str
    probe_sha256: str = ""
    created_at: str = field(default_factory=_now)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # set when read back


# The columns read back into each record, in the order of its fields (detail and id follow).
_EVALUATION_FIELDS = tuple(f.name for f in fields(EvaluationRecord))[:-2]
_PEAK_FIELDS = tuple(f.name for f in fields(PeakRecord))[:-2]

_RUN_QUERY = """
SELECT r.id, r.device_id, d.kind, r.artifact_sha256, a.model, a.recipe, a.precision,
       a.input_shape, a.weights_source, r.provenance, r.status, r.error, r.runner_version,
       r.executorch_version, r.threads, r.core_mask, r.config_key, r.iterations, r.load_ms,
       r.first_inference_ms, r.output_checksum, r.output_top1, r.started_at, r.ended_at,
       r.latencies_valid, r.temp_before_c, r.temp_after_c, r.machine_json, r.runner_name, a.madds,
       a.resolution, COALESCE(r.session_id, 'run-' || r.id), r.round
FROM runs r JOIN devices d ON d.id = r.device_id JOIN artifacts a ON a.sha256 = r.artifact_sha256
"""


class Store:
    """Open with `Store.open(path)`; every write method is one transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path, lock_timeout_s: float | None = None):
        self._db = db
        self.path = path
        self.lock_timeout_s = LOCK_TIMEOUT_S if lock_timeout_s is None else lock_timeout_s
        # every device and artifact upserted through this connection, for kept runs
        self._known: dict[str, DeviceRecord | ArtifactRecord] = {}
        # upserts that met a lock: written in the transaction of the next run
        self._pending: dict[str, DeviceRecord | ArtifactRecord] = {}
        self.not_stored: list[str] = []  # one line per run `save_run` could not store

    # -- opening and migrating ----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path = DEFAULT_PATH,
        *,
        lock_timeout_s: float | None = None,
        _target_version: int | None = None,
    ) -> Store:
        """Open (creating and migrating as needed); writes wait for a lock up to lock_timeout_s
        (default LOCK_TIMEOUT_S)."""
        path = Path(path)
        target = SCHEMA_VERSION if _target_version is None else _target_version
        wait = LOCK_TIMEOUT_S if lock_timeout_s is None else lock_timeout_s
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=wait)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open results store {path}: {exc}; pass --store with a writable path"
            ) from None
        if version > SCHEMA_VERSION:
            db.close()
            raise StoreError(
                f"results store {path} has schema version {version}, newer than this bench "
                f"({SCHEMA_VERSION}); update mobilenet-deploy"
            )
        store = cls(db, path, wait)
        if version < target:
            if version > 0:
                store._backup(version)
            store._migrate(version, target)
        return store

    def _backup(self, version: int) -> None:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
        if not backup.exists():
            shutil.copy2(self.path, backup)

    def _migrate(self, current: int, target: int) -> None:
        for version in range(current, target):
            try:
                with self._transaction():
                    MIGRATIONS[version](self._db)
                    self._db.execute(f"PRAGMA user_version = {version + 1}")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot migrate results store {self.path} from v{version} to "
                    f"v{version + 1}: {exc}"
                ) from None

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        """One line: why a write failed and what to do; what was stored before is kept."""
        text = str(exc)
        if "full" in text:  # SQLITE_FULL: "database or disk is full"
            fix = "the disk is full: free space, or pass --store PATH on another disk"
        elif _is_locked(exc):
            return StoreLockedError(
                f"cannot write results store {self.path}: locked by another process for more "
                f"than {self.lock_timeout_s:g} s ({text}); rerun when that process is done, or "
                "pass --store PATH (runs stored before are kept)"
            )
        elif "readonly" in text or "read-only" in text:
            fix = "the file is read-only: pass --store with a writable path"
        else:
            fix = "pass --store PATH to write elsewhere"
        return StoreError(
            f"cannot write results store {self.path}: {text}; {fix} (runs stored before are kept)"
        )

    def _execute_waiting(self, sql: str) -> None:
        """Execute BEGIN IMMEDIATE or COMMIT, waiting for another process's write lock.

        The one place that waits for a lock: SQLite's busy timeout within each attempt (at
        most BUSY_SLICE_S), exponential back-off between attempts, lock_timeout_s in all; then
        the last sqlite3.OperationalError ("database is locked") is raised."""
        deadline = time.monotonic() + self.lock_timeout_s
        pause = FIRST_BACKOFF_S
        try:
            while True:
                slice_s = max(0.0, min(BUSY_SLICE_S, deadline - time.monotonic()))
                self._db.execute(f"PRAGMA busy_timeout = {int(slice_s * 1000)}")
                try:
                    self._db.execute(sql)
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_locked(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
                pause = min(2 * pause, MAX_BACKOFF_S)
        finally:  # reads keep the full wait
            self._db.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout_s * 1000)}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; any exception (KeyboardInterrupt too) rolls back.

        A lock held past lock_timeout_s raises StoreLockedError (see `_write_error`)."""
        try:
            self._execute_waiting("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from None
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                self._db.execute("ROLLBACK")
            raise
        try:
            self._execute_waiting("COMMIT")  # busy only in rollback-journal mode; retryable
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise self._write_error(exc) from None

    # -- writing ------------------------------------------------------------------------------

    def _put(self, record: DeviceRecord | ArtifactRecord) -> None:
        """The upsert statement of a device or an artifact, inside the caller's transaction."""
        now = _now()
        if isinstance(record, DeviceRecord):
            d = record
            self._db.execute(
                """INSERT INTO devices (id, kind, name, model, soc, abi, os, metadata_json,
                                        first_seen, last_seen)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
                       model = excluded.model, soc = excluded.soc, abi = excluded.abi,
                       os = excluded.os, metadata_json = excluded.metadata_json,
                       last_seen = excluded.last_seen""",
                (
                    d.id,
                    d.kind,
                    d.name,
                    d.model,
                    d.soc,
                    d.abi,
                    d.os,
                    json.dumps(d.metadata, sort_keys=True, default=str),
                    now,
                    now,
                ),
            )
            return
        a = record
        self._db.execute(
            """INSERT INTO artifacts (sha256, model, recipe, precision, backend, format, family,
                   width, resolution, input_shape, params, madds, weights_source,
                   weights_sha256, file, size_bytes, manifest_json, added_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (sha256) DO UPDATE SET model = excluded.model,
                   recipe = excluded.recipe, precision = excluded.precision,
                   backend = excluded.backend, format = excluded.format,
                   family = excluded.family, width = excluded.width,
                   resolution = excluded.resolution, input_shape = excluded.input_shape,
                   params = excluded.params, madds = excluded.madds,
                   weights_source = excluded.weights_source,
                   weights_sha256 = excluded.weights_sha256, file = excluded.file,
                   size_bytes = excluded.size_bytes, manifest_json = excluded.manifest_json""",
            (
                a.sha256,
                a.model,
                a.recipe,
                a.precision,
                a.backend,
                a.format,
                a.family,
                a.width,
                a.resolution,
                json.dumps(list(a.input_shape)),
                a.params,
                a.madds,
                a.weights_source,
                a.weights_sha256,
                a.file,
                a.size_bytes,
                json.dumps(a.manifest, sort_keys=True, default=str),
                now,
            ),
        )

    def _upsert(self, key: str, record: DeviceRecord | ArtifactRecord) -> None:
        """Write a device or an artifact now; if the store stays locked, with the next run."""
        self._known[key] = record
        if self._pending:  # locked a moment ago: do not wait again, it goes with the next run
            self._pending[key] = record
            return
        try:
            try:
                with self._transaction():
                    self._put(record)
            except sqlite3.Error as exc:
                raise self._write_error(exc) from None
        except StoreLockedError:
            self._pending[key] = record

    def upsert_device(self, device: DeviceRecord) -> None:
        if device.kind not in DEVICE_KINDS:
            raise StoreError(f"device kind {device.kind!r} is not one of {DEVICE_KINDS}")
        self._upsert(f"device:{device.id}", device)

    def upsert_artifact(self, artifact: ArtifactRecord) -> None:
        self._upsert(f"artifact:{artifact.sha256}", artifact)

    def record_run(
        self,
        run: RunRecord,
        samples_ms: Iterable[float] = (),
        warmup_ms: Iterable[float] = (),
    ) -> int:
        """Insert the run and its samples in ONE transaction; return the run id.

        Emulated runs are stored without timings (see the module docstring); a failed run
        carries no samples. A lock held past lock_timeout_s raises StoreLockedError: the
        measuring loops call `save_run` instead."""
        return self._record(run, samples_ms, warmup_ms)

    def _record(
        self,
        run: RunRecord,
        samples_ms: Iterable[float],
        warmup_ms: Iterable[float],
        records: Iterable[DeviceRecord | ArtifactRecord] = (),
    ) -> int:
        """record_run, writing pending upserts and `records` in the same transaction."""
        if run.provenance not in PROVENANCES:
            raise StoreError(f"provenance {run.provenance!r} is not one of {PROVENANCES}")
        if run.status not in STATUSES:
            raise StoreError(f"status {run.status!r} is not one of {STATUSES}")
        emulated = run.provenance == "emulated" or (
            run.result_json is not None and json.loads(run.result_json).get("emulated") is True
        )
        if emulated and run.provenance != "emulated":
            raise StoreError(
                f"an emulated (qemu) result cannot be stored as provenance {run.provenance!r}"
            )
        timed = not emulated and run.status == "ok"
        valid = run.provenance in TIMED_PROVENANCES and run.status == "ok"
        try:
            with self._transaction():
                self._flush_pending(records)
                cur = self._db.execute(
                    """INSERT INTO runs (device_id, artifact_sha256, provenance, status, error,
                           runner_name, runner_version, executorch_version, threads, core_mask,
                           config_key, warmup, iterations, load_ms, first_inference_ms,
                           output_checksum, output_top1, started_at, ended_at, result_json,
                           machine_json, temp_before_c, temp_after_c, latencies_valid,
                           session_id, round)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                               ?, ?, ?, ?)""",
                    (
                        run.device_id,
                        run.artifact_sha256,
                        run.provenance,
                        run.status,
                        run.error,
                        run.runner_name,
                        run.runner_version,
                        run.executorch_version,
                        run.threads,
                        run.core_mask,
                        run.config_key,
                        run.warmup,
                        run.iterations if timed or emulated else None,
                        run.load_ms if timed else None,
                        run.first_inference_ms if timed else None,
                        run.output_checksum,
                        run.output_top1,
                        run.started_at,
                        run.ended_at or _now(),
                        run.result_json,
                        json.dumps(run.machine, sort_keys=True, default=str),
                        run.temp_before_c,
                        run.temp_after_c,
                        int(valid),
                        run.session_id,
                        run.round,
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO metrics (run_id, name, value, unit) VALUES (?, ?, ?, ?)",
                    ((run_id, name, float(v), unit) for name, (v, unit) in run.metrics.items()),
                )
                if timed:
                    for phase, values in (("warmup", warmup_ms), ("measured", samples_ms)):
                        self._db.executemany(
                            "INSERT INTO samples (run_id, phase, idx, latency_ms) "
                            "VALUES (?, ?, ?, ?)",
                            ((run_id, phase, i, float(v)) for i, v in enumerate(values)),
                        )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"cannot record run in {self.path}: {exc} (upsert the device and the artifact "
                "first)"
            ) from None
        except sqlite3.Error as exc:
            raise self._write_error(exc) from None
        self._pending.clear()
        return run_id

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction that also writes the pending upserts; errors in one line."""
        try:
            with self._transaction():
                self._flush_pending()
                yield
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"cannot write to {self.path}: {exc} (upsert the device and the artifact first)"
            ) from None
        except sqlite3.Error as exc:
            raise self._write_error(exc) from None
        self._pending.clear()

    def _flush_pending(self, records: Iterable[DeviceRecord | ArtifactRecord] = ()) -> None:
        """Write the upserts that met a lock, and `records`, in the caller's transaction."""
        for record in [*self._pending.values(), *records]:
            self._put(record)

    def save_run(
        self,
        run: RunRecord,
        samples_ms: Iterable[float] = (),
        warmup_ms: Iterable[float] = (),
    ) -> Saved:
        """`record_run` for the measuring loops: a locked store does not lose a finished run.

        If another process holds the store past lock_timeout_s, the run (with its device and
        artifact) is kept in `<store>.unstored/<id>.json` for `import_unstored`, and the one
        line of Saved.not_stored (also appended to `self.not_stored`) says so: the caller
        still prints the result, goes on with its other runs and exits non-zero. Any other
        StoreError is raised as by `record_run`."""
        samples, warmup = [float(v) for v in samples_ms], [float(v) for v in warmup_ms]
        try:
            return Saved(self.record_run(run, samples, warmup))
        except StoreLockedError:
            pass
        cause = f"locked by another process for more than {self.lock_timeout_s:g} s"
        device = self._known.get(f"device:{run.device_id}")
        artifact = self._known.get(f"artifact:{run.artifact_sha256}")
        document = {
            "kept_because": f"results store {self.path} {cause}",
            "device": asdict(device) if device else None,
            "artifact": asdict(artifact) if artifact else None,
            "run": asdict(run),
            "samples_ms": samples,
            "warmup_ms": warmup,
        }
        folder = unstored_folder(self.path)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")  # sorts as saved
        file = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = file.with_suffix(".part")
            partial.write_text(json.dumps(document, indent=1, sort_keys=True, default=str))
            os.replace(partial, file)
        except OSError as exc:
            line = (
                f"NOT STORED in {self.path}: {cause}, and the run could not be kept ({exc}); "
                "measure it again when that process is done"
            )
        else:
            line = (
                f"NOT STORED in {self.path}: {cause}; the run is kept in {file}: when that "
                f"process is done, `python -m bench.store import-unstored {self.path}` stores it"
            )
        self.not_stored.append(line)
        return Saved(None, line)

    def import_unstored(self) -> list[int]:
        """Store the runs `save_run` kept in `<store>.unstored/`, in the order they were kept,
        each file removed once stored; return their new run ids."""
        folder = unstored_folder(self.path)
        ids = []
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                kept = json.loads(file.read_text())
                records: list[DeviceRecord | ArtifactRecord] = []
                if kept.get("device"):
                    records.append(DeviceRecord(**kept["device"]))
                if kept.get("artifact"):
                    artifact = dict(kept["artifact"])
                    artifact["input_shape"] = tuple(artifact.get("input_shape") or ())
                    records.append(ArtifactRecord(**artifact))
                run = RunRecord(**kept["run"])
                samples, warmup = list(kept["samples_ms"]), list(kept["warmup_ms"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise StoreError(
                    f"{file} is not a run kept by bench ({exc}); move it out of {folder}"
                ) from None
            ids.append(self._record(run, samples, warmup, records))
            file.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        return ids

    # -- reading ------------------------------------------------------------------------------

    def has_run(self, device_id: str, artifact_sha256: str, config_key: str) -> bool:
        """Is (device, artifact, config) already measured successfully? (resumable benches)"""
        row = self._db.execute(
            """SELECT 1 FROM runs WHERE device_id = ? AND artifact_sha256 = ? AND config_key = ?
               AND status = 'ok' LIMIT 1""",
            (device_id, artifact_sha256, config_key),
        ).fetchone()
        return row is not None

    def runs(
        self,
        *,
        device_id: str | None = None,
        artifact_sha256: str | None = None,
        model: str | None = None,
        recipe: str | None = None,
        provenance: str | None = None,
        status: str | None = None,
        config_key: str | None = None,
    ) -> list[StoredRun]:
        where, params = [], []
        for column, value in (
            ("r.device_id", device_id),
            ("r.artifact_sha256", artifact_sha256),
            ("a.model", model),
            ("a.recipe", recipe),
            ("r.provenance", provenance),
            ("r.status", status),
            ("r.config_key", config_key),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _RUN_QUERY + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id"
        return [self._stored(row) for row in self._db.execute(sql, params)]

    def run(self, run_id: int) -> StoredRun:
        row = self._db.execute(_RUN_QUERY + " WHERE r.id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in {self.path}")
        return self._stored(row)

    @staticmethod
    def _stored(row: tuple[Any, ...]) -> StoredRun:
        values = list(row)
        values[7] = tuple(json.loads(values[7] or "[]"))
        values[24] = bool(values[24])
        values[27] = json.loads(values[27] or "{}")
        values[28] = values[28] or ""
        return StoredRun(*values)

    def metrics(self, run_id: int) -> dict[str, tuple[float, str]]:
        """The run's non-latency figures: name -> (value, unit)."""
        rows = self._db.execute(
            "SELECT name, value, unit FROM metrics WHERE run_id = ? ORDER BY name", (run_id,)
        )
        return {name: (float(value), unit) for name, value, unit in rows}

    def rounds_done(self, device_id: str, artifact_sha256: str, config_key: str) -> tuple[str, int]:
        """(session id, ok rounds) of the latest session of (device, artifact, config); ("", 0)
        when there is none. A session with fewer rounds than asked for is resumed there."""
        row = self._db.execute(
            """SELECT COALESCE(session_id, 'run-' || id) AS s,
                      SUM(status = 'ok'), MAX(id) AS last
               FROM runs WHERE device_id = ? AND artifact_sha256 = ? AND config_key = ?
               GROUP BY s ORDER BY last DESC LIMIT 1""",
            (device_id, artifact_sha256, config_key),
        ).fetchone()
        return (str(row[0]), int(row[1] or 0)) if row else ("", 0)

    def samples(self, run_id: int, phase: str = "measured") -> list[float]:
        """Raw latencies of a run in order (empty for failed and emulated runs)."""
        rows = self._db.execute(
            "SELECT latency_ms FROM samples WHERE run_id = ? AND phase = ? ORDER BY idx",
            (run_id, phase),
        )
        return [float(r[0]) for r in rows]

    # -- accuracy, profiles, peaks (v5) ---------------------------------------------------------

    def record_evaluation(self, ev: EvaluationRecord) -> int:
        """Store one evaluation (its device must have been upserted); returns its id."""
        with self._writing():
            cursor = self._db.execute(
                """INSERT INTO evaluations (device_id, model, artifact_sha256, recipe,
                       weights_sha256, data_sha256, data_folder, images, skipped, top1, top5,
                       reference_top1, reference_top5, created_at, detail_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    ev.device_id,
                    ev.model,
                    ev.artifact_sha256,
                    ev.recipe,
                    ev.weights_sha256,
                    ev.data_sha256,
                    ev.data_folder,
                    ev.images,
                    ev.skipped,
                    ev.top1,
                    ev.top5,
                    ev.reference_top1,
                    ev.reference_top5,
                    ev.created_at,
                    json.dumps(ev.detail, sort_keys=True, default=str),
                ),
            )
        return int(cursor.lastrowid or 0)

    def evaluations(
        self,
        *,
        model: str | None = None,
        recipe: str | None = None,
        artifact_sha256: str | None = None,
        data_sha256: str | None = None,
    ) -> list[EvaluationRecord]:
        """Stored evaluations, oldest first, filtered by any of the given fields."""
        where, params = _filters(
            ("model", model),
            ("recipe", recipe),
            ("artifact_sha256", artifact_sha256),
            ("data_sha256", data_sha256),
        )
        rows = self._db.execute(
            f"SELECT {', '.join(_EVALUATION_FIELDS)}, detail_json, id FROM evaluations"
            + where
            + " ORDER BY id",
            params,
        )
        return [
            EvaluationRecord(
                **dict(zip(_EVALUATION_FIELDS, row[:14], strict=True)),
                detail=json.loads(row[14] or "{}"),
                id=row[15],
            )
            for row in rows
        ]

    def record_profile(self, profile: ProfileRecord) -> int:
        """Store a profile and its layers in one transaction; returns its id."""
        with self._writing():
            cursor = self._db.execute(
                """INSERT INTO profiles (device_id, artifact_sha256, provenance, session_id,
                       iterations, total_ms, etdump_sha256, created_at, detail_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    profile.device_id,
                    profile.artifact_sha256,
                    profile.provenance,
                    profile.session_id,
                    profile.iterations,
                    profile.total_ms,
                    profile.etdump_sha256,
                    profile.created_at,
                    json.dumps(profile.detail, sort_keys=True, default=str),
                ),
            )
            profile_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                """INSERT INTO profile_layers (profile_id, idx, name, op, kernel, stride, groups,
                       in_channels, out_channels, madds, time_ms, delegated, detail_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        profile_id,
                        layer.idx,
                        layer.name,
                        layer.op,
                        layer.kernel,
                        layer.stride,
                        layer.groups,
                        layer.in_channels,
                        layer.out_channels,
                        layer.madds,
                        layer.time_ms,
                        int(layer.delegated),
                        json.dumps(layer.detail, sort_keys=True, default=str),
                    )
                    for layer in profile.layers
                ],
            )
        return profile_id

    def profiles(
        self, *, device_id: str | None = None, artifact_sha256: str | None = None
    ) -> list[ProfileRecord]:
        """Stored profiles with their layers, oldest first."""
        where, params = _filters(("device_id", device_id), ("artifact_sha256", artifact_sha256))
        rows = self._db.execute(
            """SELECT device_id, artifact_sha256, provenance, iterations, total_ms, session_id,
                      etdump_sha256, created_at, detail_json, id FROM profiles"""
            + where
            + " ORDER BY id",
            params,
        ).fetchall()
        profiles = []
        for row in rows:
            layers = tuple(
                LayerRecord(
                    idx=lr[0],
                    name=lr[1],
                    op=lr[2],
                    kernel=lr[3],
                    stride=lr[4],
                    groups=lr[5],
                    in_channels=lr[6],
                    out_channels=lr[7],
                    madds=lr[8],
                    time_ms=lr[9],
                    delegated=bool(lr[10]),
                    detail=json.loads(lr[11] or "{}"),
                )
                for lr in self._db.execute(
                    """SELECT idx, name, op, kernel, stride, groups, in_channels, out_channels,
                              madds, time_ms, delegated, detail_json
                       FROM profile_layers WHERE profile_id = ? ORDER BY idx""",
                    (row[9],),
                )
            )
            profiles.append(
                ProfileRecord(
                    device_id=row[0],
                    artifact_sha256=row[1],
                    provenance=row[2],
                    iterations=row[3],
                    layers=layers,
                    total_ms=row[4],
                    session_id=row[5],
                    etdump_sha256=row[6],
                    created_at=row[7],
                    detail=json.loads(row[8] or "{}"),
                    id=row[9],
                )
            )
        return profiles

    def record_peak(self, peak: PeakRecord) -> int:
        """Store one peak measurement; returns its id."""
        with self._writing():
            cursor = self._db.execute(
                """INSERT INTO peaks (device_id, precision, gmacs, madds, median_ms, probe_sha256,
                       provenance, created_at, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    peak.device_id,
                    peak.precision,
                    peak.gmacs,
                    peak.madds,
                    peak.median_ms,
                    peak.probe_sha256,
                    peak.provenance,
                    peak.created_at,
                    json.dumps(peak.detail, sort_keys=True, default=str),
                ),
            )
        return int(cursor.lastrowid or 0)

    def peaks(
        self, *, device_id: str | None = None, precision: str | None = None
    ) -> list[PeakRecord]:
        """Stored peak measurements, oldest first."""
        where, params = _filters(("device_id", device_id), ("precision", precision))
        rows = self._db.execute(
            f"SELECT {', '.join(_PEAK_FIELDS)}, detail_json, id FROM peaks"
            + where
            + " ORDER BY id",
            params,
        )
        return [
            PeakRecord(
                **dict(zip(_PEAK_FIELDS, row[:8], strict=True)),
                detail=json.loads(row[8] or "{}"),
                id=row[9],
            )
            for row in rows
        ]

    def device(self, device_id: str) -> DeviceRecord | None:
        row = self._db.execute(
            "SELECT id, kind, name, model, soc, abi, os, metadata_json FROM devices WHERE id = ?",
            (device_id,),
        ).fetchone()
        if row is None:
            return None
        id_, kind, name, model, soc, abi, os_ = row[:7]
        return DeviceRecord(id_, kind, name, model, soc, abi, os_, json.loads(row[7]))

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _filters(*pairs: tuple[str, Any]) -> tuple[str, list[Any]]:
    """(" WHERE a = ? AND b = ?", [a, b]) for the pairs whose value is not None."""
    given = [(column, value) for column, value in pairs if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in given), [v for _, v in given]


# -- `python -m bench.store import-unstored [STORE]` ------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "store", nargs="?", type=Path, default=DEFAULT_PATH, help="default: %(default)s"
    )


def run(args: argparse.Namespace) -> int:
    with Store.open(args.store) as store:
        ids = store.import_unstored()
    listed = f": run(s) {', '.join(str(i) for i in ids)}" if ids else ""
    print(f"stored {len(ids)} kept run(s) from {unstored_folder(args.store)}{listed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from deploy.cli import run_cli

    commands = {
        "import-unstored": (
            "bench.store",
            "store the runs kept in <store>.unstored/ while the store was locked",
        )
    }
    return run_cli("python -m bench.store", commands, argv)


if __name__ == "__main__":
    raise SystemExit(main())
