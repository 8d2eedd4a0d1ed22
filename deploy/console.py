"""The one place terminal output is configured: wide tables even when piped or logged."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A rich console; 160 columns when not a terminal so tables do not wrap in logs."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


def progress_bar(
    console: Console,
    label: str,
    *,
    elapsed: bool = True,
    remaining: bool = False,
    detail: bool = True,
    transient: bool = True,
) -> Any:
    """The project's progress bar: `label` (a rich column template, e.g. "[bold]export"), the bar,
    done/total, elapsed and remaining time, then the task's description (`detail`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[ProgressColumn] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if elapsed:
        columns.append(TimeElapsedColumn())
    if remaining:
        columns.append(TimeRemainingColumn())
    if detail:
        columns.append(TextColumn("{task.description}"))
    return Progress(*columns, console=console, transient=transient)
