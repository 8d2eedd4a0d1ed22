"""The one place terminal output is configured: wide tables even when piped or logged."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A rich console; 160 columns when not a terminal so tables do not wrap in logs."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)
