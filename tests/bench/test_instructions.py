"""--count-instructions: instructions per inference under valgrind (deterministic), on the host
target and the bench-host CLI; and the simpleperf report parser for phones (fixtures only)."""

from __future__ import annotations

import hashlib
import re
import statistics

import pytest

from bench.android import simpleperf
from bench.cli import main
from bench.errors import InstructionCountError
from bench.runner import instructions
from bench.store import Store
from bench.targets.host import INSTRUCTIONS_METRIC, HostTarget
from deploy.devices.base import ShellResult
from tests.conftest import require_command

ITERATIONS = (2, 12)  # small: valgrind is ~50x slower than native


@pytest.fixture(scope="module")
def valgrind() -> str:
    return require_command("valgrind")


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_count_is_positive_and_repeats_within_0_1_percent(
    valgrind, host_runner, tiny_pte, precision
):
    path = tiny_pte[precision]
    first, second = (
        instructions.instructions_per_inference(
            host_runner, path, iterations=ITERATIONS, timeout_s=300
        )
        for _ in range(2)
    )
    spread = abs(first.per_inference - second.per_inference) / first.per_inference
    print(
        f"tiny {precision}: {first.per_inference:,.1f} and {second.per_inference:,.1f} "
        f"instructions per inference (spread {spread:.4%}; raw {first.counts}, {second.counts}; "
        f"{first.valgrind})"
    )
    assert first.per_inference > 0 and first.counts[1] > first.counts[0] > 0
    assert spread < 0.001
    assert first.iterations == ITERATIONS and first.valgrind.startswith("valgrind-")
    assert first.artifact_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_callgrind_output_parsing(tmp_path):
    header = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 7\n"
    main_thread = header + "part: 1\nthread: 1\n\npositions: line\nevents: Ir\nsummary: 9880258\n"
    worker = header + "thread: 2\nevents: Ir\n\nfn=(1) f\n0 12529\n\ntotals: 12529\n"
    assert instructions.parse_callgrind_out(main_thread) == (1, 9880258)
    assert instructions.parse_callgrind_out(worker) == (2, 12529)
    (tmp_path / "cg.out-01").write_text(main_thread)
    (tmp_path / "cg.out-02").write_text(worker)
    assert instructions.main_thread_count(tmp_path / "cg.out") == 9880258
    with pytest.raises(InstructionCountError, match="events: Ir"):
        instructions.parse_callgrind_out("events: Dr\nsummary: 3\n")
    with pytest.raises(InstructionCountError, match="1 <= N1 < N2"):
        instructions.instructions_per_inference(tmp_path, tmp_path, iterations=(3, 3))


def test_missing_valgrind_is_one_line_before_anything_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(instructions.shutil, "which", lambda _name: None)
    target = HostTarget(runner=tmp_path / "bench_runner", count_instructions=True)
    with pytest.raises(InstructionCountError, match="apt-get install valgrind") as info:
        target.open()
    assert "\n" not in str(info.value)


def test_a_failed_count_fails_its_rounds_in_one_line(valgrind, host_runner, tmp_path):
    """valgrind ran, the runner under it failed: every round of that artifact fails with one
    line, and the slow count is not tried again for the next round."""
    from bench.runner.run import RunnerConfig
    from bench.session import run_session
    from tests.bench.test_host import _artifact

    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program")
    said: list[str] = []
    target = HostTarget(runner=host_runner, count_instructions=True, instruction_iterations=(1, 2))
    (outcome,) = run_session(
        [target],
        [_artifact(bad)],
        RunnerConfig(warmup=0, iterations=2),
        tmp_path / "s.db",
        rounds=2,
        say=lambda _label, message: said.append(message),
    )
    errors = {row.error for row in outcome.rows}
    assert [row.status for row in outcome.rows] == ["failed"] and len(errors) == 1
    (error,) = errors
    assert error.startswith("instruction count under valgrind failed: runner failed")
    assert "\n" not in error
    assert sum("counting instructions" in m for m in said) == 1, said
    with Store.open(tmp_path / "s.db") as s:
        assert [r.status for r in s.runs()] == ["failed", "failed"]


def test_cli_stores_the_metric_and_leaves_latencies_alone(valgrind, tiny_pte, tmp_path, capsys):
    """Counted once per artifact (2 rounds, 2 artifacts: 2 counts), stored with every round;
    the timed runs are the runner's own process, as fast as without counting."""
    argv = ["bench-host", "--pte", str(tiny_pte["fp32"]), str(tiny_pte["int8"])]
    argv += ["--iterations", "20", "--warmup", "2", "--min-time", "0", "--target-precision", "0"]
    counted, plain = tmp_path / "counted.sqlite", tmp_path / "plain.sqlite"
    assert main([*argv, "--rounds", "2", "--store", str(counted), "--count-instructions"]) == 0
    err = capsys.readouterr().err
    lines = re.findall(r"instructions per inference: ([0-9,]+) \(valgrind, deterministic\)", err)
    assert len(lines) == 2, err  # once per artifact, not once per round
    assert main([*argv, "--rounds", "1", "--store", str(plain)]) == 0
    with Store.open(counted) as s:
        runs = s.runs()
        assert len(runs) == 4 and all(r.status == "ok" for r in runs)
        metrics = {r.id: s.metrics(r.id) for r in runs}
        medians = {r.artifact_sha256: statistics.median(s.samples(r.id)) for r in runs}
        assert all(len(s.samples(r.id)) == 20 for r in runs)
        assert all(r.machine["instruction_count"]["valgrind"] for r in runs)
    assert all(metrics.values()), (
        "Measured.metrics is not stored: bench/session.py must pass metrics=measured.metrics "
        "into the RunRecord"
    )
    for run in runs:
        value, unit = metrics[run.id][INSTRUCTIONS_METRIC]
        assert value > 0 and unit == "instructions"
    by_artifact = {r.artifact_sha256: metrics[r.id][INSTRUCTIONS_METRIC][0] for r in runs}
    assert {f"{v:,.0f}" for v in by_artifact.values()} == set(lines)
    with Store.open(plain) as s:
        plain_medians = {r.artifact_sha256: statistics.median(s.samples(r.id)) for r in s.runs()}
    for sha, median in medians.items():  # under valgrind they would be ~100x slower
        assert median < 5 * plain_medians[sha] + 0.05, (median, plain_medians[sha])


# -- simpleperf (phones): the report parser, on fixtures of simpleperf's published format -------

# AOSP system/extras simpleperf/cmd_stat.cpp, ShowCSV since August 2022: count,event,comment,
# then "Total test time,<s>,seconds,". The command's own output comes first.
CSV = """\
{"schema_version":1,"runner":{"name":"bench_runner"}}
simpleperf-command-exit=0
Performance counter statistics,
1834206523,cpu-cycles,2.419374,GHz,
2897511432,instructions,0.633029,cycles per instruction,
Total test time,0.761204,seconds,
"""
# Before August 2022 every counter line ended with the share of time it was counted.
CSV_OLD = """\
Performance counter statistics,
1834206523,cpu-cycles,2.419374,GHz,(100%),
2897511432,instructions:u,0.633029,cycles per instruction,(100%),
Total test time,0.761204,seconds,
simpleperf-command-exit=0
"""
# ShowText (no --csv): right-aligned counts with thousands separators.
TEXT = """\
Performance counter statistics:

#         count  event_name     # count / runtime
  1,834,206,523  cpu-cycles     # 2.419374 GHz
  2,897,511,432  instructions   # 0.633029 cycles per instruction

Total test time: 0.761204 seconds.
"""


@pytest.mark.parametrize("report", [CSV, CSV_OLD, TEXT], ids=["csv", "csv-2016-2022", "text"])
def test_simpleperf_report_parser(report):
    found = simpleperf.counts(simpleperf.parse_stat(report))
    assert found == {"cycles": 1834206523, "instructions": 2897511432, "seconds": 0.761204}


def test_simpleperf_parser_without_counts():
    failed = "simpleperf E cmd_stat.cpp:617] perf_event_open failed: Permission denied\n"
    assert simpleperf.counts(simpleperf.parse_stat(failed)) is None
    assert simpleperf.command_exit_code(CSV) == 0 and simpleperf.command_exit_code(TEXT) is None


class FakePhone:
    """Answers `command -v simpleperf` and `simpleperf stat` with canned output."""

    def __init__(self, has_simpleperf: bool, cycles_per_iteration: int = 1000) -> None:
        self.has = has_simpleperf
        self.per = cycles_per_iteration
        self.commands: list[str] = []

    def shell(self, command: str, *, timeout_s: float | None = None, **_: object) -> ShellResult:
        self.commands.append(command)
        if command == "command -v simpleperf":
            return ShellResult(0 if self.has else 1, "/system/bin/simpleperf\n" * self.has, 0.1)
        n = int(re.search(r"--iterations (\d+)", command).group(1))
        cycles, instr = 50_000 + n * self.per, 80_000 + n * 2 * self.per
        out = "{}\nsimpleperf-command-exit=0\nPerformance counter statistics,\n"
        out += f"{cycles},cpu-cycles,2.0,GHz,\n{instr},instructions,0.5,cycles per instruction,\n"
        return ShellResult(0, out + "Total test time,0.5,seconds,\n", 0.5)


def test_simpleperf_on_a_fake_phone():
    def command_for(n: int) -> str:
        return f"cd /data/local/tmp/x && ./bench_runner --iterations {n} --max-iterations {n}"

    assert simpleperf.simpleperf_stat(FakePhone(False), command_for(2), 60) is None
    phone = FakePhone(True)
    per = simpleperf.simpleperf_per_inference(phone, command_for, iterations=(2, 7), timeout_s=60)
    assert per is not None
    assert per["cycles_per_inference"] == 1000 and per["instructions_per_inference"] == 2000
    stat = phone.commands[1]
    assert stat.startswith("simpleperf stat -e cpu-cycles,instructions --csv sh -c ")
    assert "( cd /data/local/tmp/x && " in stat and "echo simpleperf-command-exit=$?" in stat
