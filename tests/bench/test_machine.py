"""Machine state around a round: steal time from /proc/stat, runnable tasks on the measured core."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.targets import machine

STAT_BEFORE = "cpu  1000 0 500 8000 100 0 10 40 0 0\ncpu0 500 0 250 4000 50 0 5 20 0 0\n"
STAT_AFTER = "cpu  1100 0 550 8300 100 0 10 90 0 0\ncpu0 550 0 275 4150 50 0 5 45 0 0\n"


def test_steal_percent_between_two_readings():
    before, after = machine.parse_cpu_times(STAT_BEFORE), machine.parse_cpu_times(STAT_AFTER)
    assert before == (9650, 40) and after == (10150, 90)
    assert machine.steal_pct(before, after) == 10.0  # 50 of 500 jiffies
    assert machine.steal_pct(before, None) is None and machine.parse_cpu_times("") is None


def test_task_stat_with_a_command_holding_spaces_and_parentheses():
    fields = ["R"] + ["0"] * 35 + ["3"] + ["0"] * 10
    assert machine.parse_task_stat("42 (a (b) c) " + " ".join(fields)) == ("R", 3)
    assert machine.parse_task_stat("42 (short) R 1 2") is None


def test_a_busy_process_on_the_core_is_counted():
    core = sorted(os.sched_getaffinity(0))[-1]
    hog = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"]
    )
    try:
        deadline = time.monotonic() + 10
        seen = 0
        while time.monotonic() < deadline and not seen:
            seen = machine.runnable_on_core(core)
            time.sleep(0.05)
        assert seen >= 1
    finally:
        hog.kill()
        hog.wait()


def test_round_watch_facts_are_typed():
    facts = machine.RoundWatch.start(0).facts()
    assert len(facts["loadavg"]) == 3 and len(facts["loadavg_after"]) == 3
    assert facts["steal_pct"] is None or 0.0 <= facts["steal_pct"] <= 100.0
    assert all(isinstance(n, int) for n in facts["runnable_on_core"])


def test_runnable_tasks_are_counted_per_core_and_excluded_by_pid(tmp_path):
    def task(pid: int, tid: int, state: str, cpu: int) -> None:
        folder = tmp_path / str(pid) / "task" / str(tid)
        folder.mkdir(parents=True)
        fields = [state] + ["0"] * 35 + [str(cpu)] + ["0"] * 10
        (folder / "stat").write_text(f"{tid} (job) " + " ".join(fields))

    task(10, 10, "R", 3)
    task(10, 11, "R", 3)  # a second thread of the same process
    task(20, 20, "R", 3)
    task(30, 30, "S", 3)  # sleeping: not runnable
    task(40, 40, "R", 1)  # another core
    proc = str(tmp_path)
    assert machine.runnable_on_core(3, proc=proc) == 3
    assert machine.runnable_on_core(3, {10}, proc=proc) == 1
    assert machine.runnable_on_core(1, proc=proc) == 1
