"""`python -m bench <command>`: a thin wrapper over the importable API (see deploy.cli)."""

from __future__ import annotations

from deploy.cli import run_cli

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
}


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m bench", COMMANDS, argv)
