"""`python -m deploy devices`: list devices with model and state; `--info`, `--cleanup`, and
`--check SERIAL`, the first-contact smoke test (deploy.devices.checks)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from deploy.devices import checks, discovery
from deploy.devices import info as facts_module
from deploy.devices.android import AndroidDevice
from deploy.devices.base import DEVICE_ROOT
from deploy.devices.errors import DeviceError, DeviceUnauthorizedError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serial",
        action="append",
        default=[],
        help="USB serial or HOST:PORT (repeatable; default: ANDROID_SERIAL, then USB devices)",
    )
    parser.add_argument(
        "--info", action="store_true", help="print each device's SoC, cores, temperatures"
    )
    parser.add_argument(
        "--cleanup", action="store_true", help=f"remove {DEVICE_ROOT} from the device"
    )
    parser.add_argument(
        "--check",
        nargs="?",
        const="",
        action="append",
        default=[],
        metavar="SERIAL",
        help="first contact: check the phone (adb, /data/local/tmp, big core, runner, "
        "temperatures, space, governor, simpleperf); pass, warn or fail, with the fix",
    )
    parser.add_argument(
        "--runner",
        type=Path,
        metavar="DIR",
        help="--check: the runner folder to push and start with --help (default: the arm64 "
        "bundle of `nox -s build-runner -- --arm64`, for an arm64 phone)",
    )
    parser.add_argument(
        "--cool-pause",
        type=float,
        default=checks.DEFAULT_PAUSE_S,
        help="--check: the pause bench-android makes when no temperature is readable, seconds",
    )
    parser.add_argument(
        "--timeout-s", type=float, default=5.0, help="connect/IO timeout per device"
    )
    parser.add_argument(
        "--auth-timeout-s", type=float, default=60.0, help="time to tap Allow on the phone"
    )


def _probe(
    serial: str, args: argparse.Namespace
) -> tuple[discovery.DeviceEntry, AndroidDevice | None]:
    kind = "tcp" if discovery.split_tcp_serial(serial) else "usb"
    try:
        device = AndroidDevice.connect(
            serial,
            connect_timeout_s=args.timeout_s,
            io_timeout_s=args.timeout_s,
            auth_timeout_s=args.auth_timeout_s,
        )
    except DeviceUnauthorizedError as exc:
        return discovery.DeviceEntry(serial, "unauthorized", kind, detail=str(exc)), None
    except DeviceError as exc:
        if not args.cleanup and not args.info:
            return discovery.DeviceEntry(serial, "offline", kind, detail=str(exc)), None
        raise
    model = device.shell("getprop ro.product.model", timeout_s=args.timeout_s).output.strip()
    return discovery.DeviceEntry(serial, "device", kind, model=model), device


def _check(serial: str, args: argparse.Namespace) -> bool:
    """Print one phone's checks; True when none failed."""
    try:
        device = AndroidDevice.connect(
            serial or None,
            connect_timeout_s=args.timeout_s,
            io_timeout_s=max(args.timeout_s, 10.0),
            auth_timeout_s=args.auth_timeout_s,
        )
    except DeviceUnauthorizedError as exc:
        print(f"{serial or 'device'}")
        fix = "tap Allow on the phone (tick 'Always allow'), then check again"
        print("  " + checks.CheckResult("adb", checks.FAIL, str(exc), fix).line())
        print(f"  {checks.counts([checks.CheckResult('adb', checks.FAIL, '')])}")
        return False
    with device:
        info = device.info()
        bundle = args.runner or checks.default_bundle(info.abi)
        probe = None
        if bundle is not None and bundle.is_dir():
            probe = checks.runner_probe(bundle, info.abi, device.root)
        needed = sum(p.stat().st_size for p in probe.files) if probe else 0
        results = checks.run_checks(
            device, info, runner=probe, needed_bytes=needed, pause_s=args.cool_pause
        )
        print(f"{device.serial}: {info.summary()}")
        for result in results:
            print("  " + result.line())
        print(f"  {checks.counts(results)}")
    return all(r.status != checks.FAIL for r in results)


def run(args: argparse.Namespace) -> int:
    if args.check:
        ok = [
            _check(serial or (args.serial[0] if args.serial else ""), args) for serial in args.check
        ]
        return 0 if all(ok) else 1
    serials = list(args.serial)
    if not serials and os.environ.get("ANDROID_SERIAL"):
        serials = [os.environ["ANDROID_SERIAL"]]
    usb = [] if serials else discovery.usb_devices()
    if not serials and not usb:
        print("no devices: plug in a phone with USB debugging on, or pass --serial HOST:PORT")
        return 0 if not (args.cleanup or args.info) else 1
    for entry in usb:
        if entry.state != "available":
            print(entry.line())
        else:
            serials.append(entry.serial)
    for serial in serials:
        entry, device = _probe(serial, args)
        print(entry.line())
        if device is None:
            continue
        with device:
            if args.info:
                facts = device.info()
                print("  " + facts.summary())
                print("  clusters: " + " | ".join(",".join(map(str, c)) for c in facts.clusters))
                governors = sorted({g or "?" for g in facts.governors.values()})
                print("  governors: " + ", ".join(governors))
                zones = ", ".join(
                    f"{z.name} {z.temp_c:.1f}C" for z in facts.thermal_zones if z.temp_c is not None
                )
                source = facts_module.temperature_source(facts)
                print(f"  thermal: {zones or 'n/a'} (read through {source.detail})")
                battery = (
                    f"{facts.battery_temp_c:.1f}C" if facts.battery_temp_c is not None else "n/a"
                )
                print(f"  battery: {battery}, {facts.battery_status or 'status n/a'}")
                if facts.free_bytes is not None:
                    print(f"  free: {facts.free_bytes / 1e9:.1f} GB in /data/local/tmp")
            if args.cleanup:
                device.cleanup()
                print(f"  removed {device.root}")
    return 0
