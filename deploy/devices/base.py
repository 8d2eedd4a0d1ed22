"""The `Device` interface every target implements, and the facts a device reports about itself."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The one folder of ours on an Android device; everything we push lives under it.
DEVICE_ROOT = "/data/local/tmp/mobilenet_deploy"

#: getprop key a simulated phone sets to "1"; real phones never have it.
SIMULATOR_PROP = "ro.mobilenet_deploy.simulator"


@dataclass(frozen=True)
class CoreInfo:
    """One CPU core: its id, top frequency, governor and cluster (0 = slowest cluster)."""

    cpu: int
    max_freq_khz: int | None
    governor: str | None
    cluster: int


@dataclass(frozen=True)
class ThermalZone:
    """One thermal zone: its type name and its temperature in degrees Celsius."""

    name: str
    temp_c: float | None


@dataclass(frozen=True)
class DeviceInfo:
    """What a device says about itself; enough to pin a benchmark to its biggest core."""

    serial: str
    manufacturer: str
    model: str
    soc_model: str
    board_platform: str
    hardware: str
    android_version: str
    sdk: int | None
    abi: str
    abis: tuple[str, ...]
    cores: tuple[CoreInfo, ...]
    thermal_zones: tuple[ThermalZone, ...] = ()
    battery_temp_c: float | None = None
    battery_status: str | None = None
    charging: bool | None = None
    free_bytes: int | None = None
    is_simulator: bool = False
    properties: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def soc(self) -> str:
        """The most specific SoC name the phone gives (ro.soc.model, then platform, hardware)."""
        return self.soc_model or self.board_platform or self.hardware or "unknown"

    @property
    def clusters(self) -> tuple[tuple[int, ...], ...]:
        """Core ids grouped by cluster, slowest cluster first."""
        by_cluster: dict[int, list[int]] = {}
        for core in self.cores:
            by_cluster.setdefault(core.cluster, []).append(core.cpu)
        return tuple(tuple(sorted(by_cluster[c])) for c in sorted(by_cluster))

    @property
    def biggest_core(self) -> int:
        """The core with the highest max frequency; ties go to the highest core id."""
        if not self.cores:
            return 0
        return max(self.cores, key=lambda c: (c.max_freq_khz or 0, c.cpu)).cpu

    @property
    def big_core_mask(self) -> str:
        """`taskset` mask (hex, no 0x) that pins to `biggest_core`."""
        return format(1 << self.biggest_core, "x")

    @property
    def governors(self) -> dict[int, str | None]:
        """Each core's cpufreq governor."""
        return {core.cpu: core.governor for core in self.cores}

    def summary(self) -> str:
        """One line for people: maker, model, SoC, Android, ABI, big core."""
        kind = " [simulator]" if self.is_simulator else ""
        big = next((c for c in self.cores if c.cpu == self.biggest_core), None)
        freq = f" @ {big.max_freq_khz / 1e6:.2f} GHz" if big and big.max_freq_khz else ""
        return (
            f"{self.manufacturer} {self.model}{kind} ({self.soc}), Android {self.android_version}, "
            f"{self.abi}, {len(self.cores)} cores, big core cpu{self.biggest_core}{freq} "
            f"(mask {self.big_core_mask})"
        )


@dataclass(frozen=True)
class ShellResult:
    """What a finished shell command left: its exit status and its output (stdout+stderr)."""

    exit_code: int
    output: str
    seconds: float


@dataclass(frozen=True)
class PushResult:
    """One pushed file: where it went, its size and sha256, and whether the push was skipped."""

    local: Path
    remote: str
    size_bytes: int
    sha256: str
    skipped: bool
    seconds: float


OutputCallback = Callable[[str], None]


class Device(abc.ABC):
    """A place to run models: files go in with push, results come back with pull or shell."""

    serial: str

    @abc.abstractmethod
    def push(self, local: Path | str, remote: str | None = None) -> PushResult:
        """Copy a file to the device (under our folder), skipping it if already there."""

    def push_many(self, files: Mapping[Path, str | None] | Sequence[Path]) -> list[PushResult]:
        """Push several files; a sequence keeps each file's own name."""
        items = files.items() if isinstance(files, Mapping) else [(f, None) for f in files]
        return [self.push(local, remote) for local, remote in items]

    @abc.abstractmethod
    def pull(self, remote: str, local: Path | str) -> Path:
        """Copy a file from the device; the destination appears whole or not at all."""

    @abc.abstractmethod
    def shell(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        on_output: OutputCallback | None = None,
        check: bool = False,
        idle_timeout_s: float | None = None,
    ) -> ShellResult:
        """Run a command; return its exit status and output, streamed to on_output meanwhile.

        `timeout_s` bounds the whole command and `idle_timeout_s` any silence in it.
        """

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Read the device's identity, CPU topology, temperatures and free space."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Remove everything we put on the device."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
