"""What a target is: a place where artifacts are measured (this host, a phone over ADB, a board
over SSH, ...). The one measuring loop (`bench.session`) drives every target the same way:

    record = target.open()                    # connect; the facts stored as its DeviceRecord
    variants = target.variants(config)        # the configurations it runs each artifact in
    target.prepare(artifacts)                 # deploy the runner and the files
    measured = target.measure(artifact, v)    # one run: the runner's result + machine state
    target.profile(artifact, v, label, etdump)  # --profile: a separate round with an ETDump
    target.recover(error) / target.stop_runners() / target.finish() / target.close()

A target never stores, verifies a sha256 against the manifest, skips stored runs or handles
Ctrl-C: the session does, once for all of them. A new target is one module implementing this
class, plus a line in `bench.targets.TARGETS` and its tests.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results import RunnerResult
from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord, DeviceRecord


@dataclass(frozen=True)
class Artifact:
    """A file to measure: its identity (from the manifest, or its sha256 alone) and its path."""

    record: ArtifactRecord
    path: Path


@dataclass(frozen=True)
class Variant:
    """One configuration an artifact runs in on a target: the runner's settings, the CPU mask
    (or how it is scheduled, e.g. `app`) and the store key that makes runs comparable."""

    config: RunnerConfig
    mask: str
    key: str


@dataclass
class Measured:
    """One finished run on a target: the runner's result and the machine state around it.

    `machine` is stored with the run (RunRecord.machine). `timed` is False where the timings
    mean nothing (qemu): the run is a functional check, stored without a latency summary. A
    run that ran but computed the wrong thing is `status="failed"` with its `error`.
    """

    result: RunnerResult
    machine: dict[str, Any]
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    status: str = "ok"
    error: str | None = None
    timed: bool = True
    notes: list[str] = field(default_factory=list)
    functional: str = ""
    #: deterministic figures measured with the run, stored as RunRecord.metrics:
    #: name -> (value, unit), e.g. {"instructions_per_inference": (189704.0, "instructions")}
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)


class Target(abc.ABC):
    """A place where artifacts are measured; see the module docstring for the protocol."""

    #: what produced a run: host, phone, board, simulator, emulated, peer (set by `open`)
    provenance: str = ""
    #: a short label for progress lines (a serial, user@host, "host")
    label: str = ""
    #: the device's display name (set by `open`)
    name: str = ""
    #: False where timings mean nothing (qemu): one functional round instead of `rounds`
    timed: bool = True
    _say: Callable[[str], None] | None = None
    _stopped: threading.Event | None = None

    def bind(self, say: Callable[[str], None], stopped: threading.Event) -> None:
        """The session's progress channel and stop flag (set before `open`)."""
        self._say, self._stopped = say, stopped

    def say(self, message: str) -> None:
        """Tell the user what happens (silent until bound to a session)."""
        if self._say is not None:
            self._say(message)

    @property
    def stopped(self) -> threading.Event:
        """Set when the session is interrupted: long waits should watch it."""
        if self._stopped is None:
            self._stopped = threading.Event()
        return self._stopped

    @abc.abstractmethod
    def open(self) -> DeviceRecord:
        """Connect and read the device's facts; the record is what the store keeps."""

    def summary(self) -> str:
        """One line on the opened device, for the progress output ("" for none)."""
        return ""

    @abc.abstractmethod
    def variants(self, config: RunnerConfig) -> list[Variant]:
        """The configurations each artifact is measured in (one, unless the target adds more)."""

    def warnings(self) -> list[str]:
        """What the checks on the device found (printed and kept with the outcome)."""
        return []

    def prepare(self, artifacts: list[Artifact]) -> None:  # noqa: B027 (optional step)
        """Deploy the runner and the artifacts that will be measured (skipped when unchanged)."""

    @abc.abstractmethod
    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        """Run `artifact` once in `variant`; raise a BenchError or DeviceError on failure."""

    def profile(
        self, artifact: Artifact, variant: Variant, label: str, etdump: Path
    ) -> RunnerResult:
        """One profiling round of `artifact` (never a timed one): the runner writes an ETDump,
        which ends up at `etdump` on this host. Targets that cannot profile say so."""
        from bench.errors import BenchError

        raise BenchError(
            f"{self.label}: per-layer profiles (--profile) are not supported on this target"
        )

    def provenance_for(self, artifact: Artifact) -> str:
        """The provenance of `artifact`'s runs (a target measuring peer runtimes beside our
        programs labels theirs `peer`)."""
        return self.provenance

    def runner_for(self, artifact: Artifact) -> tuple[str, str]:
        """(name, version) of what runs `artifact`, stored with a failed run."""
        from bench.runner import build

        return "bench_runner", build.runner_version()

    def failed_machine(self) -> dict[str, Any]:
        """The machine state stored with a failed run."""
        return {}

    def recover(self, error: Exception) -> str | None:
        """After a device error: make the device usable again; None, or why it is unreachable."""
        return None

    def interrupt(self) -> None:  # noqa: B027 (optional step)
        """From another thread (Ctrl-C): unblock whatever the target waits for."""

    def stop_runners(self, timeout_s: float) -> str:
        """After Ctrl-C: make sure no runner of ours is left running; say what was done."""
        return ""

    def finish(self) -> str:
        """At the end of a session that was not interrupted (e.g. --cleanup); say what was done."""
        return ""

    def close(self) -> None:  # noqa: B027 (optional step)
        """Release the connection."""
