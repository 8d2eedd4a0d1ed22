"""The one measuring loop, for every target (host, Android shell or app, SSH board, ...):

    outcomes = run_session([HostTarget(core=1)], artifacts, config, store_path, rounds=5)

The unit of replication is a ROUND: one runner process. Each (artifact, variant) is measured in
`rounds` fresh processes, and the rounds are interleaved across the selected artifacts
(A B C A B C ...) so that drift hits all of them alike. Every round is stored as its own run
(sharing a session id), ok or failed, with its raw samples.

Per target, in its own thread: open it (its facts become the stored DeviceRecord), plan the
(artifact, variant) pairs, skip the rounds the store already has (when `skip_stored`: a session
interrupted after 2 of 5 rounds continues with round 3), deploy, then measure round by round. Every
artifact's sha256 is checked once against its manifest identity before anything runs, and every
runner result must name that sha256 too. A locked store does not lose a finished run
(`Store.save_run`). Ctrl-C: every target is interrupted, its runners stopped, finished runs are
kept, and KeyboardInterrupt is re-raised.

Here and only here do measure, verify and store meet.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ArtifactError, BenchError, ResultSchemaError, RunnerError
from bench.rows import Outcome, Row
from bench.runner.run import RunnerConfig
from bench.store import RunRecord, Store
from bench.targets.base import Artifact, Measured, Target, Variant
from deploy.artifacts.hashing import sha256_path
from deploy.devices.errors import DeviceError

Say = Callable[[str, str], None]  # (target label, message)

#: what a failed run raises, besides a lost device
RUN_ERRORS = (RunnerError, ArtifactError, ResultSchemaError)


def _quiet(_label: str, _message: str) -> None:
    pass


def plain_say(_label: str, message: str) -> None:
    """Progress of a one-target command as plain lines on stderr (never wrapped); a failure as
    `error: ...`."""
    if message != "connecting":
        if message.startswith("FAILED "):
            message = "error: " + message.removeprefix("FAILED ")
        print(message, file=sys.stderr, flush=True)


@dataclass
class Planned:
    """An (artifact, variant) to measure in rounds `first_round` .. rounds - 1, and its row."""

    artifact: Artifact
    variant: Variant
    row: Row
    session_id: str
    first_round: int = 0


def _key(art: Artifact) -> tuple[str, Path]:
    return art.record.sha256, art.path


def artifact_problems(artifacts: Sequence[Artifact]) -> dict[tuple[str, Path], str]:
    """Artifacts that are missing or whose sha256 is not their manifest identity (checked once),
    keyed by (sha256, path)."""
    problems = {}
    for art in artifacts:
        if not art.path.exists():
            problems[_key(art)] = f"{art.path} is missing; run `nox -s export` again"
        elif (actual := sha256_path(art.path)) != art.record.sha256:
            problems[_key(art)] = (
                f"{art.path} has sha256 {actual[:12]}, the manifest says "
                f"{art.record.sha256[:12]} (tampered or stale); re-export it"
            )
    return problems


class _Worker:
    """One target's part of the session, in its own thread; the result is `self.outcome`."""

    def __init__(
        self,
        target: Target,
        artifacts: Sequence[Artifact],
        problems: dict[tuple[str, Path], str],
        config: RunnerConfig,
        store_path: Path,
        *,
        skip_stored: bool,
        rounds: int,
        stop: threading.Event,
        say: Say,
        profile: Profiling | None = None,
    ) -> None:
        self.target = target
        self.artifacts = list(artifacts)
        self.problems = problems
        self.config = config
        self.store_path = store_path
        self.skip_stored = skip_stored
        self.rounds = rounds
        self.stop = stop
        self.say = say
        self.outcome = Outcome(target.label)
        self.opened = False
        self.profiling = profile
        #: (row, artifact, variant) of every planned pair, in order: what --profile profiles
        self._profiled: list[tuple[Row, Artifact, Variant]] = []

    def _say(self, message: str) -> None:
        self.say(self.target.label, message)

    def run(self) -> None:
        out = self.outcome
        try:
            self._run()
            if out.not_stored and out.error is None:
                out.error = (
                    f"{len(out.not_stored)} run(s) measured but NOT STORED in "
                    f"{self.store_path} (locked by another process): see the errors above"
                )
        except (DeviceError, BenchError) as exc:
            if self.stop.is_set():
                out.interrupted = True
            else:
                out.error = str(exc)
                self._say(f"error: {exc}")
        except Exception as exc:  # a bug: report it for this target, keep the others going
            out.error = f"unexpected {type(exc).__name__}: {exc}"
            self._say(f"error: {out.error}")
        finally:
            out.rows = [r for r in out.rows if r.status != "pending"]  # never reached
            self.target.close()

    def _run(self) -> None:
        target, out = self.target, self.outcome
        target.bind(self._say, self.stop)
        self._say("connecting")
        record = target.open()
        self.opened = True
        out.device, out.name, out.provenance = record, target.name, target.provenance
        if summary := target.summary():
            self._say(summary)
        for warning in target.warnings():
            out.warnings.append(warning)
            self._say(f"warning: {warning}")
        with Store.open(self.store_path) as store:
            store.upsert_device(record)
            for art in self.artifacts:
                store.upsert_artifact(art.record)
            todo = self._plan(store, record.id)
            if todo:
                self._measure(store, todo, record.id)
            if self.profiling is not None and not self.stop.is_set():
                self._profile(store, record.id)
        if not self.stop.is_set() and (done := target.finish()):
            self._say(done)

    # -- planning -----------------------------------------------------------------------------

    def _row(self, art: Artifact, variant: Variant, status: str) -> Row:
        rec, out = art.record, self.outcome
        return Row(
            out.target,
            out.name,
            out.provenance,
            rec.model,
            rec.recipe,
            rec.precision,
            variant.config.threads,
            variant.mask,
            status,
        )

    def _plan(self, store: Store, device_id: str) -> list[Planned]:
        """One Planned per (artifact, variant) with rounds still to measure; a row each."""
        todo, skipped = [], 0
        new_session = uuid.uuid4().hex[:12]
        rounds = self.rounds if self.target.timed else 1
        for art in self.artifacts:
            for variant in self.target.variants(self.config):
                row = self._row(art, variant, "pending")
                self.outcome.rows.append(row)
                session_id, done = "", 0
                if self.skip_stored:
                    session_id, done = store.rounds_done(device_id, art.record.sha256, variant.key)
                    if done:
                        self._fill_stored(store, row, art, variant, session_id, device_id)
                if done >= rounds:
                    self._profiled.append((row, art, variant))
                    row.status = "skipped"
                    row.notes.append(f"stored session {session_id}")
                    skipped += 1
                    continue
                todo.append(Planned(art, variant, row, session_id or new_session, done))
                self._profiled.append((row, art, variant))
        if skipped:
            self._say(
                f"{skipped} run(s) already in the store: skipped (--force measures them again)"
            )
        resumed = sum(1 for item in todo if item.first_round)
        if resumed:
            self._say(f"{resumed} run(s) resume their earlier rounds")
        return todo

    def _fill_stored(
        self,
        store: Store,
        row: Row,
        art: Artifact,
        variant: Variant,
        session_id: str,
        device_id: str,
    ) -> None:
        """The stored ok rounds of `session_id` into `row` (resumed or skipped)."""
        row.session_id = session_id
        runs = store.runs(
            device_id=device_id,
            artifact_sha256=art.record.sha256,
            config_key=variant.key,
            status="ok",
        )
        for run in runs:
            if run.session_id != session_id:
                continue
            row.run_id = run.id
            row.run_ids.append(run.id)
            if run.provenance == "emulated":
                row.functional = str(run.machine.get("functional_check", {}).get("detail", ""))
            samples = store.samples(run.id)
            if samples:
                row.add_round(samples)

    # -- measuring ----------------------------------------------------------------------------

    def _save(
        self,
        store: Store,
        row: Row,
        record: RunRecord,
        samples_ms: Sequence[float] = (),
        warmup_ms: Sequence[float] = (),
    ) -> int | None:
        """Store one round of `row`; a store that stays locked keeps it aside (Store.save_run)."""
        run_id, not_stored = store.save_run(record, samples_ms, warmup_ms)
        if run_id is not None:
            row.run_id = run_id
            row.run_ids.append(run_id)
        if not_stored:
            row.not_stored = not_stored
            if "NOT STORED" not in row.notes:
                row.notes.append("NOT STORED")
            self.outcome.not_stored.append(not_stored)
            self._say(f"error: {row.model} {row.recipe}: {not_stored}")
        return run_id

    def _fail(
        self, store: Store, item: Planned, device_id: str, error: str, round_index: int
    ) -> None:
        row, config = item.row, item.variant.config
        runner_name, runner_version = self.target.runner_for(item.artifact)
        row.rounds_failed += 1
        row.error = error
        row.status = "ok" if row.rounds_ms else "failed"
        record = RunRecord(
            device_id,
            item.artifact.record.sha256,
            self.target.provenance_for(item.artifact),
            item.variant.key,
            status="failed",
            error=error,
            runner_name=runner_name,
            runner_version=runner_version,
            threads=config.threads,
            core_mask=item.variant.mask,
            warmup=config.warmup,
            machine=self.target.failed_machine(),
            session_id=item.session_id,
            round=round_index,
        )
        self._save(store, row, record)
        self._say(f"FAILED {row.model} {row.recipe}: {error}")

    def _measure(self, store: Store, todo: list[Planned], device_id: str) -> None:
        """Round by round, every pending (artifact, variant) once per round (interleaved)."""
        target = self.target
        try:
            target.prepare(list({_key(i.artifact): i.artifact for i in todo}.values()))
        except (DeviceError, BenchError) as exc:
            if self.stop.is_set():
                raise
            for item in todo:
                self._fail(store, item, device_id, f"runner not deployed: {exc}", item.first_round)
            return
        rounds = self.rounds if target.timed else 1
        gone: str | None = None  # set when the device stopped answering
        for round_index in range(rounds):
            pending = [item for item in todo if item.first_round <= round_index]
            for index, item in enumerate(pending, 1):
                if self.stop.is_set():
                    self.outcome.interrupted = True
                    return
                rec = item.artifact.record
                label = f"[{index}/{len(pending)}] {rec.model} {rec.recipe}"
                if item.variant.config.threads > 1:
                    label += f" ({item.variant.config.threads} threads)"
                if rounds > 1:
                    label += f" round {round_index + 1}/{rounds}"
                if gone is not None:
                    self._fail(store, item, device_id, f"device unreachable ({gone})", round_index)
                    continue
                if _key(item.artifact) in self.problems:
                    problem = self.problems[_key(item.artifact)]
                    self._fail(store, item, device_id, problem, round_index)
                    continue
                gone = self._round(store, item, device_id, round_index, label)
                if self.outcome.interrupted:
                    return

    def _round(
        self, store: Store, item: Planned, device_id: str, round_index: int, label: str
    ) -> str | None:
        """Measure and store one round; None, or why the device is unreachable now."""
        rec, target = item.artifact.record, self.target
        started = _now()
        try:
            measured = target.measure(item.artifact, item.variant, label)
            if measured.result.artifact_sha256 != rec.sha256:
                raise ArtifactError(
                    f"the runner read a file with sha256 {measured.result.artifact_sha256[:12]}"
                    f", not {rec.sha256[:12]}: the copy it ran is damaged; run again"
                )
        except (DeviceError, *RUN_ERRORS) as exc:
            if self.stop.is_set():
                self.outcome.interrupted = True
                return None
            self._fail(store, item, device_id, str(exc), round_index)
            return target.recover(exc) if isinstance(exc, DeviceError) else None
        self._record(store, item, device_id, measured, started, label, round_index)
        return None

    def _record(
        self,
        store: Store,
        item: Planned,
        device_id: str,
        measured: Measured,
        started: str,
        label: str,
        round_index: int,
    ) -> None:
        result, row = measured.result, item.row
        record = RunRecord.from_result(
            result,
            device_id=device_id,
            provenance=self.target.provenance_for(item.artifact),
            config_key=item.variant.key,
            started_at=started,
            machine=measured.machine,
            temp_before_c=measured.temp_before_c,
            temp_after_c=measured.temp_after_c,
        )
        record = dataclasses.replace(
            record,
            core_mask=item.variant.mask,
            status=measured.status,
            error=measured.error,
            session_id=item.session_id,
            round=round_index,
            metrics=measured.metrics,
        )
        row.session_id = item.session_id
        self._save(store, row, record, result.samples_ms, result.warmup_ms)
        if measured.status == "ok":
            row.status = "ok"
        else:
            row.error = measured.error or ""
            row.status = "ok" if row.rounds_ms else "failed"
        row.functional = measured.functional or row.functional
        row.load_ms, row.first_ms = result.load_ms, result.first_inference_ms
        if measured.timed and measured.status == "ok":
            row.add_round(result.samples_ms)
        for note in measured.notes:
            if note not in row.notes:
                row.notes.append(note)
        if not measured.timed:
            self._say(f"{label}: {measured.status}: {row.functional} (no latency: not timed)")
        elif row.summary is not None:
            where = f"run {row.run_id}" if row.run_ids and not row.not_stored else "NOT STORED"
            median = statistics.median(result.samples_ms)
            self._say(f"{label}: median {median:.2f} ms (n={len(result.samples_ms)}, {where})")

    # -- profiling (--profile): separate untimed rounds, after the timed ones -------------------

    def _profile(self, store: Store, device_id: str) -> None:
        """One profiling round per measured artifact (ETDump, stored as a ProfileRecord with the
        timed session's id), then the peak probe of each precision the store has no peak for."""
        from bench.profile.record import build_profile, etdump_folder, profiling_config

        assert self.profiling is not None
        target, out, failures = self.target, self.outcome, []
        if not target.timed:
            self._say("no profile: this device's times are not timings (emulated)")
            return
        seen: set[tuple[str, Path]] = set()
        precisions = []
        for row, art, variant in self._profiled:
            if self.stop.is_set():
                out.interrupted = True
                return
            if _key(art) in seen or row.status not in ("ok", "skipped"):
                continue
            if not row.session_id:
                continue
            seen.add(_key(art))
            rec = art.record
            label = f"{rec.model} {rec.recipe}"
            config = profiling_config(variant.config, self.profiling.iterations)
            try:
                with tempfile.TemporaryDirectory(prefix="bench-etdump-") as tmp:
                    local = Path(tmp) / "profile.etdp"
                    result = target.profile(
                        art, Variant(config, variant.mask, variant.key), label, local
                    )
                    if result.artifact_sha256 != rec.sha256:
                        raise ArtifactError(f"{label}: the profiled file is not {rec.sha256[:12]}")
                    profile, mapped = build_profile(
                        local,
                        art.path,
                        device_id=device_id,
                        artifact_sha256=rec.sha256,
                        provenance=target.provenance_for(art),
                        session_id=row.session_id,
                        config=config,
                        result=result,
                        keep_in=etdump_folder(self.store_path),
                    )
                store.record_profile(profile)
            except (DeviceError, BenchError, *RUN_ERRORS) as exc:
                if self.stop.is_set():
                    out.interrupted = True
                    return
                failures.append(f"{label}: profile failed: {exc}")
                self._say(f"error: {label}: profile failed: {exc}")
                continue
            if rec.precision:
                precisions.append(rec.precision)
            row.notes.append("profiled")
            self._say(
                f"{label}: profile stored ({len(profile.layers)} rows; operators "
                f"{mapped.ops_ms:.3f} ms of Method::execute {mapped.execute_ms:.3f} ms)"
            )
        for precision in dict.fromkeys(precisions):
            failures += self._peak(store, device_id, precision)
        if failures and out.error is None:
            out.error = f"{len(failures)} profiling step(s) failed: " + "; ".join(failures)

    def _peak(self, store: Store, device_id: str, precision: str) -> list[str]:
        """Measure the peak probe of `precision` unless the store has a peak for this device."""
        from bench.profile.peak import measure_peak

        assert self.profiling is not None
        probe = self.profiling.probes.get(precision)
        if probe is None or store.peaks(device_id=device_id, precision=precision):
            return []
        try:
            peak = measure_peak(
                self.target,
                probe,
                self.config,
                device_id=device_id,
                rounds=self.rounds,
                say=self._say,
            )
            store.record_peak(peak)
        except (DeviceError, BenchError, *RUN_ERRORS) as exc:
            self._say(f"error: peak probe {precision}: {exc}")
            return [f"peak probe {precision}: {exc}"]
        self._say(f"peak {precision}: {peak.gmacs:.1f} GMAC/s (stored)")
        return []


@dataclass(frozen=True)
class Profiling:
    """--profile: iterations of a profiling round, and the peak probes by precision."""

    iterations: int
    probes: dict[str, Artifact]


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def run_session(
    targets: Sequence[Target],
    artifacts: Sequence[Artifact],
    config: RunnerConfig,
    store_path: Path,
    *,
    rounds: int = 1,
    skip_stored: bool = True,
    say: Say = _quiet,
    stop_timeout_s: float = 20.0,
    profile: bool = False,
    profile_iterations: int | None = None,
    probes: Path | None = None,
) -> list[Outcome]:
    """Measure `artifacts` on every target in parallel (a thread each), in `rounds` interleaved
    rounds per target; return their outcomes.

    KeyboardInterrupt (Ctrl-C) interrupts every target, stops their runners, keeps the finished
    runs, and is re-raised.

    `profile`: after its timed rounds, each target runs every measured artifact once more in a
    separate profiling round (ETDump, `profile_iterations` iterations), stored as a per-layer
    ProfileRecord with the timed session's id; then the peak probes in `probes` (exported there
    on first use) are timed for each precision the store has no peak of on that device.
    """
    problems = artifact_problems(artifacts)
    profiling = None
    if profile:
        from bench.profile.peak import ensure_probes
        from bench.profile.record import DEFAULT_ITERATIONS

        profiling = Profiling(
            profile_iterations or DEFAULT_ITERATIONS,
            ensure_probes(probes) if probes is not None else {},
        )
    stop = threading.Event()
    Store.open(store_path).close()  # schema and migrations before the threads start
    workers = [
        _Worker(
            target,
            artifacts,
            problems,
            config,
            store_path,
            skip_stored=skip_stored,
            rounds=max(1, rounds),
            stop=stop,
            say=say,
            profile=profiling,
        )
        for target in targets
    ]
    threads = [
        threading.Thread(target=w.run, name=f"bench-{w.target.label}", daemon=True) for w in workers
    ]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for worker in workers:
            say(worker.target.label, "interrupted: stopping the runner")
            worker.target.interrupt()
        for thread in threads:
            thread.join(stop_timeout_s)
        for worker in workers:
            if worker.opened:
                said = worker.target.stop_runners(stop_timeout_s)
                if said:
                    say(worker.target.label, said)
        raise
    return [w.outcome for w in workers]
