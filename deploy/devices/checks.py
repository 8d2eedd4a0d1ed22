"""First contact with a phone: checks that each say pass, warn or fail, with the fix.

    python -m deploy devices --check SERIAL      # once per phone (deploy.devices.cli)

bench-android runs the same checks before its first measurement and refuses to measure on a
failed one (bench.targets.android). The checks:

- adb: the phone accepted this computer's key (else nothing else can run);
- tmp: our folder in /data/local/tmp can be written and a file in it executed;
- big core: the core single-core runs are pinned to (the fastest one `taskset` can use: online,
  in the shell's allowed CPUs), tried with `taskset MASK true`;
- runner: the runner bundle pushed and started with `--help` through its loader, pinned;
- temperature: read through sysfs, else `dumpsys thermalservice`, else the battery; none
  readable means cool-down is a fixed pause;
- free space, the governor of the chosen core, charging, and whether simpleperf is there.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.devices import info as facts
from deploy.devices.base import DEVICE_ROOT, Device, DeviceInfo
from deploy.devices.errors import DeviceError

PASS, WARN, FAIL = "pass", "warn", "fail"
#: Seconds paused before each run when no temperature is readable (bench-android --cool-pause).
DEFAULT_PAUSE_S = 30.0
#: Governors that follow the load quickly (schedutil and vendors' schedutil-based ones).
KNOWN_GOVERNORS = {
    "performance": "fixed at its top frequency",
    "schedutil": "the kernel's load-following governor",
    "sched": "load-following (older kernels)",
    "interactive": "load-following (older kernels)",
    "walt": "Qualcomm's schedutil-based governor",
    "sugov_ext": "MediaTek's schedutil-based governor",
    "sched_pixel": "Google Tensor's schedutil-based governor",
}
#: The glibc loader of an arm64 runner bundle: when it is in the bundle, the runner starts
#: through it (Android has no glibc).
ARM64_LOADER = "ld-linux-aarch64.so.1"


@dataclass(frozen=True)
class CheckResult:
    """One check: pass, warn or fail, what was found, and the fix (for warn and fail)."""

    name: str
    status: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status}  {self.name:<11} {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


@dataclass(frozen=True)
class RunnerProbe:
    """A runner to try on the phone: local file -> path relative to `folder`, and its argv."""

    files: Mapping[Path, str]
    folder: str
    command: tuple[str, ...]
    label: str


def runner_probe(bundle: Path, abi: str, root: str = DEVICE_ROOT) -> RunnerProbe | None:
    """The runner folder `bundle` as a probe (None when it has no bench_runner): every file goes
    to `<root>/bench-<abi>`, the folder bench-android uses, started through the glibc loader
    when the folder has one."""
    if not (bundle / "bench_runner").is_file():
        return None
    files = {
        path: path.relative_to(bundle).as_posix()
        for path in sorted(bundle.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    if (bundle / ARM64_LOADER).is_file():
        command: tuple[str, ...] = (f"./{ARM64_LOADER}", "--library-path", "./lib")
        command += ("./bench_runner",)
        label = f"the {abi} bundle"
    else:
        command, label = ("./bench_runner",), f"the {abi} runner"
    return RunnerProbe(files, f"{root}/bench-{abi}", command, label)


def default_bundle(abi: str) -> Path | None:
    """Where `nox -s build-runner -- --arm64` leaves the phone bundle, for an arm64 phone."""
    if abi != "arm64-v8a":
        return None
    build = os.environ.get("BENCH_BUILD_DIR")
    root = Path(build) if build else Path(__file__).resolve().parents[2] / "build" / "runner"
    return root / "bundle-arm64"


# -- checks on the facts ----------------------------------------------------------------------


def check_big_core(info: DeviceInfo) -> CheckResult:
    """The core single-core runs are pinned to, and why; warn when it is not the fastest."""
    choice = info.core_choice
    if not info.usable_cores and info.cores:
        return CheckResult(
            "big core",
            FAIL,
            f"no core taskset can use: {'; '.join(choice.skipped) or choice.reason}",
            "bring a core online (reboot the phone) and check again",
        )
    message = f"{choice.reason} (mask {choice.mask})"
    no_cpufreq = [c for c in info.cores if c.cpu == choice.cpu and c.has_cpufreq is False]
    if choice.skipped or choice.cpu != choice.fastest:
        return CheckResult(
            "big core",
            WARN,
            message,
            "figures are of a slower core than the phone's fastest: bring it online "
            "(it may be hotplugged while idle: check again after a run) or accept it",
        )
    if no_cpufreq:
        return CheckResult(
            "big core",
            WARN,
            message,
            f"cpu{choice.cpu}'s frequency cap cannot be watched, so throttling during a run "
            "goes unnoticed: look at the temperatures instead",
        )
    return CheckResult("big core", PASS, message)


def check_temperature(info: DeviceInfo, pause_s: float = DEFAULT_PAUSE_S) -> CheckResult:
    """Can cool-down and the temperature-rise warning see this phone's temperature?"""
    source = facts.temperature_source(info)
    if source.kind == "sysfs":
        hottest = facts.hottest_cpu_zone(info.thermal_zones)
        return CheckResult(
            "temperature", PASS, f"{source.detail} readable, hottest CPU zone {hottest:.1f} C"
        )
    refused = any(z.denied for z in info.thermal_zones)
    why_sysfs = (
        f"sysfs thermal zones refused ({facts.DENIED}: SELinux)"
        if refused
        else ("no readable sysfs CPU zone")
    )
    if source.kind == "thermalservice":
        hottest = facts.hottest_hal_cpu(info.hal_temperatures)
        return CheckResult(
            "temperature",
            PASS,
            f"through dumpsys thermalservice, hottest CPU {hottest:.1f} C ({why_sysfs})",
        )
    if source.kind == "battery":
        return CheckResult(
            "temperature",
            WARN,
            f"only the battery's, through {source.detail[len('the battery (') : -1]}: "
            f"{info.battery_temp_c:.1f} C ({why_sysfs}; no CPU temperature from dumpsys "
            "thermalservice)",
            "cool-down waits on the battery, which warms and cools slowly: give runs more time "
            "apart (--cool-max-wait) or keep the phone in a cool place",
        )
    return CheckResult(
        "temperature",
        WARN,
        f"cool-down cannot see temperatures on this phone: using a fixed {pause_s:g} s pause "
        f"({facts.why_no_temperature(info)})",
        "nothing warns when a run heats the phone: leave it idle between sessions, or use a "
        "phone that lets the shell run dumpsys",
    )


def check_free_space(info: DeviceInfo, needed_bytes: int = 0) -> CheckResult:
    if info.free_bytes is None:
        return CheckResult(
            "free space",
            WARN,
            "df gave no free space for /data/local/tmp",
            "check `adb shell df /data/local/tmp` by hand",
        )
    free = f"{info.free_bytes / 1e9:.1f} GB free in /data/local/tmp"
    need = f", {needed_bytes / 1e6:.0f} MB needed" if needed_bytes else ""
    if info.free_bytes < needed_bytes:
        return CheckResult(
            "free space",
            FAIL,
            f"only {info.free_bytes / 1e6:.0f} MB free in /data/local/tmp{need}",
            "free space on the phone (or `python -m deploy devices --cleanup`)",
        )
    return CheckResult("free space", PASS, free + need)


def check_governor(info: DeviceInfo) -> CheckResult:
    core = info.biggest_core
    governor = info.governors.get(core)
    if governor is None:
        return CheckResult(
            "governor",
            WARN,
            f"cpu{core} has no readable governor (no cpufreq folder)",
            "its frequency cannot be watched; nothing to change",
        )
    if governor in KNOWN_GOVERNORS:
        return CheckResult("governor", PASS, f"cpu{core}: {governor} ({KNOWN_GOVERNORS[governor]})")
    return CheckResult(
        "governor",
        WARN,
        f"cpu{core}: {governor}: latencies may vary with frequency scaling",
        "expect a wider spread (more --iterations), or set schedutil/performance on a rooted phone",
    )


def check_charging(info: DeviceInfo) -> CheckResult:
    if info.charging:
        return CheckResult(
            "charging",
            WARN,
            f"the phone is charging ({info.battery_status}): charging heats it and can "
            "throttle the CPU",
            "unplug it, or use Wi-Fi debugging (`adb tcpip 5555`) for the most repeatable figures",
        )
    return CheckResult("charging", PASS, f"not charging ({info.battery_status or 'status n/a'})")


# -- probes on the phone ----------------------------------------------------------------------


def _root(device: Device) -> str:
    return str(getattr(device, "root", DEVICE_ROOT))


def check_tmp(device: Device) -> CheckResult:
    """Write a script in our folder and execute it (the kernel runs it: a noexec mount or a
    policy that forbids it fails)."""
    folder = shlex.quote(_root(device))
    probe = f"{folder}/.first-contact-check"
    script = (
        f"mkdir -p {folder} || exit 3; s=/system/bin/sh; [ -x $s ] || s=/bin/sh; "
        f'printf "#!$s\\necho exec-ok\\n" > {probe} || exit 4; '
        f"chmod 755 {probe} && {probe}; rc=$?; rm -f {probe}; exit $rc"
    )
    result = device.shell(script, timeout_s=30)
    last = _last_line(result.output)
    if "exec-ok" in result.output:
        return CheckResult("tmp", PASS, f"{_root(device)} is writable and executable")
    if result.exit_code in (3, 4):
        return CheckResult(
            "tmp",
            FAIL,
            f"cannot write in {_root(device)}: {last}",
            "free space, or check that /data/local/tmp is writable for the shell",
        )
    return CheckResult(
        "tmp",
        FAIL,
        f"cannot execute files in {_root(device)} (exit {result.exit_code}): {last}",
        "this phone forbids running programs from /data/local/tmp: bench-android cannot run "
        "here (--mode app can)",
    )


def check_pinning(device: Device, info: DeviceInfo) -> CheckResult:
    """The big-core choice (see check_big_core), tried: `taskset MASK true` on the phone."""
    chosen = check_big_core(info)
    if chosen.status == FAIL:
        return chosen
    mask = info.big_core_mask
    result = device.shell(f"taskset {mask} true", timeout_s=30)
    if result.exit_code != 0:
        return CheckResult(
            "big core",
            FAIL,
            f"`taskset {mask} true` failed (exit {result.exit_code}): "
            f"{_last_line(result.output)} ({info.core_choice.reason})",
            "the core is offline or outside the shell's cpuset now: check again; if it stays, "
            "report the phone's /sys/devices/system/cpu/online",
        )
    return chosen


def check_runner(
    device: Device, info: DeviceInfo, probe: RunnerProbe | None, pinned: bool = True
) -> CheckResult:
    """Push the runner and start it with --help through its loader (pinned, as runs are)."""
    if probe is None:
        where = default_bundle(info.abi)
        if where is not None:
            return CheckResult(
                "runner",
                WARN,
                f"no {info.abi} runner bundle to try (none at {where})",
                "build it (`nox -s build-runner -- --arm64`) or pass --runner DIR; check again",
            )
        return CheckResult(
            "runner",
            WARN,
            f"no runner for {info.abi or 'this ABI'} given to try (bench-android tries its own)",
            "pass --runner DIR, a folder with bench_runner (and its lib/)",
        )
    device.push_many({local: f"{probe.folder}/{name}" for local, name in probe.files.items()})
    argv = " ".join(shlex.quote(word) for word in probe.command)
    pin = f"taskset {info.big_core_mask} " if pinned else ""
    result = device.shell(f"cd {shlex.quote(probe.folder)} && {pin}{argv} --help", timeout_s=120)
    shown = f"`{' '.join(probe.command)} --help`"
    if re.search(r"usage", result.output, re.I) and result.exit_code < 126:
        return CheckResult(
            "runner",
            PASS,
            f"{probe.label}: {shown} ran{' pinned' if pinned else ''} "
            f"(exit {result.exit_code}, its usage printed)",
        )
    return CheckResult(
        "runner",
        FAIL,
        f"{probe.label}: {shown} failed (exit {_exit_text(result.exit_code)}): "
        f"{_last_line(result.output)}",
        "the runner does not start on this phone: 'not found' or 'Exec format error' is a "
        "wrong ABI or a missing loader, a signal is a crash in the loader: report the line",
    )


def check_simpleperf(device: Device) -> CheckResult:
    result = device.shell("command -v simpleperf", timeout_s=30)
    path = _last_line(result.output)
    if result.exit_code == 0 and path.startswith("/"):
        return CheckResult("simpleperf", PASS, f"present ({path})")
    return CheckResult(
        "simpleperf",
        WARN,
        "not on this phone: only needed to profile a run",
        "none to benchmark; to profile, push simpleperf from the Android NDK",
    )


def run_checks(
    device: Device,
    info: DeviceInfo,
    *,
    runner: RunnerProbe | None = None,
    needed_bytes: int = 0,
    pause_s: float = DEFAULT_PAUSE_S,
    cached: Mapping[str, CheckResult] | None = None,
) -> list[CheckResult]:
    """Every check, in order (the phone is connected: adb passed). `cached`: results of the
    probes (tmp, big core, runner, simpleperf) from an earlier run on this phone, reused."""
    done = dict(cached or {})
    results = [CheckResult("adb", PASS, "authorized: this computer's key is accepted")]
    tmp = done.get("tmp") or check_tmp(device)
    pinned = done.get("big core") or check_pinning(device, info)
    results += [tmp, pinned]
    if "runner" in done:
        results.append(done["runner"])
    elif tmp.status == FAIL:
        results.append(CheckResult("runner", FAIL, "not tried: files cannot run from our folder"))
    else:
        try:
            results.append(check_runner(device, info, runner, pinned=pinned.status != FAIL))
        except DeviceError as exc:
            results.append(
                CheckResult("runner", FAIL, f"could not push the runner: {exc}", "see the error")
            )
    results += [
        check_temperature(info, pause_s),
        check_free_space(info, needed_bytes),
        check_governor(info),
        check_charging(info),
        done.get("simpleperf") or check_simpleperf(device),
    ]
    return results


#: The checks that probe the phone (their results may be cached); the others read its facts.
PROBES = ("tmp", "big core", "runner", "simpleperf")


def counts(results: Iterable[CheckResult]) -> str:
    """`7 pass, 1 warn, 0 fail`."""
    statuses = [r.status for r in results]
    return ", ".join(f"{statuses.count(s)} {s}" for s in (PASS, WARN, FAIL))


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _exit_text(code: int) -> str:
    if code > 128:
        return f"{code}: signal {code - 128}"
    return str(code)
