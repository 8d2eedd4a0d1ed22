"""The one measuring loop, for every target (host, Android shell or app, SSH board, ...):

    outcomes = run_session([HostTarget(core=1)], artifacts, config, Path("results/bench.sqlite"))

Per target, in its own thread: open it (its facts become the stored DeviceRecord), plan the
(artifact, variant) pairs, skip those the store already has (when `skip_stored`), deploy, then
measure each pair and store the run, ok or failed, with its reason; the next pair follows. Every
artifact's sha256 is checked once against its manifest identity before anything runs, and every
runner result must name that sha256 too. A locked store does not lose a finished run
(`Store.save_run`). Ctrl-C: every target is interrupted, its runners stopped, finished runs are
kept, and KeyboardInterrupt is re-raised.

Here and only here do measure, verify and store meet.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import stats
from bench.errors import ArtifactError, BenchError, ResultSchemaError, RunnerError
from bench.runner import build
from bench.runner.run import RunnerConfig
from bench.store import DeviceRecord, RunRecord, Store
from bench.targets.base import Artifact, Measured, Target, Variant
from deploy.artifacts.hashing import sha256_path
from deploy.devices.errors import DeviceError
from deploy.models import paper

Say = Callable[[str, str], None]  # (target label, message)

#: what a failed run raises, besides a lost device
RUN_ERRORS = (RunnerError, ArtifactError, ResultSchemaError)


def _quiet(_label: str, _message: str) -> None:
    pass


@dataclass
class Row:
    """One (target, artifact, variant) of a session, as the tables print it."""

    target: str
    device: str
    provenance: str
    model: str
    recipe: str
    precision: str
    threads: int
    mask: str
    status: str  # ok | failed | skipped (measured in an earlier session)
    run_id: int | None = None
    summary: stats.Summary | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)
    functional: str = ""  # emulated runs: how the output compared with the host's
    not_stored: str = ""  # the store stayed locked: why, where the run is kept, the fix

    @property
    def paper_ms(self) -> dict[str, float]:
        try:
            found = paper.latencies(self.model, self.precision)
        except (KeyError, ValueError):
            return {}
        return {device: lat.latency_ms for device, lat in found.items()}

    @property
    def reference(self) -> paper.PaperLatency | None:
        from bench.compare import paper_reference

        try:
            return paper_reference(self.model, self.precision, self.device)
        except (KeyError, ValueError):
            return None

    @property
    def ratio(self) -> float | None:
        ref = self.reference
        if ref is None or self.summary is None:
            return None
        return self.summary.median / ref.latency_ms


@dataclass
class Outcome:
    """What a session did on one target."""

    target: str
    name: str = ""
    provenance: str = ""
    device: DeviceRecord | None = None
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    not_stored: list[str] = field(default_factory=list)  # runs a locked store did not take

    @property
    def failed(self) -> bool:
        return (
            self.error is not None
            or bool(self.not_stored)
            or any(r.status == "failed" for r in self.rows)
        )


@dataclass(frozen=True)
class Planned:
    artifact: Artifact
    variant: Variant


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
        stop: threading.Event,
        say: Say,
    ) -> None:
        self.target = target
        self.artifacts = list(artifacts)
        self.problems = problems
        self.config = config
        self.store_path = store_path
        self.skip_stored = skip_stored
        self.stop = stop
        self.say = say
        self.outcome = Outcome(target.label)
        self.opened = False

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
        todo = []
        variants = self.target.variants(self.config)
        for art in self.artifacts:
            for variant in variants:
                sha = art.record.sha256
                if self.skip_stored and store.has_run(device_id, sha, variant.key):
                    self.outcome.rows.append(self._stored_row(store, art, variant, device_id))
                    continue
                todo.append(Planned(art, variant))
        skipped = len(self.outcome.rows)
        if skipped:
            self._say(
                f"{skipped} run(s) already in the store: skipped (--force measures them again)"
            )
        return todo

    def _stored_row(self, store: Store, art: Artifact, variant: Variant, device_id: str) -> Row:
        row = self._row(art, variant, "skipped")
        runs = store.runs(
            device_id=device_id,
            artifact_sha256=art.record.sha256,
            config_key=variant.key,
            status="ok",
        )
        if runs:
            last = runs[-1]
            row.run_id = last.id
            samples = store.samples(last.id)
            if samples:
                row.summary = stats.summarize(samples)
            if last.provenance == "emulated":
                row.functional = str(last.machine.get("functional_check", {}).get("detail", ""))
        row.notes.append(f"stored run {row.run_id}")
        return row

    # -- measuring ----------------------------------------------------------------------------

    def _save(
        self,
        store: Store,
        row: Row,
        record: RunRecord,
        samples_ms: Sequence[float] = (),
        warmup_ms: Sequence[float] = (),
    ) -> None:
        """Store the run of `row`; a store that stays locked keeps it aside (Store.save_run)."""
        row.run_id, row.not_stored = store.save_run(record, samples_ms, warmup_ms)
        if row.not_stored:
            row.notes.append("NOT STORED")
            self.outcome.not_stored.append(row.not_stored)
            self._say(f"error: {row.model} {row.recipe}: {row.not_stored}")

    def _fail(self, store: Store, item: Planned, device_id: str, error: str) -> None:
        row = self._row(item.artifact, item.variant, "failed")
        row.error = error
        config = item.variant.config
        record = RunRecord(
            device_id,
            item.artifact.record.sha256,
            self.outcome.provenance,
            item.variant.key,
            status="failed",
            error=error,
            runner_name="bench_runner",
            runner_version=build.runner_version(),
            threads=config.threads,
            core_mask=item.variant.mask,
            warmup=config.warmup,
            machine=self.target.failed_machine(),
        )
        self._save(store, row, record)
        self.outcome.rows.append(row)
        self._say(f"FAILED {row.model} {row.recipe}: {error}")

    def _measure(self, store: Store, todo: list[Planned], device_id: str) -> None:
        target = self.target
        try:
            target.prepare(list({_key(i.artifact): i.artifact for i in todo}.values()))
        except (DeviceError, BenchError) as exc:
            if self.stop.is_set():
                raise
            for item in todo:
                self._fail(store, item, device_id, f"runner not deployed: {exc}")
            return
        gone: str | None = None  # set when the device stopped answering
        for index, item in enumerate(todo, 1):
            if self.stop.is_set():
                self.outcome.interrupted = True
                return
            rec = item.artifact.record
            label = f"[{index}/{len(todo)}] {rec.model} {rec.recipe}"
            if item.variant.config.threads > 1:
                label += f" ({item.variant.config.threads} threads)"
            if gone is not None:
                self._fail(store, item, device_id, f"device unreachable ({gone})")
                continue
            if _key(item.artifact) in self.problems:
                self._fail(store, item, device_id, self.problems[_key(item.artifact)])
                continue
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
                    return
                self._fail(store, item, device_id, str(exc))
                if isinstance(exc, DeviceError):
                    gone = target.recover(exc)
                continue
            self._record(store, item, device_id, measured, started, label)

    def _record(
        self,
        store: Store,
        item: Planned,
        device_id: str,
        measured: Measured,
        started: str,
        label: str,
    ) -> None:
        result = measured.result
        record = RunRecord.from_result(
            result,
            device_id=device_id,
            provenance=self.outcome.provenance,
            config_key=item.variant.key,
            started_at=started,
            machine=measured.machine,
            temp_before_c=measured.temp_before_c,
            temp_after_c=measured.temp_after_c,
        )
        record = dataclasses.replace(
            record, core_mask=item.variant.mask, status=measured.status, error=measured.error
        )
        row = self._row(item.artifact, item.variant, measured.status)
        self._save(store, row, record, result.samples_ms, result.warmup_ms)
        row.error, row.functional = measured.error or "", measured.functional
        row.load_ms, row.first_ms = result.load_ms, result.first_inference_ms
        if measured.timed:
            row.summary = stats.summarize(result.samples_ms)
        row.notes += measured.notes
        self.outcome.rows.append(row)
        if not measured.timed:
            self._say(f"{label}: {measured.status}: {row.functional} (no latency: not timed)")
        elif row.summary is not None:
            where = f"run {row.run_id}" if row.run_id is not None else "NOT STORED"
            self._say(f"{label}: median {row.summary.median:.2f} ms (n={row.summary.n}, {where})")


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def run_session(
    targets: Sequence[Target],
    artifacts: Sequence[Artifact],
    config: RunnerConfig,
    store_path: Path,
    *,
    skip_stored: bool = True,
    say: Say = _quiet,
    stop_timeout_s: float = 20.0,
) -> list[Outcome]:
    """Measure `artifacts` on every target in parallel (a thread each); return their outcomes.

    KeyboardInterrupt (Ctrl-C) interrupts every target, stops their runners, keeps the finished
    runs, and is re-raised.
    """
    problems = artifact_problems(artifacts)
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
            stop=stop,
            say=say,
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
