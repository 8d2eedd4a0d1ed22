"""Start bench_runner on this host and return its parsed result.

A crash, a hang (timeout: the whole process group is killed) or output that is not a valid
result becomes a RunnerError / ResultSchemaError with one line naming the cause.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import RunnerError
from bench.results import RunnerResult


@dataclass(frozen=True)
class RunnerConfig:
    threads: int = 1
    warmup: int = 5
    iterations: int = 50
    max_iterations: int = 100000
    min_time_s: float = 0.0
    max_time_s: float = 0.0
    target_precision: float = 0.0
    seed: int = 0
    cpu: int | None = None  # pin inside the runner (sched_setaffinity) when taskset is absent

    def argv(self) -> list[str]:
        args = ["--threads", str(self.threads), "--warmup", str(self.warmup)]
        args += ["--iterations", str(self.iterations), "--max-iterations", str(self.max_iterations)]
        args += ["--seed", str(self.seed)]
        if self.min_time_s > 0:
            args += ["--min-time", repr(self.min_time_s)]
        if self.max_time_s > 0:
            args += ["--max-time", repr(self.max_time_s)]
        if self.target_precision > 0:
            args += ["--target-precision", repr(self.target_precision)]
        if self.cpu is not None:
            args += ["--cpu", str(self.cpu)]
        return args

    def key(self) -> str:
        """What makes two runs of one artifact on one device comparable (the store's config_key)."""
        return f"threads={self.threads};seed={self.seed};warmup={self.warmup}"


def _stderr_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "usage" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output on stderr"


def _run(
    argv: Sequence[str], *, cwd: Path | None, env: dict[str, str] | None, timeout: float, what: str
) -> str:
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise RunnerError(f"cannot start {argv[0]}: {exc.strerror}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with _suppress():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RunnerError(
            f"runner timed out after {timeout:g}s on {what}; raise --timeout or lower --iterations"
        ) from None
    except KeyboardInterrupt:
        with _suppress():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise RunnerError(f"runner crashed ({name}) on {what}: {_stderr_reason(err)}")
    if proc.returncode != 0:
        raise RunnerError(
            f"runner failed (exit {proc.returncode}) on {what}: {_stderr_reason(err)}"
        )
    return out


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ProcessLookupError)  # type: ignore[arg-type]


def _parse(stdout: str, what: str) -> RunnerResult:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RunnerError(f"runner printed no result JSON on {what}")
    return RunnerResult.from_json(lines[-1])


def run_host(
    binary: Path,
    model: Path,
    config: RunnerConfig,
    *,
    core: int | None = None,
    timeout: float = 600.0,
    output_file: Path | None = None,
    input_file: Path | None = None,
    etdump_file: Path | None = None,
    prefix: Sequence[str] = (),
) -> RunnerResult:
    """Run the host runner on `model`, pinned to `core` with taskset (one XNNPACK thread)."""
    if not Path(model).exists():
        raise RunnerError(f"model {model} does not exist")
    argv: list[str] = list(prefix)
    if core is not None:
        if shutil.which("taskset"):
            argv += ["taskset", "-c", str(core)]
        else:
            config = RunnerConfig(**{**config.__dict__, "cpu": core})
    argv += [str(binary), "--model", str(model), *config.argv()]
    argv += _files(output_file, input_file, etdump_file)
    return _parse(
        _run(argv, cwd=None, env=None, timeout=timeout, what=Path(model).name), Path(model).name
    )


def _files(output_file: Path | None, input_file: Path | None, etdump: Path | None) -> list[str]:
    argv: list[str] = []
    if output_file is not None:
        argv += ["--output-file", str(output_file)]
    if input_file is not None:
        argv += ["--input-file", str(input_file)]
    if etdump is not None:
        argv += ["--etdump", str(etdump)]
    return argv
