"""The one measuring loop: rounds interleaved across artifacts, each round stored as its own run
of one session, and a rerun that continues an unfinished session's rounds (real runner, real
SQLite store, the host target)."""

from __future__ import annotations

import hashlib

from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets.base import Artifact
from bench.targets.host import HostTarget

FAST = RunnerConfig(warmup=1, iterations=5)


def _artifacts(tiny_pte) -> list[Artifact]:
    out = []
    for precision, path in tiny_pte.items():
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        record = ArtifactRecord(
            sha, "mobilenet_v2_1.0_224", f"tiny_{precision}", precision=precision
        )
        out.append(Artifact(record, path))
    return out


def test_rounds_are_interleaved_and_stored_as_one_session(host_runner, tiny_pte, tmp_path):
    artifacts = _artifacts(tiny_pte)
    store_path = tmp_path / "bench.sqlite"
    (outcome,) = run_session(
        [HostTarget(runner=host_runner)], artifacts, FAST, store_path, rounds=3
    )
    assert [r.status for r in outcome.rows] == ["ok", "ok"]
    assert all(len(r.rounds_ms) == 3 and r.summary.n == 15 for r in outcome.rows)
    with Store.open(store_path) as store:
        runs = store.runs()
    # A B A B A B: every round of every artifact before the next round of any
    order = [(r.artifact_sha256, r.round) for r in runs]
    shas = [a.record.sha256 for a in artifacts]
    assert order == [(sha, i) for i in range(3) for sha in shas]
    assert len({r.session_id for r in runs}) == 1


def test_a_rerun_continues_the_rounds_of_an_unfinished_session(host_runner, tiny_pte, tmp_path):
    artifacts = _artifacts(tiny_pte)[:1]
    store_path = tmp_path / "bench.sqlite"
    target = HostTarget(runner=host_runner)
    run_session([target], artifacts, FAST, store_path, rounds=2)  # say, Ctrl-C after round 2
    (outcome,) = run_session(
        [HostTarget(runner=host_runner)], artifacts, FAST, store_path, rounds=4
    )
    with Store.open(store_path) as store:
        runs = store.runs()
    assert [r.round for r in runs] == [0, 1, 2, 3] and len({r.session_id for r in runs}) == 1
    assert len(outcome.rows[0].rounds_ms) == 4  # the stored rounds count in the row
    (again,) = run_session([HostTarget(runner=host_runner)], artifacts, FAST, store_path, rounds=4)
    assert again.rows[0].status == "skipped"  # nothing left to measure
    (forced,) = run_session(
        [HostTarget(runner=host_runner)], artifacts, FAST, store_path, rounds=2, skip_stored=False
    )
    assert len(forced.rows[0].rounds_ms) == 2
    with Store.open(store_path) as store:
        assert len({r.session_id for r in store.runs()}) == 2  # --force: a new session
