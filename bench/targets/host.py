"""This machine as a target: the host build of bench_runner, pinned to one core.

The run is pinned to ONE core with `taskset -c <core>` and the runner resets XNNPACK's pool to
one thread (taskset alone leaves a 2-thread pool time-slicing on one core). Each artifact gets
its own process: load, first inference, warmups, then measured iterations until the count,
the minimum time and the target precision are met, or the time budget ends. The figures
measure THIS HOST'S CPU, not a phone: provenance `host`.

With `count_instructions`, each artifact is also run twice under valgrind (in its own processes,
before its first timed round, never during one) and every round of it records the deterministic
`instructions_per_inference` metric (`bench.runner.instructions`); it is counted once per
artifact sha256 and session, as it does not change from round to round.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

from bench.errors import InstructionCountError
from bench.results import RunnerResult
from bench.runner import build, instructions
from bench.runner.run import RunnerConfig, run_host
from bench.store import DeviceRecord
from bench.targets.base import Artifact, Measured, Target, Variant
from bench.targets.machine import RoundWatch

#: the metric --count-instructions stores with every run (RunRecord.metrics)
INSTRUCTIONS_METRIC = "instructions_per_inference"


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def allowed_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def default_core() -> int:
    """The last CPU we may run on (cpu0 tends to take more interrupts)."""
    return allowed_cpus()[-1]


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# CPU features with an int8 dot product, which decide XNNPACK's int8 kernels: without one
# (x86 with AVX2 only) its int8 convolutions use 16-bit multiply-adds and run no faster than
# fp32, while phones (arm64 `asimddp`, Pixel 4 and later) have one.
INT8_DOT_FEATURES = ("avx_vnni", "avx512_vnni", "amx_int8", "asimddp", "i8mm")


def int8_dot_features(cpuinfo: str | None = None) -> list[str]:
    """Which of INT8_DOT_FEATURES the CPU has, from /proc/cpuinfo's flags (x86) or Features."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            present = set(value.split())
            return [f for f in INT8_DOT_FEATURES if f in present]
    return []


def host_facts(core: int) -> dict[str, Any]:
    """What this host looked like when a run started (stored with every run)."""
    cpufreq = Path(f"/sys/devices/system/cpu/cpu{core}/cpufreq")
    freq_khz = _read(cpufreq / "scaling_cur_freq")
    mhz = None
    if freq_khz is None:  # VMs often expose no cpufreq: take /proc/cpuinfo's figure
        for block in (_read("/proc/cpuinfo") or "").split("\n\n"):
            if f"processor\t: {core}\n" in block + "\n":
                for line in block.splitlines():
                    if line.startswith("cpu MHz"):
                        mhz = float(line.split(":", 1)[1])
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "int8_dot": int8_dot_features(),
        "machine": uname.machine,
        "kernel": uname.release,
        "core": core,
        "online_cpus": os.cpu_count(),
        "governor": _read(cpufreq / "scaling_governor"),
        "freq_mhz": int(freq_khz) / 1000 if freq_khz else mhz,
        "freq_max_mhz": int(m) / 1000 if (m := _read(cpufreq / "cpuinfo_max_freq")) else None,
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
    }


def host_device() -> DeviceRecord:
    facts = host_facts(default_core())
    return DeviceRecord(
        id=f"host:{facts['hostname']}:{facts['machine']}",
        kind="host",
        name=facts["hostname"],
        model=facts["cpu_model"],
        abi=facts["machine"],
        os=f"Linux {facts['kernel']}",
        metadata={k: facts[k] for k in ("cpu_model", "online_cpus", "kernel", "machine")},
    )


class HostTarget(Target):
    """This host's CPU, one pinned core (default: the last one we may run on)."""

    provenance = "host"
    label = "host"

    def __init__(
        self,
        core: int | None = None,
        runner: Path | None = None,
        timeout_s: float | None = None,
        count_instructions: bool = False,
        instruction_iterations: tuple[int, int] = instructions.DEFAULT_ITERATIONS,
        instruction_timeout_s: float = instructions.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.core = default_core() if core is None else core
        self.runner = runner
        self.timeout_s = timeout_s
        self.count_instructions = count_instructions
        self.instruction_iterations = instruction_iterations
        self.instruction_timeout_s = instruction_timeout_s  # per valgrind run, not --timeout
        # artifact sha256 -> its count, or the error counting it raised (not tried twice)
        self._instructions: dict[str, instructions.InstructionCount | InstructionCountError] = {}

    def open(self) -> DeviceRecord:
        if self.count_instructions:
            instructions.valgrind_version()  # missing valgrind: one line before anything runs
        self.runner = self.runner or build.build_host()
        record = host_device()
        self.name = record.name
        return record

    def variants(self, config: RunnerConfig) -> list[Variant]:
        return [Variant(config, hex(1 << self.core), config.key())]

    def instruction_count(self, artifact: Artifact, label: str) -> instructions.InstructionCount:
        """The artifact's instructions per inference under valgrind, counted once per sha256."""
        assert self.runner is not None, "open() first"
        sha = artifact.record.sha256
        if sha not in self._instructions:
            self.say(f"{label}: counting instructions under valgrind (~50x slower than native)")
            count: instructions.InstructionCount | InstructionCountError
            try:
                count = instructions.instructions_per_inference(
                    self.runner,
                    artifact.path,
                    iterations=self.instruction_iterations,
                    timeout_s=self.instruction_timeout_s,
                )
            except InstructionCountError as exc:
                count = exc
            self._instructions[sha] = count
            if isinstance(count, instructions.InstructionCount):
                self.say(
                    f"{label}: instructions per inference: {count.per_inference:,.0f} "
                    "(valgrind, deterministic)"
                )
        found = self._instructions[sha]
        if isinstance(found, InstructionCountError):
            raise found
        return found

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        assert self.runner is not None, "open() first"
        config = variant.config
        count = self.instruction_count(artifact, label) if self.count_instructions else None
        budget = self._budget_s(config)
        facts = host_facts(self.core)
        watch = RoundWatch.start(self.core)  # load, steal, runnable tasks on the core
        result = run_host(self.runner, artifact.path, config, core=self.core, timeout=budget)
        measured = Measured(result, {**facts, **watch.facts()})
        if count is not None:
            measured.metrics = {INSTRUCTIONS_METRIC: (count.per_inference, "instructions")}
            measured.machine["instruction_count"] = count.as_dict()
        return measured

    def profile(
        self, artifact: Artifact, variant: Variant, label: str, etdump: Path
    ) -> RunnerResult:
        assert self.runner is not None, "open() first"
        config = variant.config
        self.say(f"{label}: profiling round (ETDump, not timed)")
        return run_host(
            self.runner,
            artifact.path,
            config,
            core=self.core,
            timeout=self._budget_s(config),
            etdump_file=etdump,
        )

    def _budget_s(self, config: RunnerConfig) -> float:
        """How long one runner process may take: --timeout, else its time budget + 300 s."""
        return self.timeout_s or (max(config.max_time_s, config.min_time_s) + 300.0)

    def failed_machine(self) -> dict[str, Any]:
        return host_facts(self.core)
