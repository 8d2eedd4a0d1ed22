"""The simulated phone behaves like one: its shell is mksh, its tools toybox, nothing of this host's
GNU userland is on it; and its profiles refuse what real phones refuse (thermal zones, an offline
or cpuset-excluded big core, a missing cpufreq folder, vendor governors and battery paths,
Android 8-10's toolbox grep), which the device layer must see."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from deploy.devices.android import AndroidDevice

if TYPE_CHECKING:
    from deploy.devices.info import TemperatureSource
from deploy.devices.simulator import PROFILES, SimulatedDevice, get_profile

Start = Callable[..., SimulatedDevice]
Connect = Callable[..., AndroidDevice]


def _phone(start_phone: Start, connect: Connect, profile: object) -> AndroidDevice:
    return connect(start_phone(profile=profile).serial)


def temperature_source(facts: object) -> TemperatureSource:
    from deploy.devices.info import temperature_source as source  # new: fails alone if missing

    return source(facts)  # type: ignore[arg-type]


def test_the_shell_is_mksh_and_the_tools_are_toybox(phone: AndroidDevice) -> None:
    assert "MIRBSD KSH" in phone.shell("echo $KSH_VERSION", check=True).output
    assert phone.shell("readlink /system/bin/sh", check=True).output == "mksh\n"
    assert phone.shell("readlink /system/bin/cat", check=True).output == "toybox\n"
    # nothing of this host's userland: no /bin/sh, no /usr/bin, no awk, no bash
    for missing in ("/bin/sh", "/usr/bin", "/usr/bin/awk", "/bin/bash"):
        assert phone.shell(f"ls {missing}").exit_code != 0, missing
    for tool in ("awk", "bash", "gawk", "python3"):
        assert phone.shell(f"command -v {tool}").exit_code != 0, tool
    path = phone.shell("echo $PATH", check=True).output.strip().split(":")
    assert "/system/bin" in path and not {"/usr/bin", "/bin", "/usr/local/bin"} & set(path)
    # the commands bench-android sends work with these tools
    checked = "stat -c %s /system/props.txt && sha256sum /system/props.txt && getprop ro.hardware"
    assert phone.shell(checked, check=True).output.endswith("simulator\n")
    # mksh gives 128 + the signal number for a killed child, as the run wrapper expects
    assert phone.shell("sh -c 'kill -9 $$'").exit_code == 137


def test_android_14_and_android_9_profiles(start_phone: Start, connect: Connect) -> None:
    new = _phone(start_phone, connect, "x86_64")
    assert new.shell("getprop ro.build.version.sdk", check=True).output == "34\n"
    assert "Current temperatures from HAL:" in new.shell("dumpsys thermalservice").output
    old = _phone(start_phone, connect, "android9-offline-big-core")
    assert old.shell("getprop ro.build.version.release", check=True).output == "9\n"
    # no ThermalManagerService before Android 10
    assert old.shell("dumpsys thermalservice").output == "Can't find service: thermalservice\n"
    # BSD grep from toolbox: the one-letter options our commands use; toybox-only ones refused
    assert old.shell("grep -q ro.hardware /system/props.txt").exit_code == 0
    refused = old.shell("grep --color=never x /system/props.txt")
    assert refused.exit_code == 2 and refused.output.startswith("usage: grep")
    assert "BSD" not in new.shell("head -3 /system/bin/grep").output  # toybox's on Android 14


def test_thermal_zones_are_refused_like_selinux_and_dumpsys_answers(
    start_phone: Start, connect: Connect
) -> None:
    phone = _phone(start_phone, connect, "android14-thermal-denied")
    listed = phone.shell("ls /sys/class/thermal", check=True).output.split()
    assert listed == [f"thermal_zone{i}" for i in range(5)]  # the shell may list them...
    read = phone.shell("cat /sys/class/thermal/thermal_zone1/temp")  # ...not read them
    assert read.exit_code == 1
    assert read.output == "cat: /sys/class/thermal/thermal_zone1/temp: Permission denied\n"
    facts = phone.info()
    assert all(z.denied and z.temp_c is None for z in facts.thermal_zones)
    assert facts.battery_temp_source == "dumpsys battery" and facts.battery_temp_c == 31.0
    assert facts.thermalservice == "ok"
    cpu = {z.name: z.temp_c for z in facts.hal_temperatures if z.hal_type == 0}
    assert cpu == {"cpu-0-0-usr": 38.5, "cpu-1-0-usr": 41.2}
    source = temperature_source(facts)
    assert source.kind == "thermalservice"
    assert source.read(phone.shell(source.command).output) == 41.2


def test_no_temperature_at_all_when_dumpsys_is_refused(
    start_phone: Start, connect: Connect
) -> None:
    phone = _phone(start_phone, connect, "android14-no-temperature")
    denial = phone.shell("dumpsys battery", check=True).output
    assert denial.startswith("Permission Denial: can't dump BatteryService from from pid=")
    facts = phone.info()
    assert facts.thermalservice == facts.dumpsys_battery == "denied"
    assert facts.battery_temp_c is None and temperature_source(facts).kind == "none"


def test_battery_and_android_9_fallbacks(start_phone: Start, connect: Connect) -> None:
    # Android 9 with refused sysfs: no thermalservice, so the battery through dumpsys
    refused = dataclasses.replace(get_profile("android9-offline-big-core"), thermal_denied=True)
    facts = _phone(start_phone, connect, refused).info()
    assert facts.thermalservice == "missing" and facts.hal_temperatures == ()
    source = temperature_source(facts)
    assert (source.kind, source.command, facts.battery_temp_c) == (
        "battery",
        "dumpsys battery",
        31.0,
    )
    # a vendor's battery folder (power_supply/bms)
    vendor = _phone(start_phone, connect, "android13-vendor").info()
    assert vendor.battery_temp_c == 31.0
    assert vendor.battery_temp_source == "/sys/class/power_supply/bms/temp"


def test_an_offline_big_core_is_refused_by_taskset_and_skipped(
    start_phone: Start, connect: Connect
) -> None:
    phone = _phone(start_phone, connect, "android9-offline-big-core")
    refused = phone.shell("taskset 80 true")
    assert refused.exit_code == 1
    assert "failed to set pid" in refused.output and "Invalid argument" in refused.output
    assert phone.shell("taskset c0 true").exit_code == 0  # cpu6 is left: it runs there
    facts = phone.info()
    assert facts.online_cpus == (0, 1, 2, 3, 4, 5, 6)
    assert facts.biggest_core == 6 and facts.big_core_mask == "40"
    choice = facts.core_choice
    assert choice.fastest == 7 and "cpu7 (3.19 GHz) is offline" in choice.reason
    assert phone.shell(f"taskset {facts.big_core_mask} true").exit_code == 0


def test_a_core_outside_the_shells_cpuset_is_skipped(start_phone: Start, connect: Connect) -> None:
    fenced = dataclasses.replace(get_profile("x86_64"), allowed_cpus=(0, 1, 2, 3, 4, 5, 6))
    phone = _phone(start_phone, connect, fenced)
    assert phone.shell("taskset -p $$", check=True).output.endswith("affinity mask: 7f\n")
    assert "Invalid argument" in phone.shell("taskset 80 true").output
    facts = phone.info()
    assert facts.allowed_cpus == (0, 1, 2, 3, 4, 5, 6) and facts.biggest_core == 6
    assert "outside the shell's allowed CPUs (0,1,2,3,4,5,6)" in facts.core_choice.reason


def test_a_big_core_without_cpufreq_is_chosen_by_capacity(
    start_phone: Start, connect: Connect
) -> None:
    phone = _phone(start_phone, connect, "android13-missing-cpufreq")
    assert phone.shell("ls /sys/devices/system/cpu/cpu7/cpufreq").exit_code != 0
    facts = phone.info()
    prime = next(c for c in facts.cores if c.cpu == 7)
    assert prime.max_freq_khz is None and prime.capacity == 1024 and prime.has_cpufreq is False
    assert facts.biggest_core == 7 and "by cpu_capacity" in facts.core_choice.reason
    assert facts.clusters[-1] == (7,)


def test_vendor_governors_install_refusal_and_no_simpleperf(
    start_phone: Start, connect: Connect
) -> None:
    phone = _phone(start_phone, connect, "android13-vendor")
    facts = phone.info()
    assert facts.governors[0] == "walt" and facts.governors[7] == "sugov_ext"
    phone.shell("echo PK > /data/local/tmp/a.apk", check=True)
    refused = phone.shell("pm install -r -g /data/local/tmp/a.apk")
    assert refused.exit_code == 1
    assert refused.output == "Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]\n"
    assert phone.shell("command -v simpleperf").exit_code != 0


def test_every_profile_starts_and_answers(start_phone: Start, connect: Connect) -> None:
    refusals = {"android14-thermal-denied", "android14-no-temperature"}
    refusals |= {"android9-offline-big-core", "android13-missing-cpufreq", "android13-vendor"}
    assert set(PROFILES) == {"x86_64", "arm64"} | refusals
    for name in PROFILES:
        phone = _phone(start_phone, connect, name)
        assert phone.shell("getprop ro.mobilenet_deploy.simulator.profile").output == f"{name}\n"


def test_set_temperature_reaches_sysfs_and_dumpsys(start_phone: Start, connect: Connect) -> None:
    sim = start_phone(profile="android14-thermal-denied")
    phone = connect(sim.serial)
    sim.set_temperature("cpu-1-0-usr", 82.0)
    assert "mValue=82.0, mType=0, mName=cpu-1-0-usr" in phone.shell("dumpsys thermalservice").output
    assert (sim.root / "sys/class/thermal/thermal_zone1/temp").read_text() == "82000\n"
    assert "Permission denied" in phone.shell("cat /sys/class/thermal/thermal_zone1/temp").output
    with pytest.raises(Exception, match="no thermal zone"):
        sim.set_temperature("nope", 1.0)
