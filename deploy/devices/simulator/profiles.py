"""What a simulated phone looks like: getprop values, CPU clusters, thermal zones, battery, and
the refusals real phones make.

A profile is data; `materialize` lays it out as files in the phone's folder (the `/sys` tree, the
phone's programs in /system/bin: mksh, toybox's applets and the scripts of android_tools.py) so
that shell commands on the simulated phone read it the way they would on a real one. Paths in
the scripts and the shell's environment are the phone's own (`/system/props.txt`): its shell runs
in a sandbox whose `/` is that folder.

Profiles (`--profile NAME`):

- `x86_64`, `arm64`: healthy Android 14 phones (arm64 runs the phone bundle under qemu);
- `android14-thermal-denied`: SELinux refuses the shell the sysfs thermal zones and the battery
  temperature file ("Permission denied", as stock policies do); `dumpsys thermalservice` and
  `dumpsys battery` still answer;
- `android14-no-temperature`: the same, and `dumpsys` is refused too (a vendor build without the
  shell's DUMP permission): no temperature is readable at all;
- `android9-offline-big-core`: Android 9 (toolbox's BSD grep, no thermalservice): the prime core
  cpu7 is offline (hotplugged), so `taskset 80` fails with "Invalid argument";
- `android13-missing-cpufreq`: cpu7 has no cpufreq folder (its speed only in cpu_capacity);
- `android13-vendor`: vendor governors (`walt`, `sugov_ext`), the battery temperature under a
  vendor path (power_supply/bms), `pm install` over USB refused, no simpleperf.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.devices.base import SIMULATOR_PROP
from deploy.devices.errors import SimulatorError
from deploy.devices.simulator import android_tools as tools
from deploy.devices.simulator.android_tools import EXEC_WRAPPER_ENV, STATE_DIR

__all__ = ["EXEC_WRAPPER_ENV", "PROFILES", "Cluster", "Profile", "get_profile", "materialize"]

SIMULATOR_MODEL = "mobilenet-deploy simulator"

#: PATH of the phone's shell: Android 10+'s (init's default); only /system/bin exists here.
DEVICE_PATH = (
    "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:"
    "/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin"
)

_BATTERY_STATUS = {"Unknown": 1, "Charging": 2, "Discharging": 3, "Not charging": 4, "Full": 5}


@dataclass(frozen=True)
class Cluster:
    """A group of identical cores."""

    cores: int
    max_freq_khz: int
    governor: str = "schedutil"


@dataclass(frozen=True)
class Profile:
    """A simulated phone.

    `exec_wrapper` is the hook for running foreign binaries: when its first word exists on this
    host, the `taskset` script runs `<exec_wrapper...> ./program args` pinned (for example
    `qemu-aarch64-static -cpu cortex-a76`), and the phone reports `ro.mobilenet_deploy.emulated=1`.

    The refusals: `offline_cpus` (hotplugged: not in /sys/devices/system/cpu/online),
    `allowed_cpus` (the shell's cpuset; None: every core), `no_cpufreq` (cores without a cpufreq
    folder), `thermal_denied` (thermal zones and the battery temperature file unreadable),
    `dump_denied` (`dumpsys` refuses), `install_blocked` (`pm install` refused).
    """

    name: str
    abi: str
    abis: tuple[str, ...]
    clusters: tuple[Cluster, ...]
    soc_model: str
    props: Mapping[str, str] = field(default_factory=dict)
    thermal_zones: tuple[tuple[str, int], ...] = (
        ("cpu-0-0-usr", 38500),
        ("cpu-1-0-usr", 41200),
        ("gpuss-0-usr", 36000),
        ("battery", 31000),
        ("skin-msm-therm", 33400),
    )
    battery_temp_decic: int = 310
    battery_status: str = "Discharging"
    exec_wrapper: tuple[str, ...] = ()
    release: str = "14"
    sdk: int = 34
    offline_cpus: tuple[int, ...] = ()
    allowed_cpus: tuple[int, ...] | None = None
    no_cpufreq: tuple[int, ...] = ()
    cpu_capacity: bool = False
    thermal_denied: bool = False
    dump_denied: bool = False
    battery_supply: str = "battery"  # the power_supply folder holding the battery's `temp`
    toolbox_grep: bool = False  # Android 8-10: BSD grep from toolbox, not toybox's
    install_blocked: bool = False
    simpleperf: bool = True

    @property
    def core_count(self) -> int:
        return sum(c.cores for c in self.clusters)

    @property
    def online_cpus(self) -> tuple[int, ...]:
        return tuple(c for c in range(self.core_count) if c not in self.offline_cpus)

    @property
    def thermalservice(self) -> bool:
        """`dumpsys thermalservice` (ThermalManagerService) exists: Android 10+."""
        return self.sdk >= 29

    def wrapper_path(self) -> str | None:
        """The exec wrapper's program on this host, None when there is none."""
        return shutil.which(self.exec_wrapper[0]) if self.exec_wrapper else None

    def wrapper_available(self) -> bool:
        return self.wrapper_path() is not None

    def getprops(self, serial: str) -> dict[str, str]:
        """Every getprop value of this phone."""
        emulated = "1" if self.wrapper_available() else "0"
        props = {
            "ro.product.manufacturer": "mobilenet-deploy",
            "ro.product.brand": "mobilenet-deploy",
            "ro.product.model": SIMULATOR_MODEL,
            "ro.product.name": f"mobilenet_sim_{self.name}",
            "ro.product.device": "simulator",
            "ro.soc.manufacturer": "mobilenet-deploy",
            "ro.soc.model": self.soc_model,
            "ro.board.platform": "simulator",
            "ro.hardware": "simulator",
            "ro.build.version.release": self.release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.fingerprint": (
                f"mobilenet-deploy/mobilenet_sim_{self.name}/simulator:{self.release}/SIM/1:user/"
                "release-keys"
            ),
            "ro.product.cpu.abi": self.abi,
            "ro.product.cpu.abilist": ",".join(self.abis),
            "ro.serialno": serial,
            "ro.debuggable": "1",
            SIMULATOR_PROP: "1",
            "ro.mobilenet_deploy.simulator.profile": self.name,
            "ro.mobilenet_deploy.emulated": emulated,
        }
        props.update(self.props)
        return props


_SIM8 = (Cluster(4, 1_785_600), Cluster(3, 2_496_000), Cluster(1, 3_187_200))


def _x86_64() -> Profile:
    return Profile(
        name="x86_64",
        abi="x86_64",
        abis=("x86_64",),
        clusters=_SIM8,
        soc_model="SIM-8 (host x86_64)",
    )


def _arm64() -> Profile:
    return Profile(
        name="arm64",
        abi="arm64-v8a",
        abis=("arm64-v8a", "armeabi-v7a", "armeabi"),
        clusters=_SIM8,
        soc_model="SIM-8 (arm64)",
        exec_wrapper=("qemu-aarch64-static", "-cpu", "cortex-a76"),
    )


def _thermal_denied() -> Profile:
    return Profile(
        name="android14-thermal-denied",
        abi="x86_64",
        abis=("x86_64",),
        clusters=_SIM8,
        soc_model="SIM-8 (host x86_64)",
        thermal_denied=True,
    )


def _no_temperature() -> Profile:
    return Profile(
        name="android14-no-temperature",
        abi="x86_64",
        abis=("x86_64",),
        clusters=_SIM8,
        soc_model="SIM-8 (host x86_64)",
        thermal_denied=True,
        dump_denied=True,
    )


def _offline_big_core() -> Profile:
    return Profile(
        name="android9-offline-big-core",
        abi="x86_64",
        abis=("x86_64",),
        clusters=_SIM8,
        soc_model="SIM-8 (host x86_64)",
        release="9",
        sdk=28,
        offline_cpus=(7,),
        toolbox_grep=True,
    )


def _missing_cpufreq() -> Profile:
    return Profile(
        name="android13-missing-cpufreq",
        abi="x86_64",
        abis=("x86_64",),
        clusters=_SIM8,
        soc_model="SIM-8 (host x86_64)",
        release="13",
        sdk=33,
        no_cpufreq=(7,),
        cpu_capacity=True,
    )


def _vendor() -> Profile:
    clusters = (
        Cluster(4, 1_785_600, "walt"),
        Cluster(3, 2_496_000, "walt"),
        Cluster(1, 3_187_200, "sugov_ext"),
    )
    return Profile(
        name="android13-vendor",
        abi="x86_64",
        abis=("x86_64",),
        clusters=clusters,
        soc_model="SIM-8 (host x86_64)",
        release="13",
        sdk=33,
        battery_supply="bms",
        install_blocked=True,
        simpleperf=False,
    )


PROFILES = {
    "x86_64": _x86_64,
    "arm64": _arm64,
    "android14-thermal-denied": _thermal_denied,
    "android14-no-temperature": _no_temperature,
    "android9-offline-big-core": _offline_big_core,
    "android13-missing-cpufreq": _missing_cpufreq,
    "android13-vendor": _vendor,
}


def get_profile(name: str | Profile) -> Profile:
    """A profile by name (see the module docstring), or the profile itself."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]()
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise SimulatorError(f"unknown simulator profile {name!r}: use one of {known}") from None


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not os.access(path, os.W_OK):
        path.chmod(0o644)  # a refused file (mode 000) being given a new value
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def cpu_list(cpus: Iterable[int]) -> str:
    """Kernel CPU-list text: (0, 1, 2, 3, 5) -> "0-3,5"."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in ranges)


def hal_type(zone: str) -> int:
    """The thermal HAL's TemperatureType of a zone, by name: CPU 0, GPU 1, BATTERY 2, SKIN 3."""
    name = zone.lower()
    for needle, kind in (("gpu", 1), ("batt", 2), ("skin", 3), ("cpu", 0)):
        if needle in name:
            return kind
    return -1


def _refused(profile: Profile) -> int | None:
    """The mode of a file the phone's policy refuses the shell (000), else None (as written)."""
    return 0 if profile.thermal_denied else None


def _write_sys(profile: Profile, root: Path) -> None:
    """The phone's /sys: CPUs (online, cpufreq, capacity), thermal zones, power supplies."""
    cpu_root = root / "sys" / "devices" / "system" / "cpu"
    top = max(c.max_freq_khz for c in profile.clusters)
    cpu = 0
    for cluster_id, cluster in enumerate(profile.clusters):
        members = range(cpu, cpu + cluster.cores)
        related = " ".join(str(c) for c in members)
        for core in members:
            base = cpu_root / f"cpu{core}"
            if core not in profile.no_cpufreq:
                freq = f"{cluster.max_freq_khz}\n"
                _write(base / "cpufreq" / "cpuinfo_max_freq", freq)
                _write(base / "cpufreq" / "scaling_max_freq", freq)
                _write(base / "cpufreq" / "scaling_cur_freq", freq)
                _write(base / "cpufreq" / "scaling_governor", cluster.governor + "\n")
                _write(base / "cpufreq" / "related_cpus", related + "\n")
            _write(base / "topology" / "cluster_id", f"{cluster_id}\n")
            _write(base / "online", "0\n" if core in profile.offline_cpus else "1\n")
            if profile.cpu_capacity:
                _write(base / "cpu_capacity", f"{round(1024 * cluster.max_freq_khz / top)}\n")
        cpu += cluster.cores
    every = cpu_list(list(range(profile.core_count)))
    _write(cpu_root / "possible", every + "\n")
    _write(cpu_root / "present", every + "\n")
    _write(cpu_root / "online", cpu_list(profile.online_cpus) + "\n")

    thermal = root / "sys" / "class" / "thermal"
    for i, (kind, milli_c) in enumerate(profile.thermal_zones):
        _write(thermal / f"thermal_zone{i}" / "type", kind + "\n", _refused(profile))
        _write(thermal / f"thermal_zone{i}" / "temp", f"{milli_c}\n", _refused(profile))
    supplies = root / "sys" / "class" / "power_supply"
    _write(
        supplies / profile.battery_supply / "temp",
        f"{profile.battery_temp_decic}\n",
        _refused(profile),
    )
    _write(supplies / "battery" / "status", profile.battery_status + "\n")
    _write(supplies / "usb" / "online", "0\n")


def write_state(
    profile: Profile, root: Path, zones: Mapping[str, int], battery_decic: int, battery_status: str
) -> None:
    """What the phone's services know (read by its dumpsys): HAL temperatures, battery state."""
    state = root / STATE_DIR.lstrip("/")
    lines = [f"{hal_type(name)} {name} {milli}\n" for name, milli in zones.items()]
    _write(state / "thermal", "".join(lines))
    charging = battery_status in ("Charging", "Full")
    _write(
        state / "battery",
        f"temperature={battery_decic}\nstatus={_BATTERY_STATUS.get(battery_status, 1)}\n"
        f"level=85\nac=false\nusb={'true' if charging else 'false'}\n",
    )


def _write_programs(profile: Profile, bin_dir: Path, seen: str, sandboxed: bool) -> None:
    """/system/bin: mksh as sh and toybox's applets (sandboxed), then the profile's scripts."""
    executable = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    bin_dir.mkdir(parents=True, exist_ok=True)
    if sandboxed:
        toybox = tools.phone_binaries()[f"{tools.SYSTEM_BIN}/toybox"]
        links = {applet: "toybox" for applet in tools.toybox_applets(toybox)}
        links["sh"] = "mksh"
        for name, target in links.items():
            link = bin_dir / name
            if not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to(target)
        shell, real_taskset, real_grep = f"{tools.SYSTEM_BIN}/sh", "toybox taskset", "toybox grep"
    else:
        shell = "/bin/sh"
        real_taskset = shutil.which("taskset") or "taskset"
        real_grep = shutil.which("grep") or "grep"
    allowed = profile.allowed_cpus
    scripts = {
        "getprop": tools.render(tools.GETPROP, SH=shell, SEEN=seen),
        "taskset": tools.render(
            tools.TASKSET,
            SH=shell,
            SEEN=seen,
            REAL=real_taskset,
            CORES=str(profile.core_count),
            ALLOWED=cpu_list(allowed if allowed is not None else range(profile.core_count)),
            EXEC_ENV=EXEC_WRAPPER_ENV,
        ),
        "dumpsys": tools.render(
            tools.DUMPSYS,
            SH=shell,
            SEEN=seen,
            STATE_DIR=STATE_DIR,
            DUMP_DENIED="1" if profile.dump_denied else "0",
            THERMALSERVICE="1" if profile.thermalservice else "0",
        ),
        "pm": tools.render(
            tools.PM, SH=shell, INSTALL_BLOCKED="1" if profile.install_blocked else "0"
        ),
        "am": tools.render(tools.AM, SH=shell),
    }
    if profile.simpleperf:
        scripts["simpleperf"] = tools.render(tools.SIMPLEPERF, SH=shell)
    if profile.toolbox_grep:
        scripts["grep"] = tools.render(tools.TOOLBOX_GREP, SH=shell, REAL_GREP=real_grep)
    for name, text in scripts.items():
        path = bin_dir / name
        if path.is_symlink():
            path.unlink()
        _write(path, text, executable)


def materialize(
    profile: Profile, root: Path, serial: str, *, sandboxed: bool = True
) -> dict[str, str]:
    """Lay the profile out under `root` (the phone's `/`); return the shell's environment.

    `sandboxed`: the shell sees `root` as `/` (the simulator's sandbox), mksh and toybox are its
    programs (bound there by the sandbox). False is the unconfined host shell
    (`--unsafe-host-shell`): paths are then this host's, under `root`, and so are its tools.
    """
    seen = "" if sandboxed else str(root)  # the phone's `/` as its shell sees it, minus the slash
    (root / "data" / "local" / "tmp").mkdir(parents=True, exist_ok=True)
    (root / "sdcard").mkdir(parents=True, exist_ok=True)
    props = profile.getprops(serial)
    props_text = "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))
    _write(root / "system" / "props.txt", props_text)
    _write_sys(profile, root)
    write_state(
        profile,
        root,
        dict(profile.thermal_zones),
        profile.battery_temp_decic,
        profile.battery_status,
    )
    bin_dir = root / "system" / "bin"
    _write_programs(profile, bin_dir, seen, sandboxed)
    host_path = os.environ.get("PATH", "/usr/bin:/bin")
    return {
        "PATH": DEVICE_PATH if sandboxed else f"{bin_dir}{os.pathsep}{host_path}",
        "HOME": f"{seen}/data/local/tmp",
        "TMPDIR": f"{seen}/data/local/tmp",
        "ANDROID_DATA": f"{seen}/data",
        "ANDROID_ROOT": f"{seen}/system",
        EXEC_WRAPPER_ENV: " ".join(profile.exec_wrapper) if profile.wrapper_available() else "",
        # Android's mksh runs a file without `#!` with /system/bin/sh (its EXECSHELL default)
        **({"EXECSHELL": "/system/bin/sh"} if sandboxed else {}),
    }
