"""The tables every text writer shows, as strings: a `Grid` per recipe, for two devices, for
the int8 speedups and for the gate.

The terminal, Markdown and HTML writers draw from these same grids, so they show the same
numbers with the same rounding (the CSV and JSON writers take the unrounded numbers from the
`bench.compare.Comparison` itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.compare import Comparison, GateResult, PairResult, RecipeTable
from deploy.models import paper

PAPER_SHORT = {"Pixel 1": "P-1", "Pixel 2": "P-2", "Pixel 3": "P-3"}
PAPER_METHOD = "TF-Lite, one large core, one thread (published)"


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_gmacs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def fmt_p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def fmt_madds(value: float | None, source: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" + ("" if source == "measured" else " (paper)")


@dataclass(frozen=True)
class Grid:
    """A table as strings: a title, headers, rows, and notes printed under it."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    # Per row, a status word a renderer may colour (gate / pairs), else "".
    statuses: tuple[str, ...] = ()


def recipe_grid(table: RecipeTable) -> Grid:
    headers = ["model", "MAdds (M)"]
    for column in table.columns:
        headers += [f"{column.label} ms", f"{column.device} / paper", f"{column.device} GMAC/s"]
    pixels = [d for d in paper.DEVICES if any(d in row.paper for row in table.rows)]
    headers += [f"paper {PAPER_SHORT[d]} ms" for d in pixels]
    rows = []
    for row in table.rows:
        cells = [row.model, fmt_madds(row.madds_m, row.madds_source)]
        for column in table.columns:
            cell = row.cells.get(column.label)
            if cell is None:
                cells += ["-", "-", "-"]
                continue
            ref = cell.reference
            ratio = cell.ratio_to_paper
            cells += [
                fmt_ms(cell.median_ms),
                f"{fmt_ratio(ratio)} {PAPER_SHORT[ref.device]}" if ref and ratio else "-",
                fmt_gmacs(cell.gmacs),
            ]
        cells += [fmt_ms(row.paper[d].latency_ms) if d in row.paper else "-" for d in pixels]
        rows.append(tuple(cells))
    notes = [
        f"{column.label}: runner {', '.join(column.runners)}"
        + ("" if column.provenance == "phone" else " - NOT phone numbers")
        for column in table.columns
    ]
    notes.append(
        "ms = median of the latest run's raw samples; / paper = ours over the paper's figure on "
        "the same Pixel, else on the Pixel named (P-1 first); GMAC/s = MAdds / ms"
    )
    if pixels:
        notes.append(f"paper columns: {PAPER_METHOD}; sources:")
        notes += [f"  {key}: {paper.SOURCES[key]}" for key in table.sources]
    return Grid(
        f"recipe {table.recipe} ({table.precision}): median latency per device",
        tuple(headers),
        tuple(rows),
        tuple(notes),
    )


def _pair_row(entry: PairResult, with_device: bool) -> tuple[str, ...]:
    sig = entry.significance
    ratio = entry.ratio
    a = entry.a.median_ms if entry.a and entry.a.has_latency else None
    b = entry.b.median_ms if entry.b and entry.b.has_latency else None
    row = [entry.device] if with_device else []
    row += [
        entry.recipe,
        entry.model,
        fmt_ms(a),
        fmt_ms(b),
        fmt_ratio(ratio) if ratio is not None else "-",
        fmt_p(sig.p_value) if sig else "-",
        entry.status,
        entry.reason,
    ]
    return tuple(row)


def pairs_grid(comparison: Comparison) -> Grid | None:
    if not comparison.pair_devices:
        return None
    a, b = comparison.pair_devices
    labels = {m.device: m.device_label for m in comparison.measurements}
    la, lb = labels.get(a, a), labels.get(b, b)
    headers = ("recipe", "model", f"{la} ms", f"{lb} ms", f"{b} / {a}", "p", "decision", "why")
    entries = comparison.pairs
    return Grid(
        f"{b} against {a}: ratio given only where the difference is significant",
        headers,
        tuple(_pair_row(e, False) for e in entries),
        (comparison.rules.describe(),),
        tuple(e.status for e in entries),
    )


def gate_grid(result: GateResult, baseline_store: str = "") -> Grid:
    headers: tuple[str, ...] = ("device", "recipe", "model", "baseline ms", "now ms")
    headers += ("now / baseline", "p", "decision", "why")
    where = f" ({baseline_store})" if baseline_store else ""
    return Grid(
        f"regression gate against the baseline{where}: {result.summary()}",
        headers,
        tuple(_pair_row(e, True) for e in result.entries),
        (
            f"fails when significantly slower by more than {result.threshold:.0%}"
            + ("; --strict: not comparable pairs fail too" if result.strict else "")
            + "; not comparable pairs are listed, not compared",
        ),
        tuple(e.status for e in result.entries),
    )


def speedup_grid(comparison: Comparison) -> Grid | None:
    if not comparison.speedups:
        return None
    rows = tuple(
        (
            s.label,
            s.model,
            fmt_ms(s.fp32.median_ms),
            fmt_ms(s.int8.median_ms),
            fmt_ratio(s.speedup),
            f"{s.fp32.recipe} / {s.int8.recipe}",
        )
        for s in comparison.speedups
    )
    return Grid(
        "int8 over fp32 speedup per device",
        ("device", "model", "fp32 ms", "int8 ms", "speedup", "recipes"),
        rows,
    )


def excluded_notes(comparison: Comparison) -> list[str]:
    if not comparison.excluded:
        return []
    devices = sorted({m.device for m in comparison.excluded})
    return [
        f"{len(comparison.excluded)} emulated run(s) left out of every latency figure "
        f"(qemu timings mean nothing): {', '.join(devices)}"
    ]


def all_grids(comparison: Comparison) -> list[Grid]:
    grids = [recipe_grid(t) for t in comparison.tables]
    for extra in (pairs_grid(comparison), speedup_grid(comparison)):
        if extra is not None:
            grids.append(extra)
    if comparison.gate is not None:
        grids.append(gate_grid(comparison.gate, comparison.baseline_store))
    return grids
