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
from deploy.devices import info as info_parsing
from deploy.devices.base import Device, DeviceInfo, ThermalZone
from deploy.devices.errors import DeviceTimeoutError

# Zone type names of CPU sensors across vendors (Qualcomm cpu-*/cpuss/apc/tsens, MediaTek
# mtktscpu, Exynos/Tensor big/mid/little, generic soc/cpu-thermal, x86 x86_pkg_temp).
_CPU_ZONE = re.compile(r"cpu|apc|cluster|big|mid|little|tsens|soc[-_]?therm|x86_pkg", re.I)
_NOT_CPU = re.compile(
    r"gpu|batt|skin|usb|charger|bms|xo|quiet|camera|display|npu|ddr|wlan|modem|mdm|pa[-_]", re.I
)
PID_PREFIX = ".runner-"


# -- checks --------------------------------------------------------------------------------------


def hottest_cpu_zone(zones: tuple[ThermalZone, ...] | list[ThermalZone]) -> float | None:
    """The hottest CPU thermal zone in degrees C (any non-peripheral zone if none is named CPU)."""
    known = [z for z in zones if z.temp_c is not None]
    cpu = [z.temp_c for z in known if _CPU_ZONE.search(z.name) and not _NOT_CPU.search(z.name)]
    if not cpu:
        cpu = [z.temp_c for z in known if not _NOT_CPU.search(z.name)]
    return max(cpu) if cpu else None  # type: ignore[type-var]


@dataclass(frozen=True)
class Check:
    """What the pre-run check found: warnings to print, and the facts stored with each run."""

    warnings: tuple[str, ...]
    facts: dict[str, Any]


def check_device(info: DeviceInfo, needed_bytes: int) -> Check:
    """Warn about what makes single-core figures unreliable; never refuses (pushes will)."""
    warnings = []
    core = info.biggest_core
    governor = info.governors.get(core)
    if governor and governor not in ("performance", "schedutil", "sched", "interactive"):
        warnings.append(
            f"cpu{core} governor is {governor}: latencies may vary with frequency scaling"
        )
    if info.charging:
        warnings.append(
            "the phone is charging: charging heats it and can throttle the CPU; unplug it or "
            "use Wi-Fi debugging (`adb tcpip 5555`) for the most repeatable figures"
        )
    hottest = hottest_cpu_zone(info.thermal_zones)
    if info.free_bytes is not None and info.free_bytes < needed_bytes:
        warnings.append(
            f"only {info.free_bytes / 1e6:.0f} MB free in /data/local/tmp, up to "
            f"{needed_bytes / 1e6:.0f} MB needed: pushes may fail (free some space)"
        )
    facts = {
        "serial": info.serial,
        "biggest_core": core,
        "core_mask": info.big_core_mask,
        "governor": governor,
        "governors": {str(k): v for k, v in info.governors.items()},
        "max_freq_khz": {str(c.cpu): c.max_freq_khz for c in info.cores},
        "clusters": [list(c) for c in info.clusters],
        "hottest_cpu_c": hottest,
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


def snapshot(device: Device, core: int, timeout_s: float = 20.0) -> Snapshot:
    """One cheap shell call: every thermal zone and cpu<core>'s frequency cap and current."""
    freq = f"/sys/devices/system/cpu/cpu{int(core)}/cpufreq"
    script = (
        "for z in /sys/class/thermal/thermal_zone*; do "
        'echo "$(cat $z/type 2>/dev/null)|$(cat $z/temp 2>/dev/null)"; done; '
        f'echo "@@cap|$(cat {freq}/scaling_max_freq 2>/dev/null)"; '
        f'echo "@@cur|$(cat {freq}/scaling_cur_freq 2>/dev/null)"'
    )
    output = device.shell(script, timeout_s=timeout_s).output
    zones, values = [], {}
    for line in output.splitlines():
        if line.startswith("@@"):
            key, _, value = line[2:].partition("|")
            values[key] = int(value) if value.strip().isdigit() else None
        elif "|" in line:
            zones.append(line)
    return Snapshot(
        hottest_cpu_zone(info_parsing.parse_thermal(zones)), values.get("cap"), values.get("cur")
    )


@dataclass(frozen=True)
class Cooldown:
    """What happened while waiting for the phone to cool down before a run."""

    threshold_c: float
    max_wait_s: float
    start_c: float | None
    end_c: float | None
    waited_s: float
    reached: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def describe(self) -> str:
        if self.start_c is None:
            return "no CPU temperature readable: no cooldown"
        if self.waited_s == 0:
            return f"{self.start_c:.1f} C, under {self.threshold_c:g} C"
        state = "reached" if self.reached else "NOT reached (max wait)"
        return (
            f"cooled {self.start_c:.1f} -> {self.end_c:.1f} C in {self.waited_s:.0f} s, "
            f"{self.threshold_c:g} C {state}"
        )


def cooldown(
    read: Callable[[], float | None],
    threshold_c: float,
    max_wait_s: float,
    *,
    poll_s: float = 2.0,
    wait: Callable[[float], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Cooldown:
    """Wait until `read()` (hottest CPU zone) is at most `threshold_c`, or `max_wait_s` passed.

    `wait(seconds)` sleeps and returns True to stop early (Ctrl-C: a threading.Event's wait).
    """
    wait = wait or _sleep
    start = clock()
    first = current = read()
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


def parse_run(exit_code: int, output: str, what: str) -> RunnerResult:
    """The runner's result from its shell output, or RunnerError naming the crash or failure."""
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
        return parse_run(result.exit_code, result.output, what)


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
