"""`python -m bench bench-android` (nox -s bench-android): the session from the command line."""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import options
from bench.errors import AndroidBenchError
from bench.report.sessions import render_devices
from bench.session import run_session
from bench.targets.android import MODES, HostChecks, Options, android_target
from bench.targets.base import Artifact, Target
from deploy.devices import checks, discovery

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
    add_shell_device_arguments(parser)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="shell",
        help="shell: bench_runner from adb shell (pinned, as the papers); app: the Android app",
    )
    parser.add_argument("--apk", type=Path, help="--mode app: the benchmark APK to install")
    parser.add_argument(
        "--io-timeout", type=float, default=10.0, help="seconds of silence before giving up"
    )


def add_shell_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Selection, measuring, resume and cooldown options of a device driven through its shell
    (a phone over ADB, a board over SSH)."""
    options.add_selection_arguments(parser, "recipe names (default: all)")
    options.add_pte_argument(parser)
    options.add_ab_argument(parser)
    options.add_measurement_arguments(parser)
    options.add_profile_arguments(parser)
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
        "--cool-pause",
        type=float,
        default=checks.DEFAULT_PAUSE_S,
        help="on a phone whose temperature cannot be read: pause this many seconds before each "
        "run instead of cooling down",
    )
    parser.add_argument(
        "--warn-rise",
        type=float,
        default=5.0,
        help="warn when a run heats the CPU by this many C or more",
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


def shell_options(args: argparse.Namespace, **more: Any) -> Options:
    """The Options of `add_shell_device_arguments`, plus `more`."""
    return Options(
        all_cores=args.all_cores,
        cleanup=args.cleanup,
        timeout_s=args.timeout,
        cool_to_c=args.cool_to,
        cool_max_wait_s=args.cool_max_wait,
        cool_pause_s=args.cool_pause,
        warn_rise_c=args.warn_rise,
        **more,
    )


def options_from(args: argparse.Namespace) -> Options:
    return shell_options(
        args,
        device_options={"io_timeout_s": args.io_timeout},
        apk=args.apk,
        check_cache=Path(args.store).with_name("device-checks.json"),
    )


def run(args: argparse.Namespace) -> int:

    artifacts = options.ab_artifacts(args) or options.selected_artifacts(args)
    devices = serials(args.serial)
    phone_options = options_from(args)
    needed = sum(a.path.stat().st_size for a in artifacts if a.path.exists())
    checks = HostChecks()  # the host runner's outputs, shared by every emulated device
    targets = [
        android_target(serial, args.mode, phone_options, needed_bytes=needed, host_checks=checks)
        for serial in dict.fromkeys(devices)
    ]
    return run_targets(targets, artifacts, args, "bench-android")


def run_targets(
    targets: Sequence[Target], artifacts: Sequence[Artifact], args: argparse.Namespace, command: str
) -> int:
    """The session over `targets`, progress per device on stderr, one table per device, and
    every failure in one line each (exit 2 when there is any)."""
    from deploy.console import make_console

    console = make_console()
    err = make_console(stderr=True)
    lock = threading.Lock()

    def say(serial: str, message: str) -> None:
        with lock:
            err.print(f"[{serial}] {message}", highlight=False, markup=False, soft_wrap=True)

    config = options.runner_config(args)
    outcomes = run_session(
        targets,
        artifacts,
        config,
        args.store,
        rounds=options.rounds(args),
        skip_stored=not args.force,
        say=say,
        **options.profile_options(args),
    )
    render_devices(outcomes, console, command)
    console.print(f"stored in {args.store}")
    for line in options.ab_lines(args, [r for o in outcomes for r in o.rows]) if args.ab else []:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    problems = []
    for outcome in outcomes:
        if outcome.error:
            problems.append(f"{outcome.target}: {outcome.error}")
        for row in outcome.rows:
            if row.status == "failed":
                problems.append(f"{outcome.target}: {row.model} {row.recipe}: {row.error}")
            elif row.rounds_failed:
                problems.append(
                    f"{outcome.target}: {row.model} {row.recipe}: {row.rounds_failed} round(s) "
                    f"failed (rerun to measure them): {row.error}"
                )
    if problems:
        err.print(f"{len(problems)} failure(s):", markup=False)
        for line in problems:
            err.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        return 2
    return 0
