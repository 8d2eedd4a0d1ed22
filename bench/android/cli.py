"""`python -m bench bench-android` (nox -s bench-android): the session from the command line."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

from bench import options
from bench.android import session, table
from bench.errors import AndroidBenchError
from bench.host import selected_artifacts
from deploy.devices import discovery

NO_DEVICE = (
    "no Android device found: enable Developer options and USB debugging on the phone, plug it "
    "in and accept the 'Allow USB debugging?' prompt; or over Wi-Fi run `adb tcpip 5555` and "
    "pass --serial PHONE_IP:5555; or pass --serial 127.0.0.1:PORT for a simulator "
    "(`nox -s simulator -- --port 5555`)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serial",
        action="append",
        default=[],
        help="device serial or HOST:PORT (repeatable; default: ANDROID_SERIAL, else every USB "
        "device)",
    )
    options.add_selection_arguments(parser, "recipe names (default: all)")
    parser.add_argument(
        "--pte", nargs="+", type=Path, help="benchmark these .pte files instead of the manifest"
    )
    options.add_measurement_arguments(parser)
    parser.add_argument(
        "--all-cores",
        action="store_true",
        help="also run each artifact on every core with one thread per core (an extra figure)",
    )
    parser.add_argument(
        "--force", action="store_true", help="measure again what the store already has"
    )
    parser.add_argument(
        "--cleanup", action="store_true", help="remove our folder from each device at the end"
    )
    parser.add_argument(
        "--mode",
        choices=session.MODES,
        default="shell",
        help="shell: bench_runner from adb shell (pinned, as the papers); app: the Android app",
    )
    parser.add_argument("--apk", type=Path, help="--mode app: the benchmark APK to install")
    parser.add_argument("--timeout", type=float, help="seconds per run (default: budget + 300)")
    parser.add_argument(
        "--cool-to",
        type=float,
        default=45.0,
        help="before each run wait until the hottest CPU zone is at most this many C",
    )
    parser.add_argument(
        "--cool-max-wait", type=float, default=120.0, help="longest cooldown wait, seconds"
    )
    parser.add_argument(
        "--warn-rise",
        type=float,
        default=5.0,
        help="warn when a run heats the CPU by this many C or more",
    )
    parser.add_argument(
        "--io-timeout", type=float, default=10.0, help="seconds of silence before giving up"
    )


def serials(given: list[str]) -> list[str]:
    """--serial values, else ANDROID_SERIAL, else every USB device (NoDeviceError if none)."""
    chosen = [s for value in given for s in value.split(",") if s.strip()]
    if chosen:
        return chosen
    env = os.environ.get("ANDROID_SERIAL", "").strip()
    if env:
        return [env]
    usb = discovery.usb_devices()
    if not usb:
        raise AndroidBenchError(NO_DEVICE)
    busy = [e for e in usb if e.state != "available"]
    if busy and len(busy) == len(usb):
        raise AndroidBenchError(f"{busy[0].serial} is {busy[0].state}: {busy[0].detail}")
    return [e.serial for e in usb if e.state == "available"]


def options_from(args: argparse.Namespace) -> session.Options:
    return session.Options(
        config=options.runner_config(args),
        all_cores=args.all_cores,
        force=args.force,
        cleanup=args.cleanup,
        mode=args.mode,
        timeout_s=args.timeout,
        cool_to_c=args.cool_to,
        cool_max_wait_s=args.cool_max_wait,
        warn_rise_c=args.warn_rise,
        device_options={"io_timeout_s": args.io_timeout},
        apk=args.apk,
    )


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console

    artifacts = selected_artifacts(args)
    devices = serials(args.serial)
    options = options_from(args)
    console = make_console()
    err = make_console(stderr=True)
    lock = threading.Lock()

    def say(serial: str, message: str) -> None:
        with lock:
            err.print(f"[{serial}] {message}", highlight=False, markup=False, soft_wrap=True)

    outcomes = session.run_session(devices, artifacts, options, args.store, say=say)
    table.render(outcomes, console)
    console.print(f"stored in {args.store}")
    problems = []
    for outcome in outcomes:
        if outcome.error:
            problems.append(f"{outcome.serial}: {outcome.error}")
        for row in outcome.rows:
            if row.status == "failed":
                problems.append(f"{outcome.serial}: {row.model} {row.recipe}: {row.error}")
    if problems:
        err.print(f"{len(problems)} failure(s):", markup=False)
        for line in problems:
            err.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        return 2
    return 0
