"""Android phones over ADB: `bench_runner` started from `adb shell` (AndroidShellTarget), or the
same .pte inside the benchmark app (AndroidAppTarget).

Shell mode, the way the papers measured: connect, read the phone's facts and run the
first-contact checks (`deploy.devices.checks`, the same as `python -m deploy devices --check`;
their probes cached per device and runner): a failed check refuses to measure. Then push the
runner payload for its ABI (sha256-skipped, verified), kill runners left over by an earlier
session; per run: push the artifact (named by its sha256), cool down (a fixed pause when no
temperature is readable), snapshot the temperature (sysfs, else dumpsys) and the frequency cap,
run pinned to the fastest core taskset can use with one thread (`bench.android.phone`), snapshot
again.

Provenance: `phone`; `simulator` when the device says it is our simulator; `emulated` when the
simulator runs the arm64 bundle under qemu -- those runs are functional checks (the output is
compared with the host runner's on the same artifact) and carry no latency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import secrets
import shlex
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.android import phone
from bench.android.payload import RunnerPayload, payload_for
from bench.errors import (
    AndroidBenchError,
    ArtifactError,
    BenchError,
    ResultSchemaError,
    RunnerError,
)
from bench.results import RunnerResult
from bench.runner import build
from bench.runner.run import RunnerConfig, run_host
from bench.store import DeviceRecord
from bench.targets.base import Artifact, Measured, Target, Variant
from deploy.artifacts.hashing import sha256_file
from deploy.devices import checks
from deploy.devices import info as info_parsing
from deploy.devices.android import AndroidDevice
from deploy.devices.base import Device, DeviceInfo
from deploy.devices.errors import DeviceError
from deploy.devices.info import TemperatureSource

EMULATED_PROP = "ro.mobilenet_deploy.emulated"
MODES = ("shell", "app")


@dataclass
class Options:
    """How to run on a phone (see `bench.android.cli` for the defaults)."""

    all_cores: bool = False
    cleanup: bool = False
    timeout_s: float | None = None  # per run; default: the time budget + 300 s
    cool_to_c: float = 45.0
    cool_max_wait_s: float = 120.0
    cool_poll_s: float = 2.0
    cool_pause_s: float = checks.DEFAULT_PAUSE_S  # before each run when no temperature is readable
    warn_rise_c: float = 5.0
    functional_iterations: int = 3  # measured iterations of an emulated (qemu) check
    device_options: dict[str, Any] = field(default_factory=dict)  # AndroidDevice(...) options
    apk: Path | None = None  # app mode
    check_cache: Path | None = None  # JSON file keeping each device's passed probes (no: none)

    def run_timeout(self, config: RunnerConfig, emulated: bool) -> float:
        if self.timeout_s:
            return self.timeout_s
        budget = max(config.max_time_s, config.min_time_s)
        return (600.0 if emulated else 300.0) + budget


class HostChecks:
    """The host runner's output on each artifact, for emulated checks (computed once, shared)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, int], RunnerResult | str] = {}

    def get(self, artifact: Artifact, seed: int) -> RunnerResult | str:
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


class AndroidShellTarget(Target):
    """A phone (or our ADB simulator) over ADB; bench_runner pinned with taskset from its shell."""

    mode = "shell"
    transport = "adb-shell"  # how runs are started, stored with each run

    def __init__(
        self,
        serial: str,
        options: Options | None = None,
        *,
        needed_bytes: int = 0,
        host_checks: HostChecks | None = None,
    ) -> None:
        self.serial = self.label = serial
        self.options = options or Options()
        self.needed_bytes = needed_bytes
        self.host_checks = host_checks or HostChecks()
        self.device: AndroidDevice | None = None
        self.info: DeviceInfo | None = None
        self.emulated = False
        self.payload: RunnerPayload | None = None
        self.check = phone.Check((), {})
        self.checks: list[checks.CheckResult] = []
        self.temperature = TemperatureSource("none", "not read yet")
        self._pushed: dict[str, str] = {}  # artifact sha256 -> path on the device

    # -- facts --------------------------------------------------------------------------------

    def open(self) -> DeviceRecord:
        device = AndroidDevice(self.serial, **self.options.device_options)
        self.device = device
        device.open()
        info = self.info = device.info()
        self.emulated = info.properties.get(EMULATED_PROP) == "1"
        self.timed = not self.emulated
        self.provenance = (
            "emulated" if self.emulated else "simulator" if info.is_simulator else "phone"
        )
        same = info.manufacturer.lower() in info.model.lower()
        name = (info.model if same else f"{info.manufacturer} {info.model}").strip()
        self.name = name or self.serial
        if self.mode == "shell":
            self.payload = payload_for(info.abis, info.abi)
        needed = self.needed_bytes + (self.payload.size_bytes if self.payload else 0)
        self.temperature = info_parsing.temperature_source(info)
        self.check = phone.check_device(info, needed, self.options.cool_pause_s)
        if self.mode == "shell":
            self._first_contact(device, info, needed)
        return DeviceRecord(
            id=info.properties.get("ro.serialno") or self.serial,
            kind="simulator" if info.is_simulator else "phone",
            name=self.name,
            model=info.model,
            soc=info.soc,
            abi=info.abi,
            os=f"Android {info.android_version} (SDK {info.sdk})",
            metadata={
                **self.check.facts,
                "manufacturer": info.manufacturer,
                "abis": list(info.abis),
                "fingerprint": info.properties.get("ro.build.fingerprint", ""),
                "simulator": info.is_simulator,
                "emulated": self.emulated,
            },
        )

    def _first_contact(self, device: AndroidDevice, info: DeviceInfo, needed: int) -> None:
        """The checks of `python -m deploy devices --check`, their probes cached per device and
        runner; pass lines are said, warnings kept, and a failed check refuses to measure."""
        assert self.payload is not None
        probe = checks.RunnerProbe(
            self.payload.files, self.folder, self.payload.command, f"the {self.payload.abi} runner"
        )
        cache = _CheckCache(self.options.check_cache)
        key = cache.key(info, self.payload, device.serial)
        cached = cache.get(key)
        results = checks.run_checks(
            device,
            info,
            runner=probe,
            needed_bytes=needed,
            pause_s=self.options.cool_pause_s,
            cached=cached,
        )
        self.checks = results
        origin = " (cached)" if cached else ""
        for result in results:
            if result.status == checks.PASS:
                self.say(f"check{origin if result.name in checks.PROBES else ''}: {result.line()}")
        warnings = [
            f"{r.name}: {r.message}; fix: {r.fix}" for r in results if r.status == checks.WARN
        ]
        self.check = phone.Check(tuple(warnings), self.check.facts)
        failed = [r for r in results if r.status == checks.FAIL]
        if failed:
            raise AndroidBenchError(
                "refusing to measure: "
                + " | ".join(r.line() for r in failed)
                + f" (python -m deploy devices --check {device.serial} shows every check)"
            )
        if not cached:
            cache.put(key, [r for r in results if r.name in checks.PROBES])

    def summary(self) -> str:
        assert self.info is not None
        return f"{self.info.summary()}; provenance {self.provenance}"

    def warnings(self) -> list[str]:
        return list(self.check.warnings)

    def variants(self, config: RunnerConfig) -> list[Variant]:
        assert self.info is not None, "open() first"
        base = dataclasses.replace(config, threads=1, cpu=None)
        if self.emulated:  # a functional check: qemu time is not a latency, keep it short
            base = dataclasses.replace(
                base,
                warmup=min(base.warmup, 1),
                iterations=self.options.functional_iterations,
                min_time_s=0.0,
                max_time_s=0.0,
                target_precision=0.0,
            )
        variants = [Variant(base, self.info.big_core_mask, base.key())]
        usable = self.info.usable_cores or self.info.cores
        if self.options.all_cores and len(usable) > 1:
            threads = dataclasses.replace(base, threads=len(usable))
            variants.append(Variant(threads, self.info.usable_mask, threads.key()))
        return variants

    def failed_machine(self) -> dict[str, Any]:
        return dict(self.check.facts)

    # -- deploying and measuring --------------------------------------------------------------

    @property
    def folder(self) -> str:
        assert self.device is not None
        return f"{self.device.root}/{self.payload.folder}" if self.payload else self.device.root

    def prepare(self, artifacts: list[Artifact]) -> None:
        device, payload = self.device, self.payload
        assert device is not None and payload is not None
        killed = phone.kill_runners(device, device.root)
        if killed:
            self.say(f"killed {killed} runner(s) left by an earlier session")
        self.say(f"deploying the {payload.abi} runner to {self.folder}")
        pushed = device.push_many(
            {local: f"{self.folder}/{name}" for local, name in payload.files.items()}
        )
        sent = [p for p in pushed if not p.skipped]
        self.say(f"runner: {len(sent)} file(s) pushed, {len(pushed) - len(sent)} unchanged")

    def _push(self, artifact: Artifact, label: str) -> str:
        """The artifact's path on the device (relative to the payload folder), pushed once."""
        assert self.device is not None
        sha = artifact.record.sha256
        if sha not in self._pushed:
            relative = f"models/{sha[:16]}.pte"
            result = self.device.push(artifact.path, f"{self.folder}/{relative}")
            if result.sha256 != sha:
                raise ArtifactError(
                    f"{artifact.path} changed (sha256 {result.sha256[:12]}, the manifest says "
                    f"{sha[:12]}); re-export it"
                )
            self._pushed[sha] = relative
            self.say(f"{label}: artifact {'unchanged' if result.skipped else 'pushed'}")
        return self._pushed[sha]

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        device, info, payload, opts = self.device, self.info, self.payload, self.options
        assert device is not None and info is not None and payload is not None
        model = self._push(artifact, label)
        core = info.biggest_core
        source = self.temperature
        cool = phone.cooldown(
            lambda: phone.snapshot(device, core, source=source).hottest_c,
            opts.cool_to_c,
            opts.cool_max_wait_s,
            poll_s=opts.cool_poll_s,
            wait=self.stopped.wait,
            pause_s=None if source.readable else opts.cool_pause_s,
        )
        if self.stopped.is_set():
            raise DeviceError("interrupted")
        if cool.noteworthy:
            self.say(f"{label}: {cool.describe()}")
        before = phone.snapshot(device, core, source=source)
        self.say(f"{label}: running on mask {variant.mask}")
        timeout_s = opts.run_timeout(variant.config, self.emulated)
        run = phone.RunOnDevice(
            self.folder, payload.command, model, variant.config, variant.mask, timeout_s
        )
        result = run.run(device, f"{artifact.record.model} {artifact.record.recipe}")
        after = phone.snapshot(device, core, source=source)
        max_khz = next((c.max_freq_khz for c in info.cores if c.cpu == core), None)
        warnings = (
            []
            if self.emulated
            else phone.throttle_warnings(before, after, max_khz, opts.warn_rise_c)
        )
        for warning in warnings:
            self.say(f"warning: {label}: {warning}")
        machine: dict[str, Any] = {
            **self.check.facts,
            "mode": self.transport,
            "payload_abi": payload.abi,
            "thermal": source.kind if source.readable else "unavailable",
            "cooldown": cool.as_dict(),
            "before": before.as_dict(),
            "after": after.as_dict(),
            "warnings": warnings,
        }
        measured = Measured(
            result,
            machine,
            temp_before_c=before.hottest_c,
            temp_after_c=after.hottest_c,
            notes=[*warnings, *([cool.describe()] if cool.noteworthy else [])],
        )
        if self.emulated:
            measured.result = result.with_emulated(True)
            ok, detail = functional_check(
                measured.result, self.host_checks.get(artifact, variant.config.seed)
            )
            machine["functional_check"] = {"ok": ok, "detail": detail}
            measured.functional, measured.timed = detail, False
            if not ok:
                measured.status, measured.error = "failed", detail
        return measured

    def profile(
        self, artifact: Artifact, variant: Variant, label: str, etdump: Path
    ) -> RunnerResult:
        """A profiling round on the device; the ETDump is pulled to `etdump` and removed there."""
        device, payload = self.device, self.payload
        assert device is not None and payload is not None
        if self.emulated:
            raise AndroidBenchError(
                f"{self.serial} runs the runner under qemu: its times are no profile; profile on "
                "a phone or the x86_64 simulator"
            )
        model = self._push(artifact, label)
        remote = f"profile-{secrets.token_hex(4)}.etdp"  # in the payload folder, our name
        self.say(f"{label}: profiling round on mask {variant.mask} (ETDump, not timed)")
        timeout_s = self.options.run_timeout(variant.config, False)
        run = phone.RunOnDevice(
            self.folder,
            (*payload.command, "--etdump", remote),
            model,
            variant.config,
            variant.mask,
            timeout_s,
        )
        try:
            result = run.run(device, f"{artifact.record.model} {artifact.record.recipe}")
            etdump.parent.mkdir(parents=True, exist_ok=True)
            device.pull(f"{self.folder}/{remote}", etdump)
        finally:
            with contextlib.suppress(DeviceError):
                device.shell(f"rm -f {shlex.quote(f'{self.folder}/{remote}')}", timeout_s=20.0)
        return result

    # -- failures, Ctrl-C, the end ------------------------------------------------------------

    def recover(self, error: Exception) -> str | None:
        """Reconnect and kill a runner that may still run; None if the device answers."""
        assert self.device is not None
        try:
            killed = phone.kill_runners(self.device, self.device.root)
        except DeviceError as exc:
            self.say(f"device unreachable: {exc}")
            return str(exc)
        if killed:
            self.say(f"killed {killed} runner(s) still running after the failure")
        return None

    def interrupt(self) -> None:
        self.stopped.set()
        if self.device is not None:
            self.device.close()

    def reconnect(self, timeout_s: float) -> Device:
        """A fresh connection to the device (the session's one may be closed by Ctrl-C)."""
        options = {**self.options.device_options}
        options.setdefault("connect_timeout_s", min(5.0, timeout_s))
        device = AndroidDevice(self.serial, **options)
        device.open()
        return device

    def stop_runners(self, timeout_s: float) -> str:
        try:
            device = self.reconnect(timeout_s)
            try:
                killed = phone.kill_runners(device, device.root, timeout_s=timeout_s)
            finally:
                device.close()
        except DeviceError as exc:
            return f"could not check for a runner left running: {exc}"
        return f"no runner left on the device (killed {killed})"

    def finish(self) -> str:
        if self.options.cleanup and self.device is not None:
            self.device.cleanup()
            return f"removed {self.device.root}"
        return ""

    def close(self) -> None:
        if self.device is not None:
            self.device.close()


class AndroidAppTarget(AndroidShellTarget):
    """The same .pte measured inside the foreground benchmark app (`android_app/`), unpinned."""

    mode = "app"

    def variants(self, config: RunnerConfig) -> list[Variant]:
        base = dataclasses.replace(config, threads=1, cpu=None)
        return [Variant(base, "app", base.key() + ";mode=app")]

    def prepare(self, artifacts: list[Artifact]) -> None:
        pass  # run_in_app installs the APK and pushes each artifact itself

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        from bench.android.app import AppRunConfig, default_apk, run_in_app

        assert self.device is not None
        config = variant.config
        app_config = AppRunConfig(
            input_shape=tuple(artifact.record.input_shape) or (1, 3, 224, 224),
            warmup=config.warmup,
            iterations=config.iterations,
            threads=config.threads,
            seed=config.seed,
            preprocessing=artifact.record.preprocessing,
        )
        self.say(f"{label}: running in the benchmark app")
        outcome = run_in_app(
            self.device,
            artifact.path,
            app_config,
            apk=self.options.apk or default_apk(),
            expected_sha256=artifact.record.sha256,
            timeout_s=self.options.run_timeout(config, False),
        )
        return Measured(
            outcome.result, {**self.check.facts, "mode": "app"}, notes=["in-app (not pinned)"]
        )


class _CheckCache:
    """The probes (tmp, big core, runner, simpleperf) that passed on a device, kept in a JSON
    file by device, build fingerprint, runner files and core mask: the next session reuses them.
    Failed checks are never kept; `path` None keeps nothing."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @staticmethod
    def key(info: DeviceInfo, payload: RunnerPayload, serial: str) -> str:
        digest = hashlib.sha256()
        for local, name in sorted(payload.files.items(), key=lambda item: item[1]):
            digest.update(f"{name}={sha256_file(local)};".encode())
        device = info.properties.get("ro.serialno") or serial
        fingerprint = info.properties.get("ro.build.fingerprint", "")
        return f"{device}|{fingerprint}|{digest.hexdigest()[:16]}|{info.big_core_mask}"

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, checks.CheckResult] | None:
        with self._lock:
            entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            found = [checks.CheckResult(**item) for item in entry.get("results", [])]
        except TypeError:
            return None
        results = {r.name: r for r in found if r.status != checks.FAIL}
        return results if set(results) == set(checks.PROBES) else None

    def put(self, key: str, results: list[checks.CheckResult]) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            data[key] = {
                "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "results": [dataclasses.asdict(r) for r in results],
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".device-checks.", dir=self.path.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(temp, self.path)


def android_target(serial: str, mode: str, options: Options, **kwargs: Any) -> Target:
    """The target for `serial` in `mode` (shell or app)."""
    if mode not in MODES:
        raise BenchError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    cls = AndroidAppTarget if mode == "app" else AndroidShellTarget
    return cls(serial, options, **kwargs)
