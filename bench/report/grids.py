"""The tables every text writer shows, as strings: a `Grid` per recipe, for two devices, for
the int8 speedups and for the gate.

The terminal, Markdown and HTML writers draw from these same grids, so they show the same
numbers with the same rounding (the CSV and JSON writers take the unrounded numbers from the
`bench.compare.Comparison` itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.compare import (
    Accuracy,
    Comparison,
    GateResult,
    Measurement,
    PairResult,
    RecipeTable,
    Row,
)
from bench.report.accuracy import pct
from bench.stats import CONFIDENCE, HEADLINE
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


def fmt_estimate(m: Measurement | None) -> str:
    """The headline (HEADLINE) with its CI from the rounds and the rounds count:
    "66.0 (CI 65.3-66.7, 6 rounds)"; the CI's coverage when below 95% (fewer than 6 rounds):
    "66.0 (75% CI 65.0-67.0, 3 rounds)"; one round has no CI: "66.0 (1 round)"."""
    est = m.estimate if m is not None else None
    if est is None:
        return "-"
    if est.n_rounds == 1:
        return f"{fmt_ms(est.median)} (1 round)"
    coverage = "" if est.confidence >= CONFIDENCE else f"{est.confidence:.0%} "
    return (
        f"{fmt_ms(est.median)} ({coverage}CI {fmt_ms(est.ci_low)}-{fmt_ms(est.ci_high)}, "
        f"{est.n_rounds} rounds)"
    )


def fmt_pair_ratio(entry: PairResult) -> str:
    """B / A with its CI from the rounds ("1.10x (CI 1.08-1.12)"), the instructions ratio
    ("1.0100x instructions, no CI"), or the bare ratio when there is no CI (too few rounds)."""
    found = entry.decision.ratio if entry.decision else None
    if found is None:
        return "-"
    if found.metric == "instructions":
        return f"{found.ratio:.4f}x instructions, no CI"
    if found.low is None or found.high is None:
        return f"{found.ratio:.2f}x (no CI)"
    return f"{found.ratio:.2f}x (CI {found.low:.2f}-{found.high:.2f})"


def fmt_rounds(entry: PairResult) -> str:
    sides = [m.n_rounds if m is not None else None for m in (entry.a, entry.b)]
    return " / ".join("-" if n is None else str(n) for n in sides)


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


def _row_accuracy(row: Row) -> list[Accuracy]:
    """The distinct evaluations of a row's artifacts (usually one: the same file everywhere)."""
    found = [c.accuracy for c in row.cells.values() if c is not None and c.accuracy is not None]
    return list(dict.fromkeys(found))


def fmt_vs_eager(found: Accuracy) -> str:
    points = found.vs_eager_points
    return "-" if points is None else f"{points:+.2f}"


ACCURACY_HEADERS = ("top-1 %", "top-1 vs eager (points)")


def accuracy_notes(found: list[Accuracy]) -> list[str]:
    """What the accuracy columns are, and on which images each figure was taken."""
    if not found:
        return []
    notes = [
        "top-1 % = the artifact's stored top-1 (python -m bench evaluate), matched by its "
        "sha256; vs eager = minus the eager fp32 model's top-1 on the same images, in points"
    ]
    for data in dict.fromkeys((a.data_label, a.provenance, a.runtime) for a in found):
        label, provenance, runtime = data
        where = ", ".join(part for part in (provenance, runtime) if part)
        models = sorted({a.model for a in found if (a.data_label, a.provenance, a.runtime) == data})
        notes.append(f"  on {label} ({where}): {', '.join(models)}")
    return notes


def recipe_grid(table: RecipeTable) -> Grid:
    headers = ["model", "MAdds (M)"]
    for column in table.columns:
        headers += [f"{column.label} ms", f"{column.device} / paper", f"{column.device} GMAC/s"]
    pixels = [d for d in paper.DEVICES if any(d in row.paper for row in table.rows)]
    headers += [f"paper {PAPER_SHORT[d]} ms" for d in pixels]
    evaluated = [a for row in table.rows for a in _row_accuracy(row)]
    if evaluated:
        headers += ACCURACY_HEADERS
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
                fmt_estimate(cell.measurement),
                f"{fmt_ratio(ratio)} {PAPER_SHORT[ref.device]}" if ref and ratio else "-",
                fmt_gmacs(cell.gmacs),
            ]
        cells += [fmt_ms(row.paper[d].latency_ms) if d in row.paper else "-" for d in pixels]
        if evaluated:
            found = _row_accuracy(row)
            cells.append(" / ".join(pct(a.top1) for a in found) or "-")
            cells.append(" / ".join(fmt_vs_eager(a) for a in found) or "-")
        rows.append(tuple(cells))
    notes = [
        f"{column.label}: runner {', '.join(column.runners)}"
        + ("" if column.provenance == "phone" else " - NOT phone numbers")
        for column in table.columns
    ]
    notes.append(
        f"ms = {HEADLINE} of the latest session (a round is one runner process), its "
        f"{CONFIDENCE:.0%} CI from the rounds (order statistics; the coverage is written when "
        "fewer than 6 rounds give less) and the rounds; / paper = ours over the paper's figure "
        "on the same Pixel, else on the Pixel named (P-1 first); GMAC/s = MAdds / ms"
    )
    if pixels:
        notes.append(f"paper columns: {PAPER_METHOD}; sources:")
        notes += [f"  {key}: {paper.SOURCES[key]}" for key in table.sources]
    notes += accuracy_notes(list(dict.fromkeys(evaluated)))
    return Grid(
        f"recipe {table.recipe} ({table.precision}): latency per device, {HEADLINE}",
        tuple(headers),
        tuple(rows),
        tuple(notes),
    )


def _pair_row(entry: PairResult, with_device: bool) -> tuple[str, ...]:
    a = entry.a if entry.a and entry.a.has_latency else None
    b = entry.b if entry.b and entry.b.has_latency else None
    row = [entry.device] if with_device else []
    row += [
        entry.recipe,
        entry.model,
        fmt_estimate(a),
        fmt_estimate(b),
        fmt_pair_ratio(entry),
        fmt_rounds(entry),
        entry.status,
        entry.reason,
    ]
    return tuple(row)


def _flag_notes(entries: tuple[PairResult, ...], names: tuple[str, str]) -> list[str]:
    """One note per side whose rounds were flagged (heavy load, steal, ...)."""
    notes = []
    for entry in entries:
        for name, state in zip(names, (entry.machine_a, entry.machine_b), strict=True):
            if state is not None and state.flagged:
                notes.append(
                    f"{entry.device} {entry.model} ({name}): {len(state.flagged)} of "
                    f"{state.rounds} rounds flagged: {'; '.join(state.flagged)}"
                )
    return notes


_RATIO_NOTE = (
    f"ms = {HEADLINE} (CI from the rounds, rounds); ratio = B / A of the headlines with its "
    f"{CONFIDENCE:.0%} CI from the rounds: a seeded bootstrap, widened to the Hodges-Lehmann "
    "rank interval (never from iterations)"
)


def pairs_grid(comparison: Comparison) -> Grid | None:
    if not comparison.pair_devices:
        return None
    a, b = comparison.pair_devices
    labels = {m.device: m.device_label for m in comparison.measurements}
    la, lb = labels.get(a, a), labels.get(b, b)
    headers = (
        "recipe",
        "model",
        f"{la} ms",
        f"{lb} ms",
        f"{b} / {a} ({CONFIDENCE:.0%} CI)",
        "rounds",
        "decision",
        "why",
    )
    entries = comparison.pairs
    return Grid(
        f"{b} against {a}: ratio of the {HEADLINE}s, with a CI from the rounds",
        headers,
        tuple(_pair_row(e, False) for e in entries),
        (_RATIO_NOTE, comparison.rules.describe(), *_flag_notes(entries, (a, b))),
        tuple(e.status for e in entries),
    )


def gate_grid(result: GateResult, baseline_store: str = "") -> Grid:
    headers: tuple[str, ...] = ("device", "recipe", "model", "baseline ms", "now ms")
    headers += (f"now / baseline ({CONFIDENCE:.0%} CI)", "rounds", "decision", "why")
    where = f" ({baseline_store})" if baseline_store else ""
    metric = (
        f"; where both sides have instructions per inference, decided on those (deterministic, "
        f"no CI): regression above +{result.instructions_threshold:.1%}"
        if result.metric == "instructions"
        else ""
    )
    return Grid(
        f"regression gate against the baseline{where}: {result.summary()}",
        headers,
        tuple(_pair_row(e, True) for e in result.entries),
        (
            f"fails only on a regression: the {CONFIDENCE:.0%} CI of now / baseline (from the "
            f"rounds) wholly above {1 + result.threshold:g}{metric}"
            + ("; --strict: not comparable pairs fail too" if result.strict else "")
            + "; inconclusive pairs say why (too few rounds, machine state, the rounds needed); "
            "not comparable pairs are listed, not compared",
            _RATIO_NOTE,
            *_flag_notes(result.entries, ("baseline", "now")),
        ),
        tuple(e.status for e in result.entries),
    )


def speedup_grid(comparison: Comparison) -> Grid | None:
    if not comparison.speedups:
        return None
    rows = []
    for s in comparison.speedups:
        ci = s.ci
        rows.append(
            (
                s.label,
                s.model,
                fmt_estimate(s.fp32),
                fmt_estimate(s.int8),
                fmt_ratio(s.speedup) + (f" (CI {ci.low:.2f}-{ci.high:.2f})" if ci else ""),
                f"{s.fp32.recipe} / {s.int8.recipe}",
            )
        )
    return Grid(
        "int8 over fp32 speedup per device",
        (
            "device",
            "model",
            "fp32 ms",
            "int8 ms",
            f"speedup ({CONFIDENCE:.0%} CI)",
            "recipes",
        ),
        tuple(rows),
        (
            f"ms = {HEADLINE} (CI from the rounds, rounds); speedup = fp32 / int8 of the "
            f"headlines, its CI from the rounds as for every ratio (from 3 rounds a side)",
        ),
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
