"""The results store: API, provenance rules, migrations, crash safety, bad paths."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.errors import StoreError, StoreLockedError
from bench.results import RunnerResult
from bench.store import (
    EAGER_RECIPE,
    MIGRATIONS,
    SCHEMA_VERSION,
    ArtifactRecord,
    DeviceRecord,
    EvaluationRecord,
    LayerRecord,
    PeakRecord,
    ProfileRecord,
    RunRecord,
    Store,
    unstored_folder,
)
from tests.bench.test_results import GOOD

SHA = "ab" * 32


def _fill(store: Store) -> None:
    store.upsert_device(DeviceRecord("host:vm", "host", name="vm", metadata={"cpu": "EPYC"}))
    store.upsert_artifact(
        ArtifactRecord(
            SHA,
            "mobilenet_v2_1.0_224",
            "xnnpack_fp32",
            precision="fp32",
            input_shape=(1, 3, 224, 224),
            weights_source="random",
            resolution=224,
            madds=300_774_272,
        )
    )


def _result(**changes) -> RunnerResult:
    return RunnerResult.from_json({**GOOD, **changes})


def test_record_and_read_back(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    _fill(store)
    result = _result()
    run = RunRecord.from_result(
        result,
        device_id="host:vm",
        provenance="host",
        config_key="threads=1",
        started_at="2025-01-01T00:00:00",
        machine={"governor": "performance"},
    )
    run_id = store.record_run(run, result.samples_ms, result.warmup_ms)
    assert store.samples(run_id) == [1.0, 1.2, 0.9]
    assert store.samples(run_id, "warmup") == [1.0, 1.1]
    got = store.run(run_id)
    assert (got.model, got.recipe, got.precision) == (
        "mobilenet_v2_1.0_224",
        "xnnpack_fp32",
        "fp32",
    )
    assert got.input_shape == (1, 3, 224, 224) and got.weights_source == "random"
    assert got.provenance == "host" and got.latencies_valid and got.threads == 1
    assert got.machine == {"governor": "performance"} and got.runner_version == "0.1.0"
    assert (got.runner_name, got.madds, got.resolution) == ("bench_runner", 300_774_272, 224)
    assert store.has_run("host:vm", SHA, "threads=1")
    assert not store.has_run("host:vm", SHA, "threads=2")
    assert [r.id for r in store.runs(model="mobilenet_v2_1.0_224", provenance="host")] == [run_id]
    assert store.device("host:vm").metadata == {"cpu": "EPYC"}
    store.upsert_device(DeviceRecord("host:vm", "host", name="vm", metadata={"cpu": "new"}))
    assert store.device("host:vm").metadata == {"cpu": "new"}


def test_emulated_runs_keep_no_timings(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    _fill(store)
    result = _result(emulated=True)
    with pytest.raises(StoreError, match="emulated"):
        store.record_run(
            RunRecord.from_result(
                result, device_id="host:vm", provenance="host", config_key="k", started_at="t"
            ),
            result.samples_ms,
        )
    run_id = store.record_run(
        RunRecord.from_result(
            result, device_id="host:vm", provenance="emulated", config_key="k", started_at="t"
        ),
        result.samples_ms,
        result.warmup_ms,
    )
    got = store.run(run_id)
    assert store.samples(run_id) == [] and store.samples(run_id, "warmup") == []
    assert got.load_ms is None and got.first_inference_ms is None and not got.latencies_valid
    assert got.output_top1 == 7 and got.provenance == "emulated"


def test_failed_run_row(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    _fill(store)
    run_id = store.record_run(
        RunRecord("host:vm", SHA, "host", "k", status="failed", error="runner timed out after 5s"),
        [1.0],
    )
    got = store.run(run_id)
    assert got.status == "failed" and got.error.startswith("runner timed out")
    assert store.samples(run_id) == [] and not store.has_run("host:vm", SHA, "k")


def test_bad_values_are_refused(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    _fill(store)
    with pytest.raises(StoreError, match="provenance"):
        store.record_run(RunRecord("host:vm", SHA, "paper", "k"))
    with pytest.raises(StoreError, match="upsert the device"):
        store.record_run(RunRecord("nobody", SHA, "phone", "k"))
    assert store.runs() == []


def test_migrate_v1_file(tmp_path):
    path = tmp_path / "old.sqlite"
    old = Store.open(path, _target_version=1)
    assert old.schema_version == 1
    _fill(old)
    with old._transaction():
        old._db.execute(
            """INSERT INTO runs (device_id, artifact_sha256, provenance, status, config_key,
                   started_at) VALUES ('host:vm', ?, 'simulator', 'ok', 'k', 't')""",
            (SHA,),
        )
        old._db.execute("INSERT INTO samples VALUES (1, 'measured', 0, 3.5)")
    old.close()
    store = Store.open(path)
    assert store.schema_version == SCHEMA_VERSION
    got = store.runs()[0]
    assert got.temp_before_c is None and got.latencies_valid is False  # simulator: not valid
    assert store.samples(got.id) == [3.5]
    assert (tmp_path / "old.sqlite.v1.bak").exists()


def test_migrate_v2_file_keeps_runs_samples_and_machine_state(tmp_path):
    """v3 renames host_json to machine_json and admits provenance `board` (tables rebuilt)."""
    path = tmp_path / "v2.sqlite"
    old = Store.open(path, _target_version=2)
    _fill(old)
    with old._transaction():
        old._db.execute(
            """INSERT INTO runs (device_id, artifact_sha256, provenance, status, config_key,
                   started_at, host_json) VALUES ('host:vm', ?, 'host', 'ok', 'k', 't', ?)""",
            (SHA, '{"core": 1}'),
        )
        old._db.execute("INSERT INTO samples VALUES (1, 'measured', 0, 2.5)")
        old._db.execute("INSERT INTO samples VALUES (1, 'warmup', 0, 9.0)")
        with pytest.raises(sqlite3.IntegrityError):  # v2 knows no boards
            old._db.execute(
                "INSERT INTO runs (device_id, artifact_sha256, provenance, status, config_key, "
                "started_at) VALUES ('host:vm', ?, 'board', 'ok', 'k', 't')",
                (SHA,),
            )
    old.close()
    store = Store.open(path)
    assert store.schema_version == SCHEMA_VERSION
    (got,) = store.runs()
    assert got.machine == {"core": 1} and got.provenance == "host"
    assert store.samples(got.id) == [2.5] and store.samples(got.id, "warmup") == [9.0]
    store.record_run(RunRecord("host:vm", SHA, "board", "k", machine={"core": 2}))
    assert [r.provenance for r in store.runs()] == ["host", "board"]
    assert (tmp_path / "v2.sqlite.v2.bak").exists()


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this bench"):
        Store.open(path)


def test_unwritable_store_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as info:
        Store.open(blocker / "bench.sqlite")
    assert "--store" in str(info.value) and "\n" not in str(info.value)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open results store"):
        Store.open(garbage)


def test_ctrl_c_midway_rolls_back(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    _fill(store)

    def samples():
        yield 1.0
        yield 2.0
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.record_run(RunRecord("host:vm", SHA, "host", "k"), samples())
    assert store.runs() == [] and store.integrity_ok()
    store.record_run(RunRecord("host:vm", SHA, "host", "k"), [1.0])  # still writable
    assert len(store.runs()) == 1


def test_full_disk_is_one_line_and_keeps_earlier_runs(tmp_path):
    store = Store.open(tmp_path / "bench.sqlite")
    _fill(store)
    store.record_run(RunRecord("host:vm", SHA, "host", "done"), [1.0, 2.0])
    # SQLite's own "database or disk is full" (SQLITE_FULL): no room for another page.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreError) as info:
        store.record_run(RunRecord("host:vm", SHA, "host", "big"), [float(i) for i in range(50000)])
    message = str(info.value)
    assert "disk is full" in message and "free space" in message and "\n" not in message
    assert [r.config_key for r in store.runs()] == ["done"] and store.integrity_ok()


def test_sigkill_midway_leaves_a_valid_store(tmp_path):
    path = tmp_path / "bench.sqlite"
    store = Store.open(path)
    _fill(store)
    store.record_run(RunRecord("host:vm", SHA, "host", "done"), [1.0, 2.0])
    store.close()
    script = textwrap.dedent(
        f"""
        import os, signal
        from bench.store import RunRecord, Store
        store = Store.open({str(path)!r})
        def samples():
            for i in range(100000):
                if i == 5000:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield float(i)
        store.record_run(RunRecord("host:vm", {SHA!r}, "host", "killed"), samples())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    store = Store.open(path)
    assert store.integrity_ok()
    assert [r.config_key for r in store.runs()] == ["done"]
    assert store.samples(store.runs()[0].id) == [1.0, 2.0]
    assert not store.has_run("host:vm", SHA, "killed")


def test_artifact_from_manifest_entry_shape():
    class Entry:
        sha256 = SHA
        file = "mobilenet_v2_1.0_224/xnnpack_int8.pte"
        size_bytes = 123
        model = {"name": "mobilenet_v2_1.0_224", "family": "v2", "width": 1.0, "resolution": 224}
        recipe = {
            "name": "xnnpack_int8",
            "backend": "xnnpack",
            "precision": "int8",
            "format": "pte",
        }
        input_shape = [1, 3, 224, 224]
        params = 3_500_000
        madds = 300_000_000
        weights = {"source": "imagenet", "detail": "", "sha256": "cd" * 32}

    record = ArtifactRecord.from_manifest_entry(Entry())
    assert record.model == "mobilenet_v2_1.0_224" and record.precision == "int8"
    assert record.input_shape == (1, 3, 224, 224) and record.weights_source == "imagenet"
    assert json.dumps(record.manifest)  # serialisable


# -- another process holding the store ---------------------------------------------------------


@contextlib.contextmanager
def locked_by_another_process(path: Path, hold_s: float = 120.0) -> Iterator[None]:
    """Another process holds the store's write lock (BEGIN EXCLUSIVE and a write) for hold_s,
    or until the block ends."""
    script = textwrap.dedent(
        f"""
        import sqlite3, time
        db = sqlite3.connect({str(path)!r}, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        db.execute("CREATE TABLE locker (x)")
        print("locked", flush=True)
        time.sleep({hold_s!r})
        db.execute("ROLLBACK")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.kill()
        proc.wait()


def test_lock_released_within_the_wait_stores_the_run(tmp_path):
    path = tmp_path / "bench.sqlite"
    store = Store.open(path, lock_timeout_s=20)
    _fill(store)
    with locked_by_another_process(path, hold_s=2.5):  # longer than one busy timeout (1 s)
        started = time.monotonic()
        run_id, not_stored = store.save_run(RunRecord("host:vm", SHA, "host", "k"), [1.0, 2.0])
        waited = time.monotonic() - started
    assert run_id is not None and not_stored == "" and store.not_stored == []
    assert 1.5 < waited < 15
    assert store.samples(run_id) == [1.0, 2.0] and store.integrity_ok()
    assert not unstored_folder(path).exists()


def test_lock_held_past_the_wait_keeps_the_run_and_says_so(tmp_path):
    path = tmp_path / "bench.sqlite"
    store = Store.open(path)
    store.lock_timeout_s = 0.5  # the bound may change after opening
    run = RunRecord("host:vm", SHA, "host", "k", threads=1, machine={"core": 3})
    with locked_by_another_process(path):
        _fill(store)  # upserts meeting the lock go with the next run: no error
        started = time.monotonic()
        run_id, not_stored = store.save_run(run, [1.0, 2.0, 3.0], [0.5])
        assert 0.5 <= time.monotonic() - started < 10
        assert run_id is None and store.not_stored == [not_stored]
        assert "\n" not in not_stored and str(path) in not_stored
        assert "locked by another process" in not_stored and "import-unstored" in not_stored
        (kept,) = unstored_folder(path).glob("*.json")
        assert str(kept) in not_stored
        with pytest.raises(StoreLockedError) as info:  # record_run itself: one line, the fix
            store.record_run(run, [1.0])
        assert isinstance(info.value, StoreError) and "\n" not in str(info.value)
        assert "locked by another process" in str(info.value)
        assert "rerun when that process is done" in str(info.value)
    assert store.runs() == [] and store.device("host:vm") is None
    # the lock is gone: the kept run goes in with its device, artifact and samples
    (run_id,) = store.import_unstored()
    got = store.run(run_id)
    assert (got.model, got.device_id, got.machine) == (
        "mobilenet_v2_1.0_224",
        "host:vm",
        {"core": 3},
    )
    assert store.samples(run_id) == [1.0, 2.0, 3.0] and store.samples(run_id, "warmup") == [0.5]
    assert not unstored_folder(path).exists() and store.import_unstored() == []
    run_id, not_stored = store.save_run(RunRecord("host:vm", SHA, "host", "next"), [4.0])
    assert run_id is not None and not_stored == "" and store.integrity_ok()


def test_import_unstored_cli(tmp_path, capsys, monkeypatch):
    from bench import store as store_module

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.2)
    main = store_module.main
    path = tmp_path / "bench.sqlite"
    store = Store.open(path, lock_timeout_s=0.2)
    _fill(store)
    with locked_by_another_process(path):
        assert store.save_run(RunRecord("host:vm", SHA, "host", "k"), [1.0]).run_id is None
        assert main(["import-unstored", str(path)]) == 2  # still locked: one line, no traceback
        err = capsys.readouterr().err
        assert "locked by another process" in err and "Traceback" not in err
    assert main(["import-unstored", str(path)]) == 0
    assert "stored 1 kept run(s)" in capsys.readouterr().out
    assert [r.config_key for r in store.runs()] == ["k"]


def test_rounds_and_metrics(tmp_path):
    """v4: the rounds of a session share its id; a run from before v4 is its own session;
    metrics (not latencies) are stored with their run."""
    path = tmp_path / "rounds.sqlite"
    old = Store.open(path, _target_version=3)
    _fill(old)
    with old._transaction():
        old._db.execute(
            """INSERT INTO runs (device_id, artifact_sha256, provenance, status, config_key,
                   started_at) VALUES ('host:vm', ?, 'host', 'ok', 'k', 't')""",
            (SHA,),
        )
    old.close()
    with Store.open(path) as store:
        (legacy,) = store.runs()
        assert (legacy.session_id, legacy.round) == (f"run-{legacy.id}", 0)
        assert store.rounds_done("host:vm", SHA, "k") == (f"run-{legacy.id}", 1)
        for index in range(2):
            store.record_run(
                RunRecord(
                    "host:vm",
                    SHA,
                    "host",
                    "k",
                    session_id="s1",
                    round=index,
                    metrics={"instructions_per_inference": (1.5e9 + index, "instructions")},
                ),
                [4.0 + index],
            )
        store.record_run(RunRecord("host:vm", SHA, "host", "k", status="failed", session_id="s1"))
        assert store.rounds_done("host:vm", SHA, "k") == ("s1", 2)  # failed rounds do not count
        assert store.rounds_done("host:vm", SHA, "other") == ("", 0)
        last = [r for r in store.runs() if r.session_id == "s1" and r.status == "ok"][-1]
        assert last.round == 1
        assert store.metrics(last.id) == {"instructions_per_inference": (1.5e9 + 1, "instructions")}
        assert store.samples(last.id) == [5.0]
        assert store.metrics(legacy.id) == {}


def test_evaluations_profiles_and_peaks(tmp_path):
    """v5: a v4 store gains accuracy, profile and peak tables; each reads back as written, and a
    row for an unknown device is one line, not an IntegrityError."""
    path = tmp_path / "v5.sqlite"
    old = Store.open(path, _target_version=4)
    _fill(old)
    old.close()
    with Store.open(path) as store:
        assert store.schema_version == 5
        eager = EvaluationRecord("host:vm", "m", EAGER_RECIPE, "d" * 64, 100, 0.97, 1.0)
        store.record_evaluation(eager)
        int8 = EvaluationRecord(
            "host:vm",
            "m",
            "xnnpack_int8",
            "d" * 64,
            100,
            0.96,
            0.99,
            artifact_sha256=SHA,
            reference_top1=0.97,
            detail={"limit": 100},
        )
        store.record_evaluation(int8)
        assert [e.top1 for e in store.evaluations(model="m")] == [0.97, 0.96]
        (back,) = store.evaluations(artifact_sha256=SHA)
        assert (back.reference_top1, back.detail, back.recipe) == (
            0.97,
            {"limit": 100},
            "xnnpack_int8",
        )
        layers = (
            LayerRecord(0, "features.0", "conv", 0.5, kernel=3, stride=2, groups=1, madds=10),
            LayerRecord(1, "features.1", "dwconv", 0.25, kernel=3, groups=16, delegated=False),
        )
        pid = store.record_profile(ProfileRecord("host:vm", SHA, "host", 20, layers, total_ms=0.8))
        (profile,) = store.profiles(artifact_sha256=SHA)
        assert profile.id == pid and profile.layers == layers and profile.total_ms == 0.8
        store.record_peak(PeakRecord("host:vm", "int8", 150.0, 10**9, 6.7, "host"))
        assert [p.gmacs for p in store.peaks(device_id="host:vm", precision="int8")] == [150.0]
        assert store.peaks(precision="fp32") == []
        with pytest.raises(StoreError, match="upsert the device"):
            store.record_peak(PeakRecord("host:nobody", "int8", 1.0, 1, 1.0, "host"))
