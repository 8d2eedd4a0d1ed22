"""`python -m deploy simulator` / `nox -s simulator`: serve one simulated phone until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from deploy.devices.simulator.faults import Faults
from deploy.devices.simulator.profiles import PROFILES
from deploy.devices.simulator.server import AUTH_MODES, SimulatedDevice


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=5555, help="TCP port on 127.0.0.1 (0: any free)"
    )
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="x86_64",
        help="x86_64/arm64: healthy phones; the others carry a refusal real phones make "
        "(see deploy/devices/simulator/profiles.py)",
    )
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="accept",
        help="accept: any key (a user tapping Allow); keys: only --known-key; refuse: none",
    )
    parser.add_argument("--known-key", type=Path, action="append", default=[], metavar="ADBKEY_PUB")
    parser.add_argument(
        "--sandbox", type=Path, help="folder that is the phone's / (default: a temp dir)"
    )
    parser.add_argument(
        "--accept-delay-s", type=float, default=0.0, help="time the user takes to tap Allow"
    )
    parser.add_argument(
        "--unsafe-host-shell",
        action="store_true",
        help="run the phone's shell commands unconfined on this host (no bubblewrap sandbox): "
        "anyone who can connect can then use this machine as you",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument("--drop-after-bytes", type=int, help="close the connection after N bytes")
    faults.add_argument("--hang-after-bytes", type=int, help="stop answering after N bytes")
    faults.add_argument("--unauthorized", action="store_true", help="never answer the Allow prompt")
    faults.add_argument("--disk-full", action="store_true", help="every write fails: no space left")
    faults.add_argument("--quota-bytes", type=int, help="writes fail beyond this many bytes")
    faults.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before each packet sent"
    )
    faults.add_argument("--bandwidth-mb-s", type=float, help="link speed cap in MB/s")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections and faults")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    faults = Faults(
        drop_after_bytes=args.drop_after_bytes,
        hang_after_bytes=args.hang_after_bytes,
        unauthorized=args.unauthorized,
        disk_full=args.disk_full,
        quota_bytes=args.quota_bytes,
        latency_ms=args.latency_ms,
        bandwidth_mb_s=args.bandwidth_mb_s,
    )
    keys = [path.read_text() for path in args.known_key]
    device = SimulatedDevice(
        port=args.port,
        profile=args.profile,
        auth=args.auth,
        known_keys=keys,
        faults=faults,
        sandbox=args.sandbox,
        accept_delay_s=args.accept_delay_s,
        unsafe_host_shell=args.unsafe_host_shell,
    ).start()

    def stop(_signum: int, _frame: object) -> None:
        device._stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(device.serial, flush=True)
    print(
        f"simulated phone {device.serial}: profile {device.profile.name}, auth {device.auth}, "
        f"faults {faults.describe()}, sandbox {device.root}"
        f"{' (UNCONFINED host shell)' if args.unsafe_host_shell else ''}\n"
        f"  connect: adb connect {device.serial}  |  "
        f"python -m deploy devices --serial {device.serial}"
        "\n  stop: Ctrl-C",
        file=sys.stderr,
        flush=True,
    )
    try:
        device.serve_forever()
    finally:
        device.stop()
    return 0
