"""What a phone says about itself, read in one shell command and parsed by pure functions.

`INFO_SCRIPT` prints sections (getprop, per-core cpufreq and online state, the online and allowed
CPUs, thermal zones, power supplies, `dumpsys thermalservice` and `dumpsys battery`, df); the
`parse_*` functions turn each into fields of `DeviceInfo`. Missing files give None, not errors;
a file the shell may not read (SELinux on stock phones) is told apart ("Permission denied").

Where a phone's temperature can be read from: its sysfs thermal zones, else the thermal HAL's
CPU temperatures (`dumpsys thermalservice`, Android 10+), else the battery (its sysfs file, else
`dumpsys battery`); `temperature_source` picks the first that answers (`TemperatureSource`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.devices.base import SIMULATOR_PROP, CoreInfo, DeviceInfo, ThermalZone

INFO_SCRIPT = r"""
echo '@@getprop'; getprop
echo '@@cpus'
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  f=$c/cpufreq
  max=$(cat $f/cpuinfo_max_freq 2>/dev/null); gov=$(cat $f/scaling_governor 2>/dev/null)
  rel=$(cat $f/related_cpus 2>/dev/null); on=$(cat $c/online 2>/dev/null)
  cap=$(cat $c/cpu_capacity 2>/dev/null); if [ -d $f ]; then d=1; else d=0; fi
  echo "${c##*/cpu}|$max|$gov|$rel|$on|$cap|$d"
done
echo '@@online'; cat /sys/devices/system/cpu/online 2>/dev/null
echo '@@affinity'; taskset -p $$ 2>/dev/null
echo '@@thermal'
for z in /sys/class/thermal/thermal_zone*; do
  [ -d "$z" ] && echo "${z##*/}|$(cat $z/type 2>&1)|$(cat $z/temp 2>&1)"
done
echo '@@battery'
for b in /sys/class/power_supply/*; do
  for f in temp batt_temp; do
    [ -e "$b/$f" ] && echo "temp|${b##*/}/$f|$(cat $b/$f 2>&1)"
  done
done
echo "status|$(cat /sys/class/power_supply/battery/status 2>/dev/null)"
echo '@@thermalservice'; dumpsys thermalservice 2>&1
echo '@@dumpsys-battery'; dumpsys battery 2>&1
echo '@@df'; df -k /data/local/tmp 2>/dev/null
echo '@@end'
"""

#: What the shell says for a file it may not read (toybox and toolbox `cat`).
DENIED = "Permission denied"
#: `dumpsys` of a service the phone does not have, and of one the shell may not dump.
_NO_SERVICE = "Can't find service"
_DUMP_REFUSED = "Permission Denial"
#: Zone type names of CPU sensors across vendors (Qualcomm cpu-*/cpuss/apc/tsens, MediaTek
#: mtktscpu, Exynos/Tensor big/mid/little, generic soc/cpu-thermal, x86 x86_pkg_temp).
_CPU_ZONE = re.compile(r"cpu|apc|cluster|big|mid|little|tsens|soc[-_]?therm|x86_pkg", re.I)
_NOT_CPU = re.compile(
    r"gpu|batt|skin|usb|charger|bms|xo|quiet|camera|display|npu|ddr|wlan|modem|mdm|pa[-_]", re.I
)
#: The thermal HAL's TemperatureType for CPUs (android.hardware.thermal TemperatureType::CPU).
HAL_CPU = 0
_HAL_TEMPERATURE = re.compile(
    r"Temperature\{mValue=(?P<value>[-+0-9.eE]+|NaN), mType=(?P<type>-?\d+), "
    r"mName=(?P<name>[^,]*), mStatus=(?P<status>-?\d+)\}"
)
#: BatteryManager.BATTERY_STATUS_*: the numbers `dumpsys battery` prints as `status:`.
BATTERY_STATUS = {1: "Unknown", 2: "Charging", 3: "Discharging", 4: "Not charging", 5: "Full"}
#: power_supply folders that hold a battery's temperature, best first (vendors differ).
_BATTERY_SUPPLIES = ("battery", "bms", "main-battery", "bq27541", "max1726x")

_PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]\s*$")


def split_sections(output: str) -> dict[str, list[str]]:
    """Lines of INFO_SCRIPT output, grouped by their `@@name` section."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.replace("\r\n", "\n").split("\n"):
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line)
    return sections


def parse_getprop(lines: list[str]) -> dict[str, str]:
    """`[key]: [value]` lines (multi-line values keep their first line)."""
    props: dict[str, str] = {}
    for line in lines:
        match = _PROP_LINE.match(line)
        if match:
            props[match.group(1)] = match.group(2)
    return props


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """`0-3 7` or `4 5 6` or `0-3,7` -> core ids."""
    cores: list[int] = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            cores += range(int(lo), int(hi or lo) + 1)
    return tuple(cores)


def _flag(text: str) -> bool | None:
    value = _int(text)
    return None if value is None else value != 0


def parse_cores(lines: list[str]) -> tuple[CoreInfo, ...]:
    """`cpu|max_freq_khz|governor|related_cpus[|online|capacity|has_cpufreq]` lines -> cores
    with cluster indices.

    Clusters come from related_cpus (cores sharing a cpufreq policy), else from equal max
    frequency and capacity; cluster 0 is the slowest (by cpu_capacity when every core has one,
    else by max frequency).
    """
    raw: list[CoreInfo] = []
    related_of: dict[int, tuple[int, ...]] = {}
    for line in lines:
        fields = (line.split("|") + [""] * 7)[:7]
        cpu = _int(fields[0])
        if cpu is None:
            continue
        related_of[cpu] = parse_cpu_list(fields[3])
        raw.append(
            CoreInfo(
                cpu,
                _int(fields[1]),
                fields[2].strip() or None,
                0,
                online=_flag(fields[4]),
                capacity=_int(fields[5]),
                has_cpufreq=_flag(fields[6]),
            )
        )
    raw.sort(key=lambda core: core.cpu)
    groups: dict[tuple[int, ...], list[int]] = {}
    for core in raw:
        related = related_of[core.cpu]
        key = related if core.cpu in related else (-1, core.max_freq_khz or 0, core.capacity or 0)
        groups.setdefault(key, []).append(core.cpu)
    by_capacity = bool(raw) and all(c.capacity is not None for c in raw)
    speed = {
        c.cpu: (c.capacity or 0, c.max_freq_khz or 0)
        if by_capacity
        else (c.max_freq_khz or 0, c.capacity or 0)
        for c in raw
    }
    ordered = sorted(groups.values(), key=lambda members: (max(speed[c] for c in members), members))
    cluster_of = {cpu: index for index, members in enumerate(ordered) for cpu in members}
    return tuple(
        CoreInfo(
            c.cpu,
            c.max_freq_khz,
            c.governor,
            cluster_of[c.cpu],
            online=c.online,
            capacity=c.capacity,
            has_cpufreq=c.has_cpufreq,
        )
        for c in raw
    )


def parse_affinity(lines: list[str]) -> tuple[int, ...] | None:
    """`taskset -p PID` output ("pid 123's current affinity mask: ff") -> CPU ids."""
    for line in lines:
        match = re.search(r"affinity mask:\s*([0-9a-fA-F,]+)", line)
        if match:
            bits = int(match.group(1).replace(",", ""), 16)
            return tuple(cpu for cpu in range(bits.bit_length()) if bits >> cpu & 1)
    return None


def parse_online(lines: list[str]) -> tuple[int, ...] | None:
    """/sys/devices/system/cpu/online ("0-6") -> CPU ids; None when it was not readable."""
    cpus = parse_cpu_list(" ".join(lines))
    return cpus or None


def _celsius(text: str, scale: float) -> float | None:
    value = _int(text)
    return None if value is None else value / scale


def parse_thermal(lines: list[str]) -> tuple[ThermalZone, ...]:
    """`[folder|]type|millidegrees` lines (some kernels report whole degrees: values under 200).

    A type or temperature that is an error message saying "Permission denied" marks the zone
    denied (it is there, the shell may not read it); its name is then its folder's.
    """
    zones = []
    for line in lines:
        parts = line.split("|")
        folder = parts[0].strip() if len(parts) >= 3 else ""
        name, temp = (parts[-2], parts[-1]) if len(parts) >= 2 else (parts[0], "")
        denied = DENIED in name or DENIED in temp
        value = _int(temp)
        celsius = None if value is None else (value / 1000 if abs(value) >= 200 else float(value))
        if DENIED in name or name.startswith(("cat:", "/")):
            name = ""
        zones.append(ThermalZone(name.strip() or folder or "unknown", celsius, denied=denied))
    return tuple(zones)


def hottest_cpu_zone(zones: tuple[ThermalZone, ...] | list[ThermalZone]) -> float | None:
    """The hottest CPU thermal zone in degrees C (any non-peripheral zone if none is named CPU)."""
    known = [z for z in zones if z.temp_c is not None]
    cpu = [z.temp_c for z in known if _CPU_ZONE.search(z.name) and not _NOT_CPU.search(z.name)]
    if not cpu:
        cpu = [z.temp_c for z in known if not _NOT_CPU.search(z.name)]
    return max(cpu) if cpu else None  # type: ignore[type-var]


def _battery_rank(supply: str) -> int | None:
    name = supply.lower()
    if name in _BATTERY_SUPPLIES:
        return _BATTERY_SUPPLIES.index(name)
    return len(_BATTERY_SUPPLIES) if "batt" in name else None


def parse_battery_files(lines: list[str]) -> tuple[float | None, str, bool]:
    """(battery C, the sysfs file it came from, whether a battery file was refused) from
    `temp|supply/file|tenths` lines: the battery's supply first (vendors use other folders)."""
    found: list[tuple[int, str, float]] = []
    refused = False
    for line in lines:
        parts = line.split("|")
        if len(parts) != 3 or parts[0] != "temp":
            continue
        supply = parts[1].split("/")[0]
        rank = _battery_rank(supply)
        if rank is None:
            continue
        value = _int(parts[2])
        if value is None:
            refused = refused or DENIED in parts[2]
            continue
        celsius = value / 1000 if abs(value) >= 2000 else value / 10
        found.append((rank, f"/sys/class/power_supply/{parts[1]}", celsius))
    if not found:
        return None, "", refused
    _rank, path, celsius = min(found)
    return celsius, path, refused


def parse_battery(lines: list[str]) -> tuple[float | None, str | None]:
    """(temperature in degrees C from tenths, status text), sysfs only."""
    temp: float | None = None
    old = [ln for ln in lines if ln.startswith("temp|") and ln.count("|") == 1]
    if old:  # `temp|tenths` (one battery file)
        temp = _celsius(old[0].partition("|")[2], 10.0)
    else:
        temp = parse_battery_files(lines)[0]
    fields = dict(line.partition("|")[::2] for line in lines)
    status = fields.get("status", "").strip() or None
    return temp, status


def dumpsys_state(lines: list[str] | str) -> str:
    """ok | missing (no such service) | denied (no DUMP permission) | "" (not asked)."""
    text = lines if isinstance(lines, str) else "\n".join(lines)
    if not text.strip():
        return ""
    if _NO_SERVICE in text or "not found" in text:
        return "missing"
    if _DUMP_REFUSED in text:
        return "denied"
    return "ok"


def parse_thermalservice(text: str) -> tuple[ThermalZone, ...]:
    """The thermal HAL's temperatures from `dumpsys thermalservice` (Android 10+).

    The "Current temperatures from HAL:" section when it has any, else "Cached temperatures:".
    Lines as `Temperature{mValue=25.6, mType=0, mName=AP, mStatus=0}`.
    """
    sections: dict[str, list[ThermalZone]] = {}
    current = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped.endswith(":") and not line[:1].isspace():
            current = stripped
            continue
        match = _HAL_TEMPERATURE.search(stripped)
        if match is None:
            continue
        try:
            value: float | None = float(match.group("value"))
        except ValueError:
            value = None
        if value is not None and value != value:  # NaN: not available
            value = None
        zone = ThermalZone(match.group("name"), value, hal_type=int(match.group("type")))
        sections.setdefault(current, []).append(zone)
    current_hal = sections.get("Current temperatures from HAL:", [])
    return tuple(current_hal or sections.get("Cached temperatures:", []))


def hottest_hal_cpu(zones: tuple[ThermalZone, ...] | list[ThermalZone]) -> float | None:
    """The hottest CPU temperature (HAL type CPU) of the thermal HAL."""
    cpu = [z.temp_c for z in zones if z.hal_type == HAL_CPU and z.temp_c is not None]
    return max(cpu) if cpu else None


def parse_dumpsys_battery(text: str) -> tuple[float | None, str | None]:
    """(temperature C, status text) from `dumpsys battery` ("  temperature: 310" in tenths)."""
    temp: float | None = None
    status: str | None = None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "temperature":
            temp = _celsius(value, 10.0)
        elif key == "status" and value.strip().isdigit():
            status = BATTERY_STATUS.get(int(value), "Unknown")
    return temp, status


def parse_df_available(lines: list[str]) -> int | None:
    """Bytes available from `df -k` output (toybox or GNU; wrapped lines are joined)."""
    if len(lines) < 2:
        return None
    header = lines[0].split()
    column = next((i for i, h in enumerate(header) if h.lower().startswith("avail")), 3)
    values = " ".join(lines[1:]).split()
    # the filesystem name may contain no spaces; numbers follow it in header order
    if len(values) <= column:
        return None
    kib = _int(values[column])
    return None if kib is None else kib * 1024


def parse_info(serial: str, output: str) -> DeviceInfo:
    """A DeviceInfo from INFO_SCRIPT's output."""
    sections = split_sections(output)
    props = parse_getprop(sections.get("getprop", []))
    battery_temp, status = parse_battery(sections.get("battery", []))
    battery_source = parse_battery_files(sections.get("battery", []))[1]
    dumpsys_battery = sections.get("dumpsys-battery", [])
    dumped_temp, dumped_status = parse_dumpsys_battery("\n".join(dumpsys_battery))
    if battery_temp is None and dumped_temp is not None:
        battery_temp, battery_source = dumped_temp, "dumpsys battery"
    status = status or dumped_status
    thermalservice = sections.get("thermalservice", [])
    abis = tuple(a for a in props.get("ro.product.cpu.abilist", "").split(",") if a)
    return DeviceInfo(
        serial=serial,
        manufacturer=props.get("ro.product.manufacturer", ""),
        model=props.get("ro.product.model", ""),
        soc_model=props.get("ro.soc.model", ""),
        board_platform=props.get("ro.board.platform", ""),
        hardware=props.get("ro.hardware", ""),
        android_version=props.get("ro.build.version.release", ""),
        sdk=_int(props.get("ro.build.version.sdk", "")),
        abi=props.get("ro.product.cpu.abi", ""),
        abis=abis,
        cores=parse_cores(sections.get("cpus", [])),
        thermal_zones=parse_thermal(sections.get("thermal", [])),
        battery_temp_c=battery_temp,
        battery_status=status,
        charging=None if status is None else status.lower() in ("charging", "full"),
        free_bytes=parse_df_available(sections.get("df", [])),
        is_simulator=props.get(SIMULATOR_PROP) == "1",
        properties=props,
        online_cpus=parse_online(sections["online"]) if "online" in sections else None,
        allowed_cpus=parse_affinity(sections.get("affinity", [])),
        hal_temperatures=parse_thermalservice("\n".join(thermalservice)),
        thermalservice=dumpsys_state(thermalservice) if "thermalservice" in sections else "",
        battery_temp_source=battery_source,
        dumpsys_battery=dumpsys_state(dumpsys_battery) if "dumpsys-battery" in sections else "",
    )


# -- temperatures ---------------------------------------------------------------------------

#: Every thermal zone as `folder|type|temp` (errors kept: a refused zone says so).
SYSFS_ZONES = (
    "for z in /sys/class/thermal/thermal_zone*; do "
    '[ -d "$z" ] && echo "${z##*/}|$(cat $z/type 2>&1)|$(cat $z/temp 2>&1)"; done'
)


@dataclass(frozen=True)
class TemperatureSource:
    """Where a phone's temperature is read from, and how: `command` prints what `read` parses.

    kind: `sysfs` (the hottest CPU thermal zone), `thermalservice` (the thermal HAL's hottest CPU
    temperature, `dumpsys thermalservice`), `battery` (the battery: a sysfs file, or `dumpsys
    battery`; a slow proxy for the CPU), `none` (nothing readable).
    """

    kind: str
    detail: str
    command: str = ""

    def read(self, output: str) -> float | None:
        if self.kind == "sysfs":
            lines = [line for line in output.splitlines() if "|" in line]
            return hottest_cpu_zone(parse_thermal(lines))
        if self.kind == "thermalservice":
            return hottest_hal_cpu(parse_thermalservice(output))
        if self.kind == "battery" and self.command.startswith("dumpsys"):
            return parse_dumpsys_battery(output)[0]
        if self.kind == "battery":
            value = _int(output.strip().splitlines()[0] if output.strip() else "")
            if value is None:
                return None
            return value / 1000 if abs(value) >= 2000 else value / 10
        return None

    @property
    def readable(self) -> bool:
        return self.kind != "none"


def temperature_source(info: DeviceInfo) -> TemperatureSource:
    """The first source that gave a temperature when `info` was read (see TemperatureSource)."""
    if hottest_cpu_zone(info.thermal_zones) is not None:
        readable = sum(1 for z in info.thermal_zones if z.temp_c is not None)
        return TemperatureSource("sysfs", f"{readable} sysfs thermal zones", SYSFS_ZONES)
    if hottest_hal_cpu(info.hal_temperatures) is not None:
        return TemperatureSource(
            "thermalservice", "the thermal HAL (dumpsys thermalservice)", "dumpsys thermalservice"
        )
    if info.battery_temp_c is not None and info.battery_temp_source == "dumpsys battery":
        return TemperatureSource("battery", "the battery (dumpsys battery)", "dumpsys battery")
    if info.battery_temp_c is not None and info.battery_temp_source:
        path = info.battery_temp_source
        return TemperatureSource("battery", f"the battery ({path})", f"cat {path}")
    return TemperatureSource("none", "no temperature readable")


def why_no_temperature(info: DeviceInfo) -> str:
    """What refused each source, for a phone whose temperature cannot be read."""
    zones = info.thermal_zones
    reasons = []
    if not zones:
        reasons.append("no sysfs thermal zones")
    elif any(z.denied for z in zones):
        reasons.append(f"sysfs thermal zones: {DENIED} (SELinux)")
    else:
        reasons.append("no sysfs CPU zone gives a value")
    states = {"missing": "not on this phone", "denied": "refused (no DUMP permission)"}
    reasons.append(
        "dumpsys thermalservice: "
        + states.get(info.thermalservice, "no CPU temperature" if info.thermalservice else "n/a")
    )
    reasons.append(
        "battery: " + states.get(info.dumpsys_battery, "no temperature")
        if info.dumpsys_battery
        else "battery: no temperature"
    )
    return "; ".join(reasons)
