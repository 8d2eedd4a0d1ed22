"""CPU cycles and instructions of a run on a phone, from `simpleperf stat`: optional metadata.

UNTESTED ON A PHONE. The parser is tested against fixtures written from simpleperf's source
(AOSP system/extras, simpleperf/cmd_stat.cpp, `CounterSummaries::ShowCSV` and `ShowText`), not
against output captured from a device, and the device side has only run against fakes.

Where the device has `simpleperf` (recent Android system images ship it; `command -v simpleperf`
decides), the command runs as

    simpleperf stat -e cpu-cycles,instructions --csv sh -c '( <command> ); echo <mark>$?'

and the counts come from its report (`--csv` exists since 2016; `echo` reports the command's
exit status, as simpleperf exits 0 whatever its command did):

    Performance counter statistics,
    1234567890,cpu-cycles,2.345678,GHz,
    2345678901,instructions,0.526316,cycles per instruction,
    Total test time,0.526437,seconds,

(simpleperf before August 2022 adds a `(100%),` field after the comment; the text report, for a
simpleperf without --csv, is "  1,234,567,890  cpu-cycles   # 2.345678 GHz"). No `--` before the
command: simpleperf only accepts it since mid-2020, and `sh` ends its options anyway. Counts
include `sh`, `taskset`, the runner's start and load: per inference is the difference of two runs
with different iteration counts (`simpleperf_per_inference`), as for the host's valgrind count.

Unlike valgrind's count these are hardware counters: they repeat only roughly (interrupts,
other processes' effects on caches, the cluster the run lands on), and they need the phone to
allow perf events to the shell user (Android's `security.perf_harden` property decides). A phone
without simpleperf gives None; a simpleperf that fails gives {"error": ...}: the measurement
goes on either way. The format facts above come from simpleperf's source and git history
(cmd_stat.cpp, command.cpp), not from a device.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from deploy.devices.base import Device

EVENTS = ("cpu-cycles", "instructions")
_TEXT_LINE = re.compile(r"^\s*([0-9][0-9,]*)\s+([a-z][\w-]*(?::[a-z]+)?)\s+#")
_CSV_TIME = re.compile(r"^Total test time,\s*([0-9.]+),\s*seconds")
_TEXT_TIME = re.compile(r"^Total test time:\s*([0-9.]+)\s*seconds")


#: printed after the command with its exit status: simpleperf exits 0 whatever its command did
EXIT_MARK = "simpleperf-command-exit="
_EXIT = re.compile(rf"^{re.escape(EXIT_MARK)}(\d+)\s*$", re.M)


def stat_command(command: str, events: tuple[str, ...] = EVENTS) -> str:
    """The device shell command that runs `command` under `simpleperf stat` (in a subshell, so
    that an `exit` in it still reaches the line that reports its status)."""
    inner = f"( {command} ); echo {EXIT_MARK}$?"
    return f"simpleperf stat -e {','.join(events)} --csv sh -c {shlex.quote(inner)}"


def command_exit_code(output: str) -> int | None:
    """The command's exit status, as `stat_command` reports it (None if it did not)."""
    found = _EXIT.search(output)
    return int(found.group(1)) if found else None


def parse_stat(text: str) -> dict[str, Any]:
    """{event name (with its modifier, e.g. "instructions:u"): count, ..., "seconds": float}
    from a `simpleperf stat` report, CSV or text; other lines (the command's own output) are
    ignored."""
    found: dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if m := _CSV_TIME.match(line) or _TEXT_TIME.match(line):
            found["seconds"] = float(m.group(1))
            continue
        if m := _TEXT_LINE.match(raw):
            found.setdefault(m.group(2), int(m.group(1).replace(",", "")))
            continue
        fields = [f.strip() for f in line.split(",")]
        # CSV: [thread,pid,tid,][cpu,]count,event[:modifier],comment...; the count precedes
        # the first field that names an event
        for i, name in enumerate(fields[1:], 1):
            if name.split(":", 1)[0] in EVENTS and fields[i - 1].isdigit():
                found.setdefault(name, int(fields[i - 1]))
                break
    return found


def _event(found: dict[str, Any], event: str) -> int | None:
    """The event's count: unmodified, else user space (`:u`), else any modifier."""
    for key in (event, f"{event}:u"):
        if key in found:
            return int(found[key])
    for key, value in found.items():
        if key.split(":", 1)[0] == event:
            return int(value)
    return None


def counts(found: dict[str, Any]) -> dict[str, Any] | None:
    """{"cycles", "instructions", "seconds"} from `parse_stat`'s result; None without both."""
    cycles, instructions = _event(found, "cpu-cycles"), _event(found, "instructions")
    if cycles is None or instructions is None:
        return None
    return {"cycles": cycles, "instructions": instructions, "seconds": found.get("seconds")}


def has_simpleperf(device: Device, timeout_s: float = 20.0) -> bool:
    result = device.shell("command -v simpleperf", timeout_s=timeout_s)
    return result.exit_code == 0 and "simpleperf" in result.output


def _reason(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in lines:
        low = line.lower()
        if "error" in low or "failed" in low or "not supported" in low or "permission" in low:
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def simpleperf_stat(device: Device, command: str, timeout_s: float) -> dict[str, Any] | None:
    """Run `command` (a device shell command) under `simpleperf stat`.

    None when the device has no simpleperf; {"error": reason} when simpleperf gave no cycles
    and instructions or the command failed; else {"cycles", "instructions", "seconds"}. A lost
    device raises the usual DeviceError. UNTESTED ON A PHONE (see the module docstring).
    """
    if not has_simpleperf(device):
        return None
    result = device.shell(stat_command(command), timeout_s=timeout_s)
    found = counts(parse_stat(result.output))
    if found is None:
        return {"error": f"simpleperf stat (exit {result.exit_code}): {_reason(result.output)}"}
    status = command_exit_code(result.output)
    if status != 0:
        why = "did not report its exit status" if status is None else f"exited {status}"
        return {"error": f"the command under simpleperf stat {why}: {_reason(result.output)}"}
    return found


def simpleperf_per_inference(
    device: Device,
    command_for: Callable[[int], str],
    *,
    iterations: tuple[int, int] = (2, 7),
    timeout_s: float,
) -> dict[str, Any] | None:
    """Cycles and instructions per inference: `simpleperf_stat` of `command_for(N1)` and of
    `command_for(N2)` (the runner with exactly N iterations, no warmup), differenced.

    None without simpleperf; {"error": ...} when a run failed; else {"cycles_per_inference",
    "instructions_per_inference", "iterations", "raw"}. UNTESTED ON A PHONE.
    """
    n1, n2 = iterations
    first = simpleperf_stat(device, command_for(n1), timeout_s)
    if first is None or "error" in first:
        return first
    second = simpleperf_stat(device, command_for(n2), timeout_s)
    if second is None or "error" in second:
        return second
    return {
        "cycles_per_inference": (second["cycles"] - first["cycles"]) / (n2 - n1),
        "instructions_per_inference": (second["instructions"] - first["instructions"]) / (n2 - n1),
        "iterations": [n1, n2],
        "raw": [first, second],
        "tool": "simpleperf stat -e cpu-cycles,instructions",
    }
