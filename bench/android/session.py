"""The bench-android session: every device in its own thread, every run stored, resumable.

    artifacts = host.manifest_artifacts(Path("artifacts/manifest.json"))
    outcomes = run_session(["127.0.0.1:5555"], artifacts, Options(config), store_path)

Per device: connect, read its facts and check them, pick the payload for its ABI, skip
(device, artifact, configuration) triples the store already has (unless `force`), kill runners
left over by an earlier session, push the runner and the artifacts (sha256-skipped, verified),
then for each artifact: cool down, snapshot temperatures and frequency cap, run pinned to the
biggest core with one thread, snapshot again, store the run. A crash, a time-out, a dropped
connection or a full disk becomes a failed run with its reason; the next artifact follows.

Provenance: `phone`; `simulator` when the device says it is our simulator; `emulated` when the
simulator runs the arm64 bundle under qemu -- those runs are functional checks (the output is
compared with the host runner's on the same artifact) and the store keeps no timings for them.

Ctrl-C: the main thread sets `stop`, closes every device connection (which unblocks the
workers), waits for them, then reconnects and kills any runner still on a device. Runs in
flight are not stored (the store writes one transaction per run); finished ones are kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.android import phone
from bench.android.payload import RunnerPayload, payload_for
from bench.errors import ArtifactError, BenchError, ResultSchemaError, RunnerError
from bench.host import HostArtifact
from bench.results import RunnerResult
from bench.runner import build
from bench.runner.run import RunnerConfig, run_host
from bench.store import DeviceRecord, RunRecord, Store
from deploy.artifacts.hashing import sha256_file
from deploy.devices.android import AndroidDevice
from deploy.devices.base import DeviceInfo
from deploy.devices.errors import DeviceError
from deploy.models import paper

EMULATED_PROP = "ro.mobilenet_deploy.emulated"
MODES = ("shell", "app")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Options:
    """How to run: the runner configuration and the session's knobs (see `cli` for defaults)."""

    config: RunnerConfig = field(default_factory=RunnerConfig)
    all_cores: bool = False
    force: bool = False
    cleanup: bool = False
    mode: str = "shell"
    timeout_s: float | None = None  # per run; default: the time budget + 300 s
    cool_to_c: float = 45.0
    cool_max_wait_s: float = 120.0
    cool_poll_s: float = 2.0
    warn_rise_c: float = 5.0
    functional_iterations: int = 3  # measured iterations of an emulated (qemu) check
    device_options: dict[str, Any] = field(default_factory=dict)  # AndroidDevice(...) options
    apk: Path | None = None  # --mode app

    def run_timeout(self, emulated: bool) -> float:
        if self.timeout_s:
            return self.timeout_s
        budget = max(self.config.max_time_s, self.config.min_time_s)
        return (600.0 if emulated else 300.0) + budget


@dataclass
class Row:
    """One (device, artifact, configuration) of the session, as the table prints it."""

    serial: str
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
    error: str = ""
    notes: list[str] = field(default_factory=list)
    functional: str = ""  # emulated runs: how the output compared with the host's

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
class DeviceOutcome:
    serial: str
    name: str = ""
    provenance: str = ""
    info: DeviceInfo | None = None
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    not_stored: list[str] = field(default_factory=list)  # runs a locked store did not take

    @property
    def failed(self) -> bool:
        return self.error is not None or any(r.status == "failed" for r in self.rows)


Say = Callable[[str, str], None]


def _quiet(_serial: str, _message: str) -> None:
    pass


class HostChecks:
    """The host runner's output on each artifact, for emulated checks (computed once, shared)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, int], RunnerResult | str] = {}

    def get(self, artifact: HostArtifact, seed: int) -> RunnerResult | str:
        key = (artifact.record.sha256, seed)
        with self._lock:
            if key not in self._results:
                try:
                    self._results[key] = run_host(
                        build.build_host(),
                        artifact.path,
                        RunnerConfig(warmup=0, iterations=1, seed=seed),
                        timeout=300.0,
                    )
                except (RunnerError, ResultSchemaError, BenchError) as exc:
                    self._results[key] = str(exc)
            return self._results[key]


def functional_check(device: RunnerResult, host: RunnerResult | str) -> tuple[bool, str]:
    """Does an emulated run compute what the host runner computes on the same artifact?"""
    if isinstance(host, str):
        return False, f"no host reference ({host})"
    same_top1 = device.top1 == host.top1
    close = math.isclose(device.checksum, host.checksum, rel_tol=1e-4, abs_tol=1e-4)
    if same_top1 and close:
        return True, f"qemu check: output = host's (top1 {host.top1}, sum {host.checksum:.6g})"
    return False, (
        f"qemu check: output differs from the host runner's (top1 {device.top1} vs "
        f"{host.top1}, checksum {device.checksum:.6g} vs {host.checksum:.6g})"
    )


@dataclass(frozen=True)
class Planned:
    artifact: HostArtifact
    config: RunnerConfig
    mask: str
    key: str


class DeviceWorker:
    """Everything done on one device, in its own thread; the outcome is in `self.outcome`."""

    def __init__(
        self,
        serial: str,
        artifacts: Sequence[HostArtifact],
        problems: dict[str, str],
        store_path: Path,
        options: Options,
        *,
        stop: threading.Event,
        host_checks: HostChecks,
        say: Say = _quiet,
    ) -> None:
        self.serial = serial
        self.artifacts = list(artifacts)
        self.problems = problems
        self.store_path = store_path
        self.options = options
        self.stop = stop
        self.host_checks = host_checks
        self.say = say
        self.outcome = DeviceOutcome(serial)
        self.device: AndroidDevice | None = None
        self.connected = False

    # -- the thread ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
            if self.outcome.not_stored and self.outcome.error is None:
                self.outcome.error = (
                    f"{len(self.outcome.not_stored)} run(s) measured but NOT STORED in "
                    f"{self.store_path} (locked by another process): see the errors above"
                )
        except (DeviceError, BenchError) as exc:
            if self.stop.is_set():
                self.outcome.interrupted = True
            else:
                self.outcome.error = str(exc)
                self.say(self.serial, f"error: {exc}")
        except Exception as exc:  # a bug: report it for this device, keep the others going
            self.outcome.error = f"unexpected {type(exc).__name__}: {exc}"
            self.say(self.serial, f"error: {self.outcome.error}")
        finally:
            if self.device is not None:
                self.device.close()

    def interrupt(self) -> None:
        """From the main thread: unblock whatever the worker waits for on the device."""
        if self.device is not None:
            self.device.close()

    def _run(self) -> None:
        opts = self.options
        device = AndroidDevice(self.serial, **opts.device_options)
        self.device = device
        self.say(self.serial, "connecting")
        device.open()
        self.connected = True
        info = device.info()
        out = self.outcome
        out.info = info
        emulated = info.properties.get(EMULATED_PROP) == "1"
        out.provenance = "emulated" if emulated else "simulator" if info.is_simulator else "phone"
        same = info.manufacturer.lower() in info.model.lower()
        out.name = (info.model if same else f"{info.manufacturer} {info.model}").strip()
        out.name = out.name or self.serial
        self.say(self.serial, f"{info.summary()}; provenance {out.provenance}")
        payload = payload_for(info.abis, info.abi) if opts.mode == "shell" else None
        needed = (payload.size_bytes if payload else 0) + sum(
            a.path.stat().st_size for a in self.artifacts if a.path.exists()
        )
        check = phone.check_device(info, needed)
        for warning in check.warnings:
            out.warnings.append(warning)
            self.say(self.serial, f"warning: {warning}")
        device_id = info.properties.get("ro.serialno") or self.serial
        record = DeviceRecord(
            id=device_id,
            kind="simulator" if info.is_simulator else "phone",
            name=out.name,
            model=info.model,
            soc=info.soc,
            abi=info.abi,
            os=f"Android {info.android_version} (SDK {info.sdk})",
            metadata={
                **check.facts,
                "manufacturer": info.manufacturer,
                "abis": list(info.abis),
                "fingerprint": info.properties.get("ro.build.fingerprint", ""),
                "simulator": info.is_simulator,
                "emulated": emulated,
            },
        )
        with Store.open(self.store_path) as store:
            store.upsert_device(record)
            for art in self.artifacts:
                store.upsert_artifact(art.record)
            todo = self._plan(store, info, device_id, emulated)
            if todo:
                self._measure(store, todo, info, device_id, payload, check, emulated)
        if opts.cleanup and not self.stop.is_set():
            device.cleanup()
            self.say(self.serial, f"removed {device.root}")

    # -- planning -----------------------------------------------------------------------------

    def _configs(self, info: DeviceInfo, emulated: bool) -> list[tuple[RunnerConfig, str]]:
        base = dataclasses.replace(self.options.config, threads=1, cpu=None)
        if emulated:  # a functional check: qemu time is not a latency, keep it short
            base = dataclasses.replace(
                base,
                warmup=min(base.warmup, 1),
                iterations=self.options.functional_iterations,
                min_time_s=0.0,
                max_time_s=0.0,
                target_precision=0.0,
            )
        configs = [(base, info.big_core_mask)]
        if self.options.all_cores and len(info.cores) > 1:
            every = format((1 << (max(c.cpu for c in info.cores) + 1)) - 1, "x")
            configs.append((dataclasses.replace(base, threads=len(info.cores)), every))
        return configs

    def _key(self, config: RunnerConfig) -> str:
        return config.key() + (";mode=app" if self.options.mode == "app" else "")

    def _plan(
        self, store: Store, info: DeviceInfo, device_id: str, emulated: bool
    ) -> list[Planned]:
        todo = []
        for art in self.artifacts:
            for config, mask in self._configs(info, emulated):
                key = self._key(config)
                if not self.options.force and store.has_run(device_id, art.record.sha256, key):
                    self.outcome.rows.append(
                        self._stored_row(store, art, config, mask, key, device_id)
                    )
                    continue
                todo.append(Planned(art, config, mask, key))
        skipped = len(self.outcome.rows)
        if skipped:
            self.say(
                self.serial,
                f"{skipped} run(s) already in the store: skipped (--force measures them again)",
            )
        return todo

    def _row(self, art: HostArtifact, config: RunnerConfig, mask: str, status: str) -> Row:
        rec = art.record
        return Row(
            self.serial,
            self.outcome.name,
            self.outcome.provenance,
            rec.model,
            rec.recipe,
            rec.precision,
            config.threads,
            mask,
            status,
        )

    def _stored_row(
        self,
        store: Store,
        art: HostArtifact,
        config: RunnerConfig,
        mask: str,
        key: str,
        device_id: str,
    ) -> Row:
        row = self._row(art, config, mask, "skipped")
        runs = store.runs(
            device_id=device_id, artifact_sha256=art.record.sha256, config_key=key, status="ok"
        )
        if runs:
            last = runs[-1]
            row.run_id = last.id
            samples = store.samples(last.id)
            if samples:
                row.summary = stats.summarize(samples)
            if last.provenance == "emulated":
                row.functional = str(last.host.get("functional_check", {}).get("detail", ""))
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
        row.run_id, not_stored = store.save_run(record, samples_ms, warmup_ms)
        if not_stored:
            row.notes.append("NOT STORED")
            self.outcome.not_stored.append(not_stored)
            self.say(self.serial, f"error: {row.model} {row.recipe}: {not_stored}")

    def _measure(
        self,
        store: Store,
        todo: list[Planned],
        info: DeviceInfo,
        device_id: str,
        payload: RunnerPayload | None,
        check: phone.Check,
        emulated: bool,
    ) -> None:
        device = self.device
        assert device is not None
        folder = f"{device.root}/{payload.folder}" if payload else device.root
        gone: str | None = None  # set when the device stopped answering

        def fail(item: Planned, error: str, facts: dict[str, Any] | None = None) -> None:
            row = self._row(item.artifact, item.config, item.mask, "failed")
            row.error = error
            self._save(
                store,
                row,
                RunRecord(
                    device_id,
                    item.artifact.record.sha256,
                    self.outcome.provenance,
                    item.key,
                    status="failed",
                    error=error,
                    runner_name="bench_runner",
                    runner_version=build.runner_version(),
                    threads=item.config.threads,
                    core_mask=item.mask,
                    warmup=item.config.warmup,
                    host=facts or check.facts,
                ),
            )
            self.outcome.rows.append(row)
            self.say(self.serial, f"FAILED {row.model} {row.recipe}: {error}")

        if payload is not None:
            try:
                killed = phone.kill_runners(device, device.root)
                if killed:
                    self.say(self.serial, f"killed {killed} runner(s) left by an earlier session")
                self.say(self.serial, f"deploying the {payload.abi} runner to {folder}")
                pushed = device.push_many(
                    {local: f"{folder}/{name}" for local, name in payload.files.items()}
                )
                sent = [p for p in pushed if not p.skipped]
                self.say(
                    self.serial,
                    f"runner: {len(sent)} file(s) pushed, {len(pushed) - len(sent)} unchanged",
                )
            except DeviceError as exc:
                if self.stop.is_set():
                    raise
                for item in todo:
                    fail(item, f"runner not deployed: {exc}")
                return

        pushed_models: dict[str, str | BaseException] = {}
        for index, item in enumerate(todo, 1):
            if self.stop.is_set():
                self.outcome.interrupted = True
                return
            art = item.artifact
            sha = art.record.sha256
            label = f"[{index}/{len(todo)}] {art.record.model} {art.record.recipe}"
            if item.config.threads > 1:
                label += f" ({item.config.threads} threads)"
            if gone is not None:
                fail(item, f"device unreachable ({gone})")
                continue
            if sha in self.problems:
                fail(item, self.problems[sha])
                continue
            try:
                if self.options.mode == "app":
                    self._run_app(store, item, device_id, check, label)
                    continue
                if sha not in pushed_models:
                    remote = f"{folder}/models/{sha[:16]}.pte"
                    result = device.push(art.path, remote)
                    if result.sha256 != sha:
                        raise ArtifactError(
                            f"{art.path} changed (sha256 {result.sha256[:12]}, the manifest says "
                            f"{sha[:12]}); re-export it"
                        )
                    pushed_models[sha] = remote
                    self.say(
                        self.serial,
                        f"{label}: artifact {'unchanged' if result.skipped else 'pushed'}",
                    )
                self._run_one(store, item, device_id, info, payload, folder, check, emulated, label)
            except (DeviceError, RunnerError, ArtifactError, ResultSchemaError) as exc:
                if self.stop.is_set():
                    self.outcome.interrupted = True
                    return
                fail(item, str(exc))
                if isinstance(exc, DeviceError):
                    gone = self._recover(device)

    def _recover(self, device: AndroidDevice) -> str | None:
        """After a device failure: reconnect and kill a runner that may still run; None if ok."""
        try:
            killed = phone.kill_runners(device, device.root)
        except DeviceError as exc:
            self.say(self.serial, f"device unreachable: {exc}")
            return str(exc)
        if killed:
            self.say(self.serial, f"killed {killed} runner(s) still running after the failure")
        return None

    def _run_one(
        self,
        store: Store,
        item: Planned,
        device_id: str,
        info: DeviceInfo,
        payload: RunnerPayload | None,
        folder: str,
        check: phone.Check,
        emulated: bool,
        label: str,
    ) -> None:
        assert payload is not None and self.device is not None
        device, opts, art = self.device, self.options, item.artifact
        core = info.biggest_core
        cool = phone.cooldown(
            lambda: phone.snapshot(device, core).hottest_c,
            opts.cool_to_c,
            opts.cool_max_wait_s,
            poll_s=opts.cool_poll_s,
            wait=self.stop.wait,
        )
        if self.stop.is_set():
            raise DeviceError("interrupted")
        if cool.waited_s or not cool.reached:
            self.say(self.serial, f"{label}: {cool.describe()}")
        before = phone.snapshot(device, core)
        started = _now()
        self.say(self.serial, f"{label}: running on mask {item.mask}")
        run = phone.RunOnDevice(
            folder,
            payload.command,
            f"models/{art.record.sha256[:16]}.pte",
            item.config,
            item.mask,
            opts.run_timeout(emulated),
        )
        result = run.run(device, f"{art.record.model} {art.record.recipe}")
        after = phone.snapshot(device, core)
        if result.artifact_sha256 != art.record.sha256:
            raise ArtifactError(
                f"the runner read a file with sha256 {result.artifact_sha256[:12]}, not "
                f"{art.record.sha256[:12]}: the copy on the device is damaged; run again"
            )
        max_khz = next((c.max_freq_khz for c in info.cores if c.cpu == core), None)
        warnings = (
            [] if emulated else phone.throttle_warnings(before, after, max_khz, opts.warn_rise_c)
        )
        host: dict[str, Any] = {
            **check.facts,
            "mode": "adb-shell",
            "payload_abi": payload.abi,
            "cooldown": cool.as_dict(),
            "before": before.as_dict(),
            "after": after.as_dict(),
            "warnings": warnings,
        }
        row = self._row(art, item.config, item.mask, "ok")
        status = "ok"
        error = None
        if emulated:
            result = result.with_emulated(True)
            ok, detail = functional_check(result, self.host_checks.get(art, item.config.seed))
            host["functional_check"] = {"ok": ok, "detail": detail}
            row.functional = detail
            if not ok:
                status, error = "failed", detail
        record = RunRecord.from_result(
            result,
            device_id=device_id,
            provenance=self.outcome.provenance,
            config_key=item.key,
            started_at=started,
            host=host,
            temp_before_c=before.hottest_c,
            temp_after_c=after.hottest_c,
        )
        record = dataclasses.replace(record, core_mask=item.mask, status=status, error=error)
        self._save(store, row, record, result.samples_ms, result.warmup_ms)
        row.status, row.error = status, error or ""
        if not emulated:
            row.summary = stats.summarize(result.samples_ms)
        row.notes += warnings
        if cool.waited_s or not cool.reached:
            row.notes.append(cool.describe())
        self.outcome.rows.append(row)
        for warning in warnings:
            self.say(self.serial, f"warning: {label}: {warning}")
        if emulated:
            self.say(self.serial, f"{label}: {status}: {row.functional} (no latency under qemu)")
        elif row.summary is not None:
            self.say(
                self.serial,
                f"{label}: median {row.summary.median:.2f} ms (n={row.summary.n}, {_where(row)})",
            )

    def _run_app(
        self, store: Store, item: Planned, device_id: str, check: phone.Check, label: str
    ) -> None:
        from bench.android.app import AppRunConfig, default_apk, run_in_app

        assert self.device is not None
        art, config = item.artifact, item.config
        shape = tuple(art.record.input_shape) or (1, 3, 224, 224)
        app_config = AppRunConfig(
            input_shape=shape,
            warmup=config.warmup,
            iterations=config.iterations,
            threads=config.threads,
            seed=config.seed,
        )
        started = _now()
        self.say(self.serial, f"{label}: running in the benchmark app")
        outcome = run_in_app(
            self.device,
            art.path,
            app_config,
            apk=self.options.apk or default_apk(),
            expected_sha256=art.record.sha256,
            timeout_s=self.options.run_timeout(False),
        )
        result = outcome.result
        record = RunRecord.from_result(
            result,
            device_id=device_id,
            provenance=self.outcome.provenance,
            config_key=item.key,
            started_at=started,
            host={**check.facts, "mode": "app"},
        )
        row = self._row(art, config, "app", "ok")
        self._save(store, row, record, result.samples_ms, result.warmup_ms)
        row.summary = stats.summarize(result.samples_ms)
        row.notes.append("in-app (not pinned)")
        self.outcome.rows.append(row)
        self.say(self.serial, f"{label}: median {row.summary.median:.2f} ms (in-app)")


def _where(row: Row) -> str:
    return f"run {row.run_id}" if row.run_id is not None else "NOT STORED"


def artifact_problems(artifacts: Sequence[HostArtifact]) -> dict[str, str]:
    """Local artifacts that are missing or do not match their manifest sha256 (checked once)."""
    problems = {}
    for art in artifacts:
        if not art.path.exists():
            problems[art.record.sha256] = f"{art.path} is missing; run `nox -s export` again"
        elif (actual := sha256_file(art.path)) != art.record.sha256:
            problems[art.record.sha256] = (
                f"{art.path} has sha256 {actual[:12]}, the manifest says "
                f"{art.record.sha256[:12]} (tampered or stale); re-export it"
            )
    return problems


def run_session(
    serials: Sequence[str],
    artifacts: Sequence[HostArtifact],
    options: Options,
    store_path: Path,
    *,
    say: Say = _quiet,
    kill_timeout_s: float = 20.0,
) -> list[DeviceOutcome]:
    """Benchmark `artifacts` on every device of `serials` in parallel; return their outcomes.

    KeyboardInterrupt (Ctrl-C) stops every device cleanly, kills our runners, and re-raises.
    """
    if options.mode not in MODES:
        raise BenchError(f"--mode {options.mode!r} is not one of {', '.join(MODES)}")
    problems = artifact_problems(artifacts)
    stop = threading.Event()
    checks = HostChecks()
    # one connection to the store per thread; the schema is created before the threads start
    Store.open(store_path).close()
    workers = [
        DeviceWorker(
            serial, artifacts, problems, store_path, options, stop=stop, host_checks=checks, say=say
        )
        for serial in dict.fromkeys(serials)
    ]
    threads = [
        threading.Thread(target=w.run, name=f"bench-android-{w.serial}", daemon=True)
        for w in workers
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
            say(worker.serial, "interrupted: stopping the runner")
            worker.interrupt()
        for thread in threads:
            thread.join(kill_timeout_s)
        for worker in workers:
            if worker.connected:
                _kill_after_interrupt(worker, kill_timeout_s, say)
        raise
    return [w.outcome for w in workers]


def _kill_after_interrupt(worker: DeviceWorker, timeout_s: float, say: Say) -> None:
    options = {**worker.options.device_options}
    options.setdefault("connect_timeout_s", min(5.0, timeout_s))
    try:
        device = AndroidDevice(worker.serial, **options)
        try:
            device.open()
            killed = phone.kill_runners(device, device.root, timeout_s=timeout_s)
        finally:
            device.close()
    except DeviceError as exc:
        say(worker.serial, f"could not check for a runner left running: {exc}")
        return
    say(worker.serial, f"no runner left on the device (killed {killed})")
