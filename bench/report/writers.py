"""Every output format of `python -m bench compare`, in one registry: format name -> writer.

`bench.report.cli` shows every console writer and offers `--<name> PATH` for every file
writer, in registry order. A new format is one module with a function
`render(comparison) -> str` plus one line in `WRITERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from bench.compare import Comparison
from bench.report import html, tabular, terminal
from bench.report import json as json_report


@dataclass(frozen=True)
class FileWriter:
    """A document written to the path given as `--<name> PATH`."""

    render: Callable[[Comparison], str]
    help: str


@dataclass(frozen=True)
class ConsoleWriter:
    """Always shown on the terminal."""

    render: Callable[[Comparison, Console], None]
    help: str


Writer = FileWriter | ConsoleWriter

WRITERS: dict[str, Writer] = {
    "terminal": ConsoleWriter(terminal.render, "the tables on the terminal"),
    "markdown": FileWriter(tabular.markdown, "write the tables as Markdown here"),
    "csv": FileWriter(tabular.to_csv, "write one row per model and device here"),
    "html": FileWriter(html.render, "write a self-contained HTML page with plots"),
    "json": FileWriter(
        json_report.render,
        f"write the comparison as JSON here (schema version {json_report.SCHEMA_VERSION})",
    ),
}


def file_writers() -> dict[str, FileWriter]:
    return {name: w for name, w in WRITERS.items() if isinstance(w, FileWriter)}
