"""Instructions per inference under valgrind: a deterministic figure for noisy, shared CI.

Latency on a shared CI machine moves by several percent from run to run; the number of
instructions a program executes does not. This module runs the host runner twice under
valgrind's callgrind tool (no cache or branch simulation: it counts executed instructions, `Ir`)

    valgrind --tool=callgrind --cache-sim=no --branch-sim=no --separate-threads=yes -q \\
        --callgrind-out-file=<tmp>/callgrind.out \\
        bench_runner --model M.pte --threads 1 --warmup 0 --iterations N --max-iterations N --seed 0

with N = N1 and N = N2 (no time-based stopping, no target precision, one XNNPACK thread, the
fixed seed's input), and returns (I(N2) - I(N1)) / (N2 - N1).

Why a difference of two runs: each run also starts the process, loads the shared libraries,
hashes the .pte, loads the program, initialises XNNPACK (delegate init, weight packing), runs the
first inference (lazy setup inside XNNPACK), one more inference for the output checksum and
prints the JSON. All of that is the same in both runs and drops out (so do the lengths of the
paths and of the environment, which change those fixed costs from one checkout or CI job to the
next); what is left is N2 - N1 iterations of the runner's measured loop. One iteration is one
inference plus the loop's own overhead (two clock reads and one latency sample stored and
printed in the JSON: about 3,000 instructions, 1.7% of the tiny test net and well under 0.01% of
a MobileNet).

Why callgrind and only thread 1: cachegrind (valgrind 3.19) sums every thread. ExecuTorch's
thread pool starts one worker per performance core before the runner resets it to one thread,
and that short-lived worker spins for a scheduling-dependent number of instructions (1,484 or
12,529 observed), so cachegrind's totals jitter by ~11,000 instructions: 0.6% of the tiny net's
per-inference figure with N2 - N1 = 10. Callgrind's `--separate-threads=yes` writes one count
per thread (`callgrind.out-01`, `-02`, ...); with one XNNPACK thread every inference runs on the
main thread, whose count repeats to within about 1,000 instructions per run (the formatting of
the measured latencies in the JSON, the main thread's wait for that worker). Per inference this
repeats within 0.01-0.02% on the tiny test nets and within 1e-7 on MobileNetV2. The loop's
overhead is not exactly the same in every iteration, so compare counts taken with the same
(N1, N2) (stored with the run: machine["instruction_count"]).

What valgrind does not see. Valgrind runs the program on a synthetic CPU, not this one. Valgrind
3.19 on amd64 reports (CPUID) an "Intel(R) Core(TM) i7-4910MQ" (Haswell) with SSE4.2, AVX, AVX2,
FMA, F16C and BMI1/2, and no AVX-512 of any kind and no AVX-VNNI, whatever the host has (checked
on an AMD EPYC with AVX-512 and AVX-VNNI). XNNPACK picks its kernels from CPUID, so under valgrind
it runs its AVX2/FMA3 kernels (int8: without a VNNI dot product) where this host natively runs
AVX-512 ones. The count therefore describes the kernels chosen under valgrind: a proxy that moves
when the graph, the recipe, ExecuTorch or XNNPACK change, not the native instruction mix, and not
a latency (no caches, memory stalls or clock frequency). Counts compare only between runs with
the same valgrind, glibc, executorch wheel and runner build on hosts with AVX2 (on a host without
AVX2 valgrind reports an older CPU and XNNPACK picks other kernels): compare counts from the same
CI image.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import InstructionCountError, RunnerError
from bench.runner.run import RunnerConfig, run_host

#: (N1, N2): iterations of the two runs. The pair costs 2 * (start, sha256 of the .pte, load,
#: first and last inference) + N1 + N2 inferences: a MobileNetV2 1.0 224 fp32 inference is ~97M
#: instructions (~4 s under callgrind), hashing its 14 MB .pte ~865M; ~3.5 min for the pair.
DEFAULT_ITERATIONS = (2, 7)
#: seconds for ONE valgrind run (valgrind is ~50x slower than native)
DEFAULT_TIMEOUT_S = 1800.0
INSTALL_HINT = "sudo apt-get install valgrind"


@dataclass(frozen=True)
class InstructionCount:
    """Instructions per inference of one artifact, and how they were measured."""

    per_inference: float
    iterations: tuple[int, int]  # (N1, N2)
    counts: tuple[int, int]  # main-thread instructions of the two whole runs
    valgrind: str  # e.g. "valgrind-3.19.0"
    artifact_sha256: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For the stored run's machine facts."""
        return {
            "per_inference": self.per_inference,
            "iterations": list(self.iterations),
            "counts": list(self.counts),
            "valgrind": self.valgrind,
            "tool": "callgrind, thread 1, Ir",
        }


def valgrind_path() -> str:
    """The valgrind executable, or InstructionCountError with the install command."""
    path = shutil.which("valgrind")
    if path is None:
        raise InstructionCountError(
            f"counting instructions needs valgrind, which is not installed: {INSTALL_HINT}"
        )
    return path


def valgrind_version(valgrind: str | None = None) -> str:
    """`valgrind --version`, e.g. "valgrind-3.19.0"."""
    valgrind = valgrind or valgrind_path()
    try:
        proc = subprocess.run(
            [valgrind, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstructionCountError(f"cannot run {valgrind} --version: {exc}") from None
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version:
        raise InstructionCountError(
            f"{valgrind} --version failed (exit {proc.returncode}); reinstall it: {INSTALL_HINT}"
        )
    return version


def valgrind_argv(valgrind: str, out_file: Path) -> list[str]:
    """The valgrind prefix of one counted run (one output file per thread: `<out_file>-NN`)."""
    return [
        valgrind,
        "--tool=callgrind",
        "--cache-sim=no",
        "--branch-sim=no",
        "--separate-threads=yes",
        "-q",
        f"--callgrind-out-file={out_file}",
    ]


_THREAD = re.compile(r"^thread:\s*(\d+)\s*$", re.M)


def parse_callgrind_out(text: str) -> tuple[int | None, int]:
    """(thread, Ir) from one callgrind output file: its `summary:` line (else `totals:`), read
    at the position of `Ir` on its `events:` line."""
    events: list[str] = []
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        if key == "events":
            events = rest.split()
        elif key in ("summary", "totals"):
            values.setdefault(key, rest.split())
    if "Ir" not in events:
        raise InstructionCountError("callgrind output has no `events: Ir` line")
    found = values.get("summary") or values.get("totals")
    index = events.index("Ir")
    if not found or len(found) <= index:
        raise InstructionCountError("callgrind output has no summary/totals line")
    thread = _THREAD.search(text)
    return (int(thread.group(1)) if thread else None), int(found[index])


def main_thread_count(out_file: Path) -> int:
    """Ir of thread 1 from the per-thread files `<out_file>-NN` callgrind left."""
    files = sorted(out_file.parent.glob(f"{out_file.name}-*")) or (
        [out_file] if out_file.exists() else []
    )
    counts: dict[int, int] = {}
    for path in files:
        thread, ir = parse_callgrind_out(path.read_text(errors="replace"))
        counts[thread if thread is not None else len(counts) + 1] = ir
    if 1 not in counts:
        raise InstructionCountError(f"callgrind left no count for thread 1 in {out_file.parent}")
    return counts[1]


def counting_config(iterations: int, seed: int = 0) -> RunnerConfig:
    """Exactly `iterations` measured iterations: no warmup, no time or precision stopping."""
    return RunnerConfig(
        threads=1,
        warmup=0,
        iterations=iterations,
        max_iterations=iterations,
        min_time_s=0.0,
        max_time_s=0.0,
        target_precision=0.0,
        seed=seed,
    )


def _count(
    valgrind: str, binary: Path, model: Path, iterations: int, folder: Path, timeout_s: float
) -> tuple[int, str]:
    out_file = folder / f"callgrind-{iterations}.out"
    try:
        result = run_host(
            binary,
            model,
            counting_config(iterations),
            timeout=timeout_s,
            prefix=valgrind_argv(valgrind, out_file),
        )
    except RunnerError as exc:
        raise InstructionCountError(f"instruction count under valgrind failed: {exc}") from None
    if len(result.samples_ms) != iterations:
        raise InstructionCountError(
            f"under valgrind the runner measured {len(result.samples_ms)} iterations of "
            f"{Path(model).name}, not {iterations}; is the runner current?"
        )
    return main_thread_count(out_file), result.artifact_sha256


def instructions_per_inference(
    binary: Path,
    model: Path,
    *,
    iterations: tuple[int, int] = DEFAULT_ITERATIONS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> InstructionCount:
    """(I(N2) - I(N1)) / (N2 - N1) for `model` on the host runner `binary` (see the module
    docstring); `timeout_s` bounds each of the two valgrind runs."""
    n1, n2 = iterations
    if not 1 <= n1 < n2:
        raise InstructionCountError(f"need 1 <= N1 < N2 iterations, got {iterations}")
    valgrind = valgrind_path()
    version = valgrind_version(valgrind)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        c1, sha1 = _count(valgrind, Path(binary), Path(model), n1, Path(tmp), timeout_s)
        c2, sha2 = _count(valgrind, Path(binary), Path(model), n2, Path(tmp), timeout_s)
    if sha1 != sha2:
        raise InstructionCountError(f"{Path(model).name} changed between the two valgrind runs")
    if c2 <= c1:
        raise InstructionCountError(
            f"{n2} iterations counted {c2} instructions, not more than {n1} iterations ({c1})"
        )
    return InstructionCount((c2 - c1) / (n2 - n1), (n1, n2), (c1, c2), version, sha1)
