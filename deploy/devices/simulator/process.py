"""Start and stop simulated phones from tests and scripts: in this process or as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from deploy.devices.errors import SimulatorError
from deploy.devices.simulator.faults import Faults
from deploy.devices.simulator.server import SimulatedDevice

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def simulated_device(**options: object) -> Iterator[SimulatedDevice]:
    """A simulated phone in this process for the duration of the block (see SimulatedDevice)."""
    device = SimulatedDevice(**options).start()  # type: ignore[arg-type]
    try:
        yield device
    finally:
        device.stop()


def fault_args(faults: Faults) -> list[str]:
    """Command-line flags of `python -m deploy.devices.simulator` that recreate `faults`."""
    args: list[str] = []
    for name, value in vars(faults).items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value not in (None, False, 0, 0.0):
            args += [flag, str(value)]
    return args


class SimulatorProcess:
    """A simulated phone served by a child process (its own GIL: fair timings)."""

    def __init__(self, proc: subprocess.Popen[str], serial: str) -> None:
        self.proc = proc
        self.serial = serial
        self.port = int(serial.rsplit(":", 1)[1])
        self._drain = threading.Thread(target=self._discard_output, daemon=True)
        self._drain.start()

    def _discard_output(self) -> None:
        assert self.proc.stdout is not None
        for _line in self.proc.stdout:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator_process(
    *,
    port: int = 0,
    profile: str = "x86_64",
    auth: str = "accept",
    faults: Faults | None = None,
    known_key_files: Sequence[Path] = (),
    sandbox: Path | None = None,
    unsafe_host_shell: bool = False,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> SimulatorProcess:
    """Run `python -m deploy.devices.simulator` and wait until it prints its serial."""
    argv = [sys.executable, "-m", "deploy.devices.simulator", "--port", str(port)]
    argv += ["--profile", profile, "--auth", auth, *fault_args(faults or Faults())]
    for key in known_key_files:
        argv += ["--known-key", str(key)]
    if sandbox is not None:
        argv += ["--sandbox", str(sandbox)]
    if unsafe_host_shell:
        argv.append("--unsafe-host-shell")
    argv += list(extra_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=errors, text=True, env=env, cwd=ROOT
        )
        serial = _wait_for_serial(proc, ready_timeout_s)
        if serial is None:
            errors.seek(0)
            raise SimulatorError(_why_not_started(proc, argv, errors.read(), ready_timeout_s))
    return SimulatorProcess(proc, serial)


def _wait_for_serial(proc: subprocess.Popen[str], timeout_s: float) -> str | None:
    """The serial the simulator prints when ready; None (and the process killed) otherwise."""
    assert proc.stdout is not None
    result: list[str] = []

    def read_serial() -> None:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        result.append(line.strip())

    reader = threading.Thread(target=read_serial, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if result and ":" in result[0]:
        return result[0]
    proc.kill()
    proc.wait()
    return None


def _why_not_started(
    proc: subprocess.Popen[str], argv: list[str], stderr: bytes, timeout_s: float
) -> str:
    """One line: the simulator's own error when it exited, else the time-out."""
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    if proc.returncode not in (None, -9) and (errors or lines):
        return f"the simulator did not start: {(errors or lines)[-1].removeprefix('error: ')}"
    return (
        f"the simulator did not start within {timeout_s:.0f} s: "
        f"run `{' '.join(argv[1:])}` by hand to see why"
    )
