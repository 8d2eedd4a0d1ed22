"""`python -m deploy.devices.simulator --port PORT`: serve one simulated phone until stopped."""

from __future__ import annotations

import argparse
import sys

from deploy.devices.errors import DeviceError
from deploy.devices.simulator import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.devices.simulator", description=__doc__)
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cli.run(args)
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
