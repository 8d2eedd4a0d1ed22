"""What a simulated phone looks like: getprop values, CPU clusters, thermal zones, battery.

A profile is data; `materialize` lays it out as files in the phone's folder (the `/sys` tree,
`getprop` and `taskset` shims in /system/bin) so that shell commands on the simulated phone read it
the way they would on a real one. Paths in the shims and the shell's environment are the phone's
own (`/system/props.txt`): its shell runs in a sandbox whose `/` is that folder.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.devices.base import SIMULATOR_PROP
from deploy.devices.errors import SimulatorError

SIMULATOR_MODEL = "mobilenet-deploy simulator"

#: Environment variable holding the command prefix the `taskset` shim puts before a program.
EXEC_WRAPPER_ENV = "MOBILENET_DEPLOY_EXEC_WRAPPER"


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
    host, the `taskset` shim runs `taskset -c N <exec_wrapper...> ./program args` (for example
    `qemu-aarch64-static -cpu cortex-a76`), and the phone reports `ro.mobilenet_deploy.emulated=1`.
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

    @property
    def core_count(self) -> int:
        return sum(c.cores for c in self.clusters)

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
            "ro.build.version.release": "14",
            "ro.build.version.sdk": "34",
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


def _x86_64() -> Profile:
    return Profile(
        name="x86_64",
        abi="x86_64",
        abis=("x86_64",),
        clusters=(Cluster(4, 1_785_600), Cluster(3, 2_496_000), Cluster(1, 3_187_200)),
        soc_model="SIM-8 (host x86_64)",
    )


def _arm64() -> Profile:
    return Profile(
        name="arm64",
        abi="arm64-v8a",
        abis=("arm64-v8a", "armeabi-v7a", "armeabi"),
        clusters=(Cluster(4, 1_785_600), Cluster(3, 2_496_000), Cluster(1, 3_187_200)),
        soc_model="SIM-8 (arm64)",
        exec_wrapper=("qemu-aarch64-static", "-cpu", "cortex-a76"),
    )


PROFILES = {"x86_64": _x86_64, "arm64": _arm64}


def get_profile(name: str | Profile) -> Profile:
    """A profile by name (`x86_64`, `arm64`), or the profile itself."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]()
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise SimulatorError(f"unknown simulator profile {name!r}: use one of {known}") from None


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


_GETPROP = """#!/bin/sh
# getprop for a simulated phone: values come from {props}
if [ $# -eq 0 ]; then cat '{props}'; exit 0; fi
awk -v k="[$1]:" -v d="$2" '
  index($0, k " ") == 1 {{
    s = substr($0, length(k) + 3); print substr(s, 1, length(s) - 1); f = 1; exit
  }}
  END {{ if (!f) print d }}' '{props}'
"""

_TASKSET = """#!/bin/sh
# taskset for a simulated phone: the simulated core in MASK maps onto a core of this host, and
# ${exec_env} (the profile's exec wrapper, e.g. qemu) goes before the program.
here=${{0%/*}}; real=''; IFS=:
for dir in $PATH; do
  if [ "$dir" != "$here" ] && [ -x "$dir/taskset" ]; then real=$dir/taskset; break; fi
done
unset IFS
case "$1" in -*|'') exec "$real" "$@";; esac
mask=${{1#0x}}; shift
n=$((0x$mask)); cpu=0; hi=0
while [ "$n" -gt 0 ]; do
  if [ $((n & 1)) -eq 1 ]; then hi=$cpu; fi
  n=$((n >> 1)); cpu=$((cpu + 1))
done
ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$hi" -ge "$ncpu" ]; then hi=$((ncpu - 1)); fi
if [ -n "$real" ]; then exec "$real" -c "$hi" ${exec_env} "$@"; fi
exec ${exec_env} "$@"
"""

#: PATH of the phone's shell: the shims first, then this host's tools (bound read-only).
DEVICE_PATH = "/system/bin:/usr/local/bin:/usr/bin:/bin"


def _write_sys(profile: Profile, root: Path) -> None:
    """The phone's /sys: CPU clusters and frequencies, thermal zones, battery."""
    cpu_root = root / "sys" / "devices" / "system" / "cpu"
    cpu = 0
    for cluster_id, cluster in enumerate(profile.clusters):
        first = cpu
        members = range(first, first + cluster.cores)
        related = " ".join(str(c) for c in members)
        for core in members:
            base = cpu_root / f"cpu{core}"
            freq = str(cluster.max_freq_khz) + "\n"
            _write(base / "cpufreq" / "cpuinfo_max_freq", freq)
            _write(base / "cpufreq" / "scaling_max_freq", freq)
            _write(base / "cpufreq" / "scaling_cur_freq", freq)
            _write(base / "cpufreq" / "scaling_governor", cluster.governor + "\n")
            _write(base / "cpufreq" / "related_cpus", related + "\n")
            _write(base / "topology" / "cluster_id", f"{cluster_id}\n")
            _write(base / "online", "1\n")
        cpu += cluster.cores
    span = f"0-{profile.core_count - 1}\n"
    for name in ("possible", "present", "online"):
        _write(cpu_root / name, span)

    thermal = root / "sys" / "class" / "thermal"
    for i, (kind, milli_c) in enumerate(profile.thermal_zones):
        _write(thermal / f"thermal_zone{i}" / "type", kind + "\n")
        _write(thermal / f"thermal_zone{i}" / "temp", f"{milli_c}\n")
    battery = root / "sys" / "class" / "power_supply" / "battery"
    _write(battery / "temp", f"{profile.battery_temp_decic}\n")
    _write(battery / "status", profile.battery_status + "\n")


def materialize(
    profile: Profile, root: Path, serial: str, *, sandboxed: bool = True
) -> dict[str, str]:
    """Lay the profile out under `root` (the phone's `/`); return the shell's environment.

    `sandboxed`: the shell sees `root` as `/` (the simulator's sandbox). False is the unconfined
    host shell (`--unsafe-host-shell`): paths are then this host's, under `root`.
    """
    seen = "" if sandboxed else str(root)  # the phone's `/` as its shell sees it, minus the slash
    (root / "data" / "local" / "tmp").mkdir(parents=True, exist_ok=True)
    (root / "sdcard").mkdir(parents=True, exist_ok=True)
    props = profile.getprops(serial)
    props_text = "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))
    _write(root / "system" / "props.txt", props_text)
    _write_sys(profile, root)

    bin_dir = root / "system" / "bin"
    executable = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    _write(bin_dir / "getprop", _GETPROP.format(props=f"{seen}/system/props.txt"), executable)
    _write(bin_dir / "taskset", _TASKSET.format(exec_env=EXEC_WRAPPER_ENV), executable)
    host_path = os.environ.get("PATH", "/usr/bin:/bin")
    return {
        "PATH": DEVICE_PATH if sandboxed else f"{bin_dir}{os.pathsep}{host_path}",
        "HOME": f"{seen}/data/local/tmp",
        "TMPDIR": f"{seen}/data/local/tmp",
        "ANDROID_DATA": f"{seen}/data",
        "ANDROID_ROOT": f"{seen}/system",
        EXEC_WRAPPER_ENV: " ".join(profile.exec_wrapper) if profile.wrapper_available() else "",
    }
