"""The comparison on the terminal: rich tables, provenance spelled out under each."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.compare import Comparison
from bench.report.grids import Grid, all_grids, excluded_notes

STYLES = {
    "regression": "bold red",
    "slower": "yellow",
    "faster": "green",
    "same": "",
    "inconclusive": "cyan",
    "not comparable": "magenta",
    "missing": "dim",
    "new": "dim",
}


def render_grid(grid: Grid, console: Console) -> None:
    table = Table(title=escape(grid.title), title_justify="left")
    for i, header in enumerate(grid.headers):
        table.add_column(
            escape(header),
            justify="left" if i < 3 else "right",
            overflow="fold",
            no_wrap=header == "model",
        )
    for i, row in enumerate(grid.rows):
        style = STYLES.get(grid.statuses[i], "") if grid.statuses else ""
        table.add_row(*(escape(cell) for cell in row), style=style or None)
    console.print(table)
    for note in grid.notes:
        console.print(escape(note), highlight=False)
    console.print()


def render(comparison: Comparison, console: Console) -> None:
    if comparison.store:
        console.print(f"store: {escape(comparison.store)}", highlight=False)
    for grid in all_grids(comparison):
        render_grid(grid, console)
    for note in excluded_notes(comparison):
        console.print(f"note: {escape(note)}", highlight=False)
    if comparison.gate is not None:
        style = "bold green" if comparison.gate.passed else "bold red"
        console.print(f"[{style}]{escape(comparison.gate.summary())}[/]")
