"""Temperatures from `dumpsys thermalservice` and `dumpsys battery`, parsed from published phone
outputs (tests/devices/fixtures/README.md says where each came from), and the choice of where a
phone's temperature is read from when sysfs refuses."""

from __future__ import annotations

from pathlib import Path

from deploy.devices import info
from deploy.devices.base import DeviceInfo, ThermalZone

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_thermalservice_of_a_samsung_a52_android_12() -> None:
    zones = info.parse_thermalservice(_fixture("dumpsys_thermalservice_samsung_a52_android12.txt"))
    # the "Current temperatures from HAL:" section, not the cached one
    assert [(z.name, z.temp_c, z.hal_type) for z in zones][:3] == [
        ("AP", 25.6, 0),
        ("BAT", 23.8, 2),
        ("LRB", 24.7, 3),
    ]
    assert len(zones) == 9
    assert info.hottest_hal_cpu(zones) == 25.6  # AP is the CPU (type 0); PA (25.7) is not


def test_thermalservice_trimmed_to_its_hal_section() -> None:
    text = _fixture("dumpsys_thermalservice_galaxy_tab_a7_lite_android11.txt")
    zones = info.parse_thermalservice(text)
    assert [(z.name, z.temp_c, z.hal_type) for z in zones] == [("CPU", 29.1, 0)]
    assert info.hottest_hal_cpu(zones) == 29.1


def test_thermalservice_missing_or_refused() -> None:
    missing = _fixture("dumpsys_thermalservice_android9.txt")
    assert info.parse_thermalservice(missing) == ()
    assert info.dumpsys_state(missing) == "missing"
    refused = _fixture("dumpsys_battery_denied.txt")
    assert info.dumpsys_state(refused) == "denied"
    assert info.parse_dumpsys_battery(refused) == (None, None)
    assert info.dumpsys_state("") == ""


def test_dumpsys_battery_of_a_samsung_phone() -> None:
    text = _fixture("dumpsys_battery_samsung.txt")
    assert info.parse_dumpsys_battery(text) == (32.6, "Charging")  # tenths of C; status 2
    assert info.dumpsys_state(text) == "ok"


def test_battery_temperature_under_a_vendor_path() -> None:
    lines = [
        "temp|usb/temp|250",  # not a battery
        "temp|bms/temp|305",
        "status|Discharging",
    ]
    assert info.parse_battery_files(lines) == (30.5, "/sys/class/power_supply/bms/temp", False)
    refused = ["temp|battery/temp|cat: /sys/class/power_supply/battery/temp: Permission denied"]
    assert info.parse_battery_files(refused) == (None, "", True)
    samsung = ["temp|battery/batt_temp|318"]
    assert info.parse_battery_files(samsung)[0] == 31.8


def test_refused_thermal_zones_are_told_apart() -> None:
    lines = [
        "thermal_zone0|cat: /sys/class/thermal/thermal_zone0/type: Permission denied|"
        "cat: /sys/class/thermal/thermal_zone0/temp: Permission denied",
        "thermal_zone1|cpu-1-0-usr|41200",
    ]
    zones = info.parse_thermal(lines)
    assert zones == (
        ThermalZone("thermal_zone0", None, denied=True),
        ThermalZone("cpu-1-0-usr", 41.2),
    )


def _facts(**fields: object) -> DeviceInfo:
    return DeviceInfo("s", "m", "m", "", "", "", "", None, "", (), (), **fields)  # type: ignore[arg-type]


def test_temperature_source_falls_back_in_order() -> None:
    refused = (ThermalZone("thermal_zone0", None, denied=True),)
    hal = info.parse_thermalservice(_fixture("dumpsys_thermalservice_samsung_a52_android12.txt"))
    assert info.temperature_source(_facts(thermal_zones=(ThermalZone("cpu0", 40.0),))).kind == (
        "sysfs"
    )
    source = info.temperature_source(_facts(thermal_zones=refused, hal_temperatures=hal))
    assert source.kind == "thermalservice" and source.command == "dumpsys thermalservice"
    assert source.read(_fixture("dumpsys_thermalservice_samsung_a52_android12.txt")) == 25.6
    battery = info.temperature_source(
        _facts(thermal_zones=refused, battery_temp_c=32.6, battery_temp_source="dumpsys battery")
    )
    assert battery.kind == "battery" and battery.read(_fixture("dumpsys_battery_samsung.txt")) == (
        32.6
    )
    vendor = info.temperature_source(
        _facts(battery_temp_c=30.5, battery_temp_source="/sys/class/power_supply/bms/temp")
    )
    assert vendor.command == "cat /sys/class/power_supply/bms/temp" and vendor.read("305\n") == 30.5
    nothing = _facts(thermal_zones=refused, thermalservice="denied", dumpsys_battery="denied")
    assert info.temperature_source(nothing).kind == "none"
    assert "Permission denied" in info.why_no_temperature(nothing)
