"""`python -m bench build-runner [--arm64] [--force]`: build (or reuse) the native runner."""

from __future__ import annotations

import argparse
import json

from bench.runner import build


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arm64", action="store_true", help="also build the self-contained arm64 phone bundle"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the key matches")


def run(args: argparse.Namespace) -> int:
    host = build.build_host(force=args.force)
    print(f"host runner: {host}")
    if args.arm64:
        bundle = build.build_arm64_bundle(force=args.force)
        info = json.loads((bundle.path / "BUNDLE.json").read_text())
        print(f"arm64 bundle: {bundle.path} ({info['size_bytes'] / 2**20:.1f} MiB)")
        print(f"  on the phone: {info['usage']}")
    return 0
