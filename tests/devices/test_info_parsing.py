"""DeviceInfo from getprop and sysfs text: pure functions, real phone output shapes."""

from __future__ import annotations

from deploy.devices import info
from deploy.devices.base import CoreInfo, DeviceInfo

PIXEL_LIKE = """
@@getprop
[ro.product.manufacturer]: [Google]
[ro.product.model]: [Pixel 7]
[ro.soc.model]: [GS201]
[ro.board.platform]: [gs201]
[ro.hardware]: [panther]
[ro.build.version.release]: [14]
[ro.build.version.sdk]: [34]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a,armeabi]
@@cpus
0|1803000|sched_pixel|0 1 2 3
1|1803000|sched_pixel|0 1 2 3
2|1803000|sched_pixel|0 1 2 3
3|1803000|sched_pixel|0 1 2 3
4|2348000|sched_pixel|4 5
5|2348000|sched_pixel|4 5
6|2850000|sched_pixel|6 7
7|2850000|sched_pixel|6 7
@@thermal
BIG|41250
soc_therm|39000
legacy|37
@@battery
temp|305
status|Charging
@@df
Filesystem      1K-blocks     Used Available Use% Mounted on
/dev/block/dm-48 115000000 60000000 55000000  53% /data
@@end
"""


def test_parse_real_phone_output() -> None:
    facts = info.parse_info("ABC123", PIXEL_LIKE)
    assert (facts.manufacturer, facts.model, facts.soc) == ("Google", "Pixel 7", "GS201")
    assert facts.android_version == "14" and facts.sdk == 34
    assert facts.abi == "arm64-v8a" and facts.abis[1] == "armeabi-v7a"
    assert facts.clusters == ((0, 1, 2, 3), (4, 5), (6, 7))
    # two prime cores at the same frequency: the tie goes to the highest core id
    assert facts.biggest_core == 7 and facts.big_core_mask == "80"
    assert facts.governors[7] == "sched_pixel"
    assert [(z.name, z.temp_c) for z in facts.thermal_zones] == [
        ("BIG", 41.25),
        ("soc_therm", 39.0),
        ("legacy", 37.0),
    ]
    assert facts.battery_temp_c == 30.5 and facts.charging is True
    assert facts.free_bytes == 55_000_000 * 1024
    assert facts.is_simulator is False


def test_clusters_by_frequency_without_related_cpus() -> None:
    cores = info.parse_cores(["0|1000|a|", "1|1000|a|", "2|2000|b|", "3|3000|b|"])
    assert [c.cluster for c in cores] == [0, 0, 1, 2]


def test_missing_sysfs_values_are_none() -> None:
    cores = info.parse_cores(["0|||", "1|||"])
    assert cores == (CoreInfo(0, None, None, 0), CoreInfo(1, None, None, 0))
    facts = info.parse_info("x", "@@getprop\n[ro.mobilenet_deploy.simulator]: [1]\n@@end\n")
    assert facts.is_simulator and facts.battery_temp_c is None and facts.free_bytes is None
    assert facts.biggest_core == 0 and facts.big_core_mask == "1"


def test_cpu_lists_and_df_variants() -> None:
    assert info.parse_cpu_list("0-3 7") == (0, 1, 2, 3, 7)
    assert info.parse_cpu_list("4,5") == (4, 5)
    toybox = [
        "Filesystem 1K-blocks Used Available Use% Mounted on",
        "/dev/fuse 100 40 60 40% /data",
    ]
    assert info.parse_df_available(toybox) == 60 * 1024
    wrapped = [
        "Filesystem 1K-blocks Used Avail Use% Mounted on",
        "/dev/very/long/name",
        "100 40 60 40% /",
    ]
    assert info.parse_df_available(wrapped) == 60 * 1024


def test_mask_for_high_core_ids() -> None:
    cores = tuple(CoreInfo(i, 2000 if i == 9 else 1000, None, 0) for i in range(10))
    facts = DeviceInfo("s", "m", "m", "", "", "", "", None, "", (), cores)
    assert facts.big_core_mask == "200"
