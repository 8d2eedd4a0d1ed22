"""`python -m deploy <command>`: a thin wrapper over the importable API.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`;
register it in COMMANDS. A DeployError (or any project error) becomes one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from deploy import quiet
from deploy.errors import ProjectError

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "zoo": ("deploy.models.zoo", "print the zoo's params and MAdds beside the papers'"),
    "devices": (
        "deploy.devices.cli",
        "list Android devices (model, state); --info, --cleanup",
    ),
    "simulator": ("deploy.devices.simulator.cli", "serve a simulated Android phone on 127.0.0.1"),
    "export": ("deploy.export.cli", "export models to validated ExecuTorch artifacts + manifest"),
    "train-digits": (
        "deploy.training.digits",
        "train MobileNetV3-Small 0.5 on scikit-learn's digits; write a checkpoint + sidecar",
    ),
}


def build_parser(
    prog: str, commands: dict[str, tuple[str, str]], chosen: str | None = None
) -> argparse.ArgumentParser:
    """A parser naming every command; only `chosen` (all when None) has its module imported.

    Importing a command's module can pull in torch and take seconds; `--help` and the command
    actually run should not pay that for every other command.
    """
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in commands.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is None or name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


def run_cli(prog: str, commands: dict[str, tuple[str, str]], argv: list[str] | None) -> int:
    """Parse, run, and turn every project error into one line and a non-zero exit.

    Known third-party chatter is off (deploy.quiet) from before a command imports torch.
    """
    with quiet.installed():
        return _parse_and_run(prog, commands, argv)


def _parse_and_run(prog: str, commands: dict[str, tuple[str, str]], argv: list[str] | None) -> int:
    given = sys.argv[1:] if argv is None else argv
    chosen = next((arg for arg in given if not arg.startswith("-")), None)
    parser = build_parser(prog, commands, chosen if chosen in commands else "")
    args = parser.parse_args(given)
    try:
        return int(args._run(args) or 0)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished results were kept", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m deploy", COMMANDS, argv)
