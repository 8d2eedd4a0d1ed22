"""What a phone says about itself, read in one shell command and parsed by pure functions.

`INFO_SCRIPT` prints sections (getprop, per-core cpufreq, thermal zones, battery, df); the
`parse_*` functions turn each into fields of `DeviceInfo`. Missing files give None, not errors.
"""

from __future__ import annotations

import re

from deploy.devices.base import SIMULATOR_PROP, CoreInfo, DeviceInfo, ThermalZone

INFO_SCRIPT = r"""
echo '@@getprop'; getprop
echo '@@cpus'
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  f=$c/cpufreq
  max=$(cat $f/cpuinfo_max_freq 2>/dev/null); gov=$(cat $f/scaling_governor 2>/dev/null)
  rel=$(cat $f/related_cpus 2>/dev/null); echo "${c##*/cpu}|$max|$gov|$rel"
done
echo '@@thermal'
for z in /sys/class/thermal/thermal_zone*; do
  echo "$(cat $z/type 2>/dev/null)|$(cat $z/temp 2>/dev/null)"
done
echo '@@battery'
echo "temp|$(cat /sys/class/power_supply/battery/temp 2>/dev/null)"
echo "status|$(cat /sys/class/power_supply/battery/status 2>/dev/null)"
echo '@@df'; df -k /data/local/tmp 2>/dev/null
echo '@@end'
"""

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


def parse_cores(lines: list[str]) -> tuple[CoreInfo, ...]:
    """`cpu|max_freq_khz|governor|related_cpus` lines -> cores with cluster indices.

    Clusters come from related_cpus (cores sharing a cpufreq policy), else from equal max
    frequency; cluster 0 is the slowest.
    """
    raw: list[tuple[int, int | None, str | None, tuple[int, ...]]] = []
    for line in lines:
        fields = (line.split("|") + ["", "", "", ""])[:4]
        cpu = _int(fields[0])
        if cpu is None:
            continue
        raw.append((cpu, _int(fields[1]), fields[2].strip() or None, parse_cpu_list(fields[3])))
    raw.sort()
    groups: dict[tuple[int, ...], list[int]] = {}
    for cpu, freq, _gov, related in raw:
        key = related if cpu in related else (-1, freq or 0)
        groups.setdefault(key, []).append(cpu)
    freq_of = {cpu: freq or 0 for cpu, freq, _g, _r in raw}
    ordered = sorted(
        groups.values(), key=lambda members: (max(freq_of[c] for c in members), members)
    )
    cluster_of = {cpu: index for index, members in enumerate(ordered) for cpu in members}
    return tuple(CoreInfo(cpu, freq, gov, cluster_of[cpu]) for cpu, freq, gov, _r in raw)


def _celsius(text: str, scale: float) -> float | None:
    value = _int(text)
    return None if value is None else value / scale


def parse_thermal(lines: list[str]) -> tuple[ThermalZone, ...]:
    """`type|millidegrees` lines (some kernels report whole degrees: values under 200)."""
    zones = []
    for line in lines:
        name, _, temp = line.partition("|")
        value = _int(temp)
        celsius = None if value is None else (value / 1000 if abs(value) >= 200 else float(value))
        zones.append(ThermalZone(name.strip() or "unknown", celsius))
    return tuple(zones)


def parse_battery(lines: list[str]) -> tuple[float | None, str | None]:
    """(temperature in degrees C from tenths, status text)."""
    fields = dict(line.partition("|")[::2] for line in lines)
    temp = _celsius(fields.get("temp", ""), 10.0)
    status = fields.get("status", "").strip() or None
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
    )
