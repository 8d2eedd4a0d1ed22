"""`python -m deploy devices --check SERIAL`: the first-contact smoke test against every simulator
profile, each check saying pass, warn or fail (with its fix), as the README shows them."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.devices import cli as devices_cli
from deploy.devices.simulator import PROFILES, SimulatedDevice
from tests.bench.conftest import arm64_bundle, host_runner  # noqa: F401 (fixtures)
from tests.conftest import require_command

Start = Callable[..., SimulatedDevice]
NAMES = ("adb", "tmp", "big core", "runner", "temperature", "free space", "governor")
NAMES += ("charging", "simpleperf")

#: What --check says on each profile (without --runner: no x86_64 runner to try), besides pass.
EXPECTED: dict[str, dict[str, str]] = {
    "x86_64": {"runner": "warn"},
    "android14-thermal-denied": {"runner": "warn"},
    "android14-no-temperature": {"runner": "warn", "temperature": "warn"},
    "android9-offline-big-core": {"runner": "warn", "big core": "warn"},
    "android13-missing-cpufreq": {"runner": "warn", "big core": "warn", "governor": "warn"},
    "android13-vendor": {"runner": "warn", "simpleperf": "warn"},
}


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str], str]:
    parser = argparse.ArgumentParser()
    devices_cli.add_arguments(parser)
    code = devices_cli.run(parser.parse_args(["--timeout-s", "5", *argv]))
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines():
        match = re.match(r"^  (pass|warn|fail)  (.{11}) ", line)
        if match:
            lines[match.group(2).strip()] = line.strip()
    return code, lines, out


def _status(lines: dict[str, str]) -> dict[str, str]:
    return {name: line.split()[0] for name, line in lines.items()}


@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_check_prints_pass_warn_fail_per_profile(
    start_phone: Start, capsys: pytest.CaptureFixture[str], profile: str
) -> None:
    sim = start_phone(profile=profile)
    code, lines, out = _check(capsys, "--check", sim.serial, "--cool-pause", "30")
    assert tuple(lines) == NAMES, out
    expected = {name: EXPECTED[profile].get(name, "pass") for name in NAMES}
    assert _status(lines) == expected, out
    assert code == 0  # warnings only
    assert out.splitlines()[0].startswith(f"{sim.serial}: mobilenet-deploy")
    counted = sum(1 for s in expected.values() if s == "warn")
    assert out.splitlines()[-1].strip() == f"{9 - counted} pass, {counted} warn, 0 fail"
    for name, status in expected.items():
        if status != "pass":
            assert "; fix: " in lines[name], lines[name]  # every warning says what to do


def test_check_lines_say_what_each_refusal_is(
    start_phone: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    said = {}
    for profile in ("android14-thermal-denied", "android14-no-temperature"):
        _code, lines, _out = _check(capsys, "--check", start_phone(profile=profile).serial)
        said[profile] = lines
    assert (
        "through dumpsys thermalservice, hottest CPU 41.2 C"
        in (said["android14-thermal-denied"]["temperature"])
    )
    assert (
        "sysfs thermal zones refused (Permission denied: SELinux)"
        in (said["android14-thermal-denied"]["temperature"])
    )
    assert (
        "cool-down cannot see temperatures on this phone: using a fixed 30 s pause"
        in said["android14-no-temperature"]["temperature"]
    )
    _code, lines, _out = _check(
        capsys, "--check", start_phone(profile="android9-offline-big-core").serial
    )
    assert (
        "cpu6 (2.50 GHz), the fastest core taskset can use: cpu7 (3.19 GHz) is offline"
        in (lines["big core"])
    )
    assert "(mask 40)" in lines["big core"]


def test_check_runs_the_runner_through_its_loader(
    start_phone: Start,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    host_runner: Path,  # noqa: F811
) -> None:
    from bench.android.payload import x86_64_payload

    folder = tmp_path / "runner"
    for local, name in x86_64_payload().files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(local)
    sim = start_phone()
    code, lines, out = _check(capsys, "--check", sim.serial, "--runner", str(folder))
    assert code == 0 and set(_status(lines).values()) == {"pass"}, out
    assert "`./bench_runner --help` ran pinned (exit 2, its usage printed)" in lines["runner"]
    # a runner that cannot start fails the check, with its own error and the exit status
    (folder / "bench_runner").unlink()
    (folder / "bench_runner").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(60))  # not runnable
    (folder / "bench_runner").chmod(0o755)
    code, lines, out = _check(capsys, "--check", sim.serial, "--runner", str(folder))
    assert code == 1 and lines["runner"].startswith("fail  runner"), out
    assert re.search(r"failed \(exit 12[67]\): taskset: exec \./bench_runner", lines["runner"])
    assert "; fix: " in lines["runner"]
    assert out.splitlines()[-1].strip() == "8 pass, 0 warn, 1 fail"


def test_check_arm64_bundle_through_its_loader_under_qemu(
    start_phone: Start,
    capsys: pytest.CaptureFixture[str],
    arm64_bundle: object,  # noqa: F811
) -> None:
    require_command("qemu-aarch64-static")
    sim = start_phone(profile="arm64")
    bundle = str(arm64_bundle.path)  # type: ignore[attr-defined]
    code, lines, out = _check(capsys, "--check", sim.serial, "--runner", bundle)
    assert code == 0 and set(_status(lines).values()) == {"pass"}, out
    assert (
        "the arm64-v8a bundle: `./ld-linux-aarch64.so.1 --library-path ./lib ./bench_runner "
        "--help` ran pinned (exit 2, its usage printed)" in lines["runner"]
    )


def test_check_of_a_phone_that_refuses_the_key(
    start_phone: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = start_phone(auth="refuse")
    code, lines, out = _check(capsys, "--check", sim.serial)
    assert code == 1 and list(lines) == ["adb"], out
    assert lines["adb"].startswith("fail  adb") and "tap Allow" in lines["adb"]


def test_every_profile_is_covered() -> None:
    from deploy.devices import checks

    assert set(EXPECTED) | {"arm64"} == set(PROFILES)
    assert checks.PROBES == ("tmp", "big core", "runner", "simpleperf")
