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
    """One CPU core: its id, top frequency, governor and cluster (0 = slowest cluster).

    `online`: its /sys/devices/system/cpu/cpuN/online (None: not said); `capacity`: its
    cpu_capacity (arm64 kernels: 1024 for the fastest); `has_cpufreq`: whether its cpufreq
    folder was there (None: not said).
    """

    cpu: int
    max_freq_khz: int | None
    governor: str | None
    cluster: int
    online: bool | None = None
    capacity: int | None = None
    has_cpufreq: bool | None = None

    def speed(self) -> str:
        """`3.19 GHz`, else `capacity 1024`, else `speed unknown`."""
        if self.max_freq_khz:
            return f"{self.max_freq_khz / 1e6:.2f} GHz"
        if self.capacity is not None:
            return f"capacity {self.capacity}"
        return "speed unknown"


@dataclass(frozen=True)
class ThermalZone:
    """One thermal zone: its type name and its temperature in degrees Celsius.

    `denied`: the zone is there but the shell may not read it (Permission denied: SELinux on
    stock phones); `hal_type`: for a temperature from the thermal HAL (`dumpsys
    thermalservice`), its TemperatureType (0 CPU, 1 GPU, 2 battery, 3 skin, ...).
    """

    name: str
    temp_c: float | None
    denied: bool = False
    hal_type: int | None = None


@dataclass(frozen=True)
class CoreChoice:
    """The core a single-core run is pinned to, and why (the fastest core the shell may use)."""

    cpu: int
    reason: str
    fastest: int  # the fastest core as far as the phone says, usable or not
    skipped: tuple[str, ...] = ()  # why faster (or unrankable) cores were not chosen

    @property
    def mask(self) -> str:
        return format(1 << self.cpu, "x")


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
    online_cpus: tuple[int, ...] | None = None  # /sys/devices/system/cpu/online
    allowed_cpus: tuple[int, ...] | None = None  # the shell's affinity (`taskset -p $$`)
    hal_temperatures: tuple[ThermalZone, ...] = ()  # `dumpsys thermalservice`
    thermalservice: str = ""  # ok | missing | denied | "" (not asked)
    battery_temp_source: str = ""  # the sysfs file or `dumpsys battery` the battery C came from
    dumpsys_battery: str = ""  # ok | missing | denied | "" (not asked)

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

    def usable(self, core: CoreInfo) -> bool:
        """Whether `taskset` can pin to this core: online and in the shell's allowed CPUs."""
        if self.online_cpus is not None:
            online = core.cpu in self.online_cpus
        else:
            online = core.online is not False
        return online and (self.allowed_cpus is None or core.cpu in self.allowed_cpus)

    @property
    def usable_cores(self) -> tuple[CoreInfo, ...]:
        return tuple(core for core in self.cores if self.usable(core))

    @property
    def core_choice(self) -> CoreChoice:
        """The fastest core `taskset` can pin to, and why it was chosen.

        Fastest: highest max frequency, ties to the highest core id. A core without a cpufreq
        folder has no max frequency: when every core has a cpu_capacity (arm64 kernels), cores
        are ranked by capacity instead (then frequency); else it ranks last. Offline cores and
        cores outside the shell's allowed CPUs (its cpuset) cannot be pinned to: `taskset`
        fails with "Invalid argument".
        """
        if not self.cores:
            return CoreChoice(0, "no CPU facts: cpu0", 0)
        unknown = [c for c in self.cores if not c.max_freq_khz]
        by_capacity = bool(unknown) and all(c.capacity is not None for c in self.cores)

        def rank(core: CoreInfo) -> tuple[int, int, int]:
            if by_capacity:
                return (core.capacity or 0, core.max_freq_khz or 0, core.cpu)
            return (0, core.max_freq_khz or 0, core.cpu)

        ordered = sorted(self.cores, key=rank, reverse=True)
        fastest = ordered[0]
        usable = [c for c in ordered if self.usable(c)]
        skipped = []
        for core in ordered:
            if usable and core is usable[0]:
                break
            if not self.usable(core):
                skipped.append(f"cpu{core.cpu} ({core.speed()}) is {self._unusable_why(core)}")
        if not by_capacity:
            skipped += [
                f"cpu{c.cpu}'s speed is unknown (no cpufreq folder, no cpu_capacity)"
                for c in unknown
                if self.usable(c)
            ]
        if not usable:
            return CoreChoice(
                fastest.cpu, "no core is online and allowed", fastest.cpu, tuple(skipped)
            )
        chosen = usable[0]
        how = "by cpu_capacity: " if by_capacity else ""
        what = f"cpu{chosen.cpu} ({chosen.speed()})"
        if chosen is fastest and not skipped:
            reason = f"{what}, {how}the fastest core"
        else:
            reason = f"{what}, {how}the fastest core taskset can use: " + "; ".join(skipped)
        if by_capacity:
            missing = ", ".join(f"cpu{c.cpu}" for c in unknown)
            reason += f" ({missing}: no cpufreq folder)"
        return CoreChoice(chosen.cpu, reason, fastest.cpu, tuple(skipped))

    def _unusable_why(self, core: CoreInfo) -> str:
        offline = (
            core.cpu not in self.online_cpus
            if self.online_cpus is not None
            else core.online is False
        )
        if offline:
            return "offline"
        allowed = ",".join(map(str, self.allowed_cpus or ()))
        return f"outside the shell's allowed CPUs ({allowed})"

    @property
    def biggest_core(self) -> int:
        """The core single-core runs are pinned to: see `core_choice`."""
        return self.core_choice.cpu

    @property
    def big_core_mask(self) -> str:
        """`taskset` mask (hex, no 0x) that pins to `biggest_core`."""
        return format(1 << self.biggest_core, "x")

    @property
    def usable_mask(self) -> str:
        """`taskset` mask of every core it can pin to (all cores when nothing is known)."""
        cores = self.usable_cores or self.cores
        return format(sum(1 << c.cpu for c in cores), "x") if cores else "1"

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
    root: str  # our folder on the device; everything we push lives under it

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
