"""`python -m bench bench-ssh` (nox -s bench-ssh): the manifest's artifacts on Linux boards over
SSH (Raspberry Pi, Jetson, any arm64 or x86_64 box), the way bench-android measures a phone:
the fastest core, one thread, rounds, temperatures; provenance `board`, the same store, compare
and reports. The target is `bench.targets.ssh.SshTarget`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import options
from bench.android.cli import add_shell_device_arguments, run_targets, shell_options
from bench.targets.ssh import Connection, SshTarget


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        action="append",
        required=True,
        help="user@board (repeatable: several boards are measured in parallel)",
    )
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--key", type=Path, help="private key (default: ssh-agent, ~/.ssh/id_*)")
    parser.add_argument("--known-hosts", type=Path, help="default: ~/.ssh/known_hosts")
    parser.add_argument(
        "--trust-new-host",
        action="store_true",
        help="accept and remember a board's host key on first contact (a changed key is always "
        "refused)",
    )
    parser.add_argument(
        "--io-timeout", type=float, default=30.0, help="seconds of silence before giving up"
    )
    add_shell_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    artifacts = options.ab_artifacts(args) or options.selected_artifacts(args)
    board_options = shell_options(args)
    needed = sum(a.path.stat().st_size for a in artifacts if a.path.exists())
    targets = [
        SshTarget(
            Connection(
                host,
                args.port,
                args.key,
                args.known_hosts,
                args.trust_new_host,
                io_timeout_s=args.io_timeout,
            ),
            board_options,
            needed_bytes=needed,
        )
        for host in dict.fromkeys(args.host)
    ]
    return run_targets(targets, artifacts, args, "bench-ssh")
