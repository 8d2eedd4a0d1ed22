"""Shell-level steps on one Android device: checks, thermal snapshots, cooldown, the pinned run,
and killing a runner we started.

Every string that reaches the device shell is quoted (shlex.quote); artifact files are named by
their sha256 on the device, so no user-chosen name ever reaches it.

A run is started as

    cd <payload folder> && sh -c 'echo $$ > .runner-<id>.pid; exec taskset <mask> <runner> ...'

so the runner's pid is on the device while it runs: `kill_runners` (Ctrl-C, a time-out, a
dropped connection, a leftover from an earlier session) kills exactly our runners.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ResultSchemaError, RunnerError
from bench.results import RunnerResult
from bench.runner.run import RunnerConfig
from deploy.devices import checks
from deploy.devices import info as info_parsing
from deploy.devices.base import Device, DeviceInfo, ThermalZone
from deploy.devices.errors import DeviceTimeoutError
from deploy.devices.info import TemperatureSource

PID_PREFIX = ".runner-"
#: What toybox's taskset says when the mask has no core the kernel lets it use (offline, or
#: outside the shell's cpuset).
_TASKSET_EINVAL = re.compile(r"taskset: failed to set pid \d+'s affinity: Invalid argument")


# -- checks --------------------------------------------------------------------------------------


def hottest_cpu_zone(zones: tuple[ThermalZone, ...] | list[ThermalZone]) -> float | None:
    """The hottest CPU thermal zone in degrees C (any non-peripheral zone if none is named CPU)."""
    return info_parsing.hottest_cpu_zone(zones)


@dataclass(frozen=True)
class Check:
    """What the pre-run check found: warnings to print, and the facts stored with each run."""

    warnings: tuple[str, ...]
    facts: dict[str, Any]


def check_device(info: DeviceInfo, needed_bytes: int, pause_s: float = 30.0) -> Check:
    """The checks that read the phone's facts (deploy.devices.checks), as warnings, and the
    facts stored with each run. Never refuses: the probes of `checks.run_checks` (and pushes)
    do."""
    found = [
        checks.check_big_core(info),
        checks.check_temperature(info, pause_s),
        checks.check_free_space(info, needed_bytes),
        checks.check_governor(info),
        checks.check_charging(info),
    ]
    warnings = [r.line() for r in found if r.status != checks.PASS]
    core = info.biggest_core
    source = info_parsing.temperature_source(info)
    facts = {
        "serial": info.serial,
        "biggest_core": core,
        "core_mask": info.big_core_mask,
        "core_choice": info.core_choice.reason,
        "governor": info.governors.get(core),
        "governors": {str(k): v for k, v in info.governors.items()},
        "max_freq_khz": {str(c.cpu): c.max_freq_khz for c in info.cores},
        "clusters": [list(c) for c in info.clusters],
        "online_cpus": list(info.online_cpus) if info.online_cpus is not None else None,
        "allowed_cpus": list(info.allowed_cpus) if info.allowed_cpus is not None else None,
        "thermal": source.kind if source.readable else "unavailable",
        "thermal_source": source.detail,
        "hottest_cpu_c": hottest_cpu_zone(info.thermal_zones)
        if source.kind == "sysfs"
        else info_parsing.hottest_hal_cpu(info.hal_temperatures),
        "battery_temp_c": info.battery_temp_c,
        "battery_status": info.battery_status,
        "charging": info.charging,
        "free_bytes": info.free_bytes,
    }
    return Check(tuple(warnings), facts)


# -- thermal -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Temperatures and the pinned core's frequency at one moment."""

    hottest_c: float | None
    cap_khz: int | None  # scaling_max_freq: lowered by thermal throttling
    cur_khz: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"hottest_cpu_c": self.hottest_c, "cap_khz": self.cap_khz, "cur_khz": self.cur_khz}


def snapshot(
    device: Device, core: int, timeout_s: float = 20.0, source: TemperatureSource | None = None
) -> Snapshot:
    """One cheap shell call: the temperature (from `source`, by default every sysfs thermal
    zone) and cpu<core>'s frequency cap and current."""
    source = source or TemperatureSource("sysfs", "sysfs thermal zones", info_parsing.SYSFS_ZONES)
    freq = f"/sys/devices/system/cpu/cpu{int(core)}/cpufreq"
    script = (
        (f"{source.command}; " if source.command else "")
        + f'echo "@@cap|$(cat {freq}/scaling_max_freq 2>/dev/null)"; '
        + f'echo "@@cur|$(cat {freq}/scaling_cur_freq 2>/dev/null)"'
    )
    output = device.shell(script, timeout_s=timeout_s).output
    temperature, values = [], {}
    for line in output.splitlines():
        if line.startswith("@@"):
            key, _, value = line[2:].partition("|")
            values[key] = int(value) if value.strip().isdigit() else None
        else:
            temperature.append(line)
    return Snapshot(source.read("\n".join(temperature)), values.get("cap"), values.get("cur"))


@dataclass(frozen=True)
class Cooldown:
    """What happened while waiting for the phone to cool down before a run.

    `thermal`: `ok`, or `unavailable` when no temperature was readable: then the wait was a
    fixed pause and `reached` is None (nothing was reached).
    """

    threshold_c: float
    max_wait_s: float
    start_c: float | None
    end_c: float | None
    waited_s: float
    reached: bool | None
    thermal: str = "ok"

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def describe(self) -> str:
        if self.thermal == "unavailable":
            return f"no temperature readable: paused {self.waited_s:g} s"
        if self.start_c is None:
            return "no CPU temperature readable: no cooldown"
        if self.waited_s == 0:
            return f"{self.start_c:.1f} C, under {self.threshold_c:g} C"
        state = "reached" if self.reached else "NOT reached (max wait)"
        return (
            f"cooled {self.start_c:.1f} -> {self.end_c:.1f} C in {self.waited_s:.0f} s, "
            f"{self.threshold_c:g} C {state}"
        )

    @property
    def noteworthy(self) -> bool:
        """Worth a line of progress: the phone was waited for, or never cooled enough."""
        return self.thermal == "ok" and (self.waited_s > 0 or not self.reached)


def cooldown(
    read: Callable[[], float | None],
    threshold_c: float,
    max_wait_s: float,
    *,
    poll_s: float = 2.0,
    wait: Callable[[float], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    pause_s: float | None = None,
) -> Cooldown:
    """Wait until `read()` (hottest CPU zone) is at most `threshold_c`, or `max_wait_s` passed.

    When `read()` gives no temperature and `pause_s` is given, pause that long instead (nothing
    is "reached": `thermal` is `unavailable`). `wait(seconds)` sleeps and returns True to stop
    early (Ctrl-C: a threading.Event's wait).
    """
    wait = wait or _sleep
    start = clock()
    first = current = read()
    if first is None and pause_s is not None:
        if pause_s > 0:
            wait(pause_s)
        paused = round(clock() - start, 3)
        return Cooldown(threshold_c, max_wait_s, None, None, paused, None, "unavailable")
    while current is not None and current > threshold_c:
        left = max_wait_s - (clock() - start)
        if left <= 0 or wait(min(poll_s, left)):
            break
        current = read()
    waited = clock() - start if first is not None and first > threshold_c else 0.0
    reached = current is None or current <= threshold_c
    return Cooldown(threshold_c, max_wait_s, first, current, round(waited, 3), reached)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def throttle_warnings(
    before: Snapshot, after: Snapshot, max_khz: int | None, rise_c: float
) -> list[str]:
    """Signs of thermal throttling around a run: heat gained, frequency cap lowered."""
    warnings = []
    if before.hottest_c is not None and after.hottest_c is not None:
        if after.hottest_c - before.hottest_c >= rise_c:
            warnings.append(
                f"temperature rose {before.hottest_c:.1f} -> {after.hottest_c:.1f} C during the run"
            )
    if before.cap_khz and after.cap_khz and after.cap_khz < before.cap_khz:
        warnings.append(
            f"frequency cap dropped {before.cap_khz / 1e3:.0f} -> {after.cap_khz / 1e3:.0f} MHz "
            "during the run (thermal throttling)"
        )
    elif max_khz and after.cap_khz and after.cap_khz < max_khz:
        warnings.append(
            f"the core is capped at {after.cap_khz / 1e3:.0f} of {max_khz / 1e3:.0f} MHz "
            "(throttled or power-saving)"
        )
    return warnings


# -- runs ----------------------------------------------------------------------------------------

SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV"}
SIGNALS.update({13: "SIGPIPE", 15: "SIGTERM"})


def run_command(
    folder: str, prefix: tuple[str, ...], model: str, config: RunnerConfig, mask: str, pid: str
) -> str:
    """The device shell command of one pinned run (see the module docstring)."""
    argv = [*prefix, "--model", model, *config.argv()]
    inner = f"echo $$ > {shlex.quote(pid)}; exec taskset {shlex.quote(mask)} " + " ".join(
        shlex.quote(a) for a in argv
    )
    return (
        f"cd {shlex.quote(folder)} && {{ sh -c {shlex.quote(inner)}; rc=$?; "
        f"rm -f {shlex.quote(pid)}; exit $rc; }}"
    )


def _reason(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.startswith("{")]
    for line in reversed(lines):
        if "error" in line.lower() or "usage" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def parse_run(exit_code: int, output: str, what: str, mask: str = "") -> RunnerResult:
    """The runner's result from its shell output, or RunnerError naming the crash or failure."""
    refused = _TASKSET_EINVAL.search(output)
    if exit_code != 0 and refused:
        raise RunnerError(
            f"taskset refused mask {mask or '?'} on {what} ({refused.group(0)}): the core is "
            "offline or outside the shell's allowed CPUs now; run `python -m deploy devices "
            "--check SERIAL` to see which core is usable"
        )
    if exit_code > 128:
        name = SIGNALS.get(exit_code - 128, f"signal {exit_code - 128}")
        raise RunnerError(f"runner crashed ({name}) on {what}: {_reason(output)}")
    if exit_code != 0:
        raise RunnerError(f"runner failed (exit {exit_code}) on {what}: {_reason(output)}")
    lines = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("{")]
    if not lines:
        raise RunnerError(f"runner printed no result JSON on {what}: {_reason(output)}")
    try:
        return RunnerResult.from_json(lines[-1])
    except ResultSchemaError as exc:
        raise RunnerError(f"{what}: {exc}") from None


@dataclass
class RunOnDevice:
    """One pinned run of the runner on a device."""

    folder: str  # absolute payload folder on the device
    prefix: tuple[str, ...]
    model: str  # path relative to the folder
    config: RunnerConfig
    mask: str
    timeout_s: float
    pid_file: str = field(default_factory=lambda: f"{PID_PREFIX}{secrets.token_hex(4)}.pid")

    def command(self) -> str:
        return run_command(
            self.folder, self.prefix, self.model, self.config, self.mask, self.pid_file
        )

    def run(self, device: Device, what: str) -> RunnerResult:
        try:
            result = device.shell(self.command(), timeout_s=self.timeout_s)
        except DeviceTimeoutError:
            raise DeviceTimeoutError(
                f"runner timed out after {self.timeout_s:g} s on {what} (or the device stopped "
                "answering): raise --timeout, or lower --iterations/--max-time"
            ) from None
        return parse_run(result.exit_code, result.output, what, self.mask)


def kill_runners(device: Device, root: str, timeout_s: float = 20.0) -> int:
    """Kill every runner of ours still running on the device (by pid file); return how many.

    Only pids whose command line names bench_runner are killed (a pid may have been reused).
    """
    script = (
        f"n=0; for f in {shlex.quote(root)}/bench-*/{PID_PREFIX}*.pid; do "
        '[ -f "$f" ] || continue; p=$(cat "$f"); '
        'if [ -n "$p" ] && grep -q bench_runner /proc/$p/cmdline 2>/dev/null; then '
        'kill -9 "$p" 2>/dev/null && n=$((n+1)); fi; rm -f "$f"; done; echo "killed $n"'
    )
    output = device.shell(script, timeout_s=timeout_s).output
    match = re.search(r"killed (\d+)", output)
    return int(match.group(1)) if match else 0
