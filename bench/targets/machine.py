"""The state of a Linux machine around one round, as the machine-state guard reads it.

A round's latency means little when the machine was busy: another process on the measured core,
a hypervisor stealing CPU time, a high load. `RoundWatch` samples /proc before and after a round:

- `steal_pct`: the percentage of all CPU time the hypervisor took during the round (/proc/stat);
- `runnable_on_core`: runnable tasks, other than our runner, last seen on the measured core, at
  the start and at the end of the round (/proc/*/task/*/stat, field 39 "processor");
- `loadavg` / `loadavg_after`: the 1, 5 and 15 minute load averages.

Everything is read from files (from the host's /proc, or a device's over its shell through
`parse_*`), so a missing file gives None, never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def parse_cpu_times(stat_text: str | None) -> tuple[int, int] | None:
    """(total jiffies, steal jiffies) from /proc/stat's aggregate `cpu` line."""
    for line in (stat_text or "").splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:9]]  # user .. steal (guest is inside user)
            return sum(values), values[7] if len(values) > 7 else 0
    return None


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Percent of CPU time stolen between two /proc/stat readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return 100.0 * (after[1] - before[1]) / (after[0] - before[0])


def parse_task_stat(text: str) -> tuple[str, int] | None:
    """(state, last CPU) of one /proc/<pid>/task/<tid>/stat line."""
    _, _, rest = text.rpartition(")")  # the command name may hold spaces and parentheses
    fields = rest.split()
    if len(fields) < 37:
        return None
    return fields[0], int(fields[36])  # field 3 (state) and field 39 (processor)


def runnable_on_core(
    core: int, exclude_pids: frozenset[int] | set[int] = frozenset(), proc: str = "/proc"
) -> int:
    """Runnable tasks whose last CPU is `core`, not counting the processes in `exclude_pids`."""
    count = 0
    for pid_dir in Path(proc).iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) in exclude_pids:
            continue
        try:
            tasks = list((pid_dir / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            text = _read(task / "stat")
            parsed = parse_task_stat(text) if text else None
            if parsed is not None and parsed[0] == "R" and parsed[1] == core:
                count += 1
    return count


@dataclass
class RoundWatch:
    """Samples taken before a round; `facts()` after it gives what the round is stored with."""

    core: int
    cpu_times: tuple[int, int] | None
    runnable_before: int
    loadavg: list[float]

    @classmethod
    def start(cls, core: int) -> RoundWatch:
        return cls(
            core,
            parse_cpu_times(_read("/proc/stat")),
            runnable_on_core(core, {os.getpid()}),
            list(os.getloadavg()),
        )

    def facts(self) -> dict[str, Any]:
        return {
            "loadavg": self.loadavg,
            "loadavg_after": list(os.getloadavg()),
            "steal_pct": steal_pct(self.cpu_times, parse_cpu_times(_read("/proc/stat"))),
            "runnable_on_core": [self.runnable_before, runnable_on_core(self.core, {os.getpid()})],
        }
