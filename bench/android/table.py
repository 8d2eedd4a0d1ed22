"""The bench-android table: our median and spread beside the papers' Pixel figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import stats
from bench.session import Outcome, Row
from deploy.models import paper

PROVENANCE_NOTE = {
    "phone": "a phone: one large core, one thread, started from adb shell",
    "board": "a Linux board over SSH: its fastest core, one thread",
    "simulator": (
        "our ADB SIMULATOR: THIS HOST's CPU timed through the ADB protocol, not a phone "
        "(stored with latencies_valid = 0)"
    ),
    "emulated": (
        "our ADB simulator running the arm64 bundle under qemu: a FUNCTIONAL check, "
        "no latency is measured or stored"
    ),
}


def _ms(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _all_cores(rows: Sequence[Row], row: Row) -> Row | None:
    return next(
        (
            r
            for r in rows
            if r.threads > 1
            and (r.target, r.model, r.recipe) == (row.target, row.model, row.recipe)
        ),
        None,
    )


def render(outcomes: Sequence[Outcome], console: Any, command: str = "bench-android") -> None:
    """One table per device, then every failure in one line each."""
    from rich.table import Table

    for outcome in outcomes:
        if not outcome.rows:
            continue
        single = [r for r in outcome.rows if r.threads == 1]
        multi = any(r.threads > 1 for r in outcome.rows)
        masks = sorted({r.mask for r in single})
        core = f"taskset mask {', '.join(masks)}, 1 thread" if masks else ""
        title = (
            f"{command}: {outcome.name or outcome.target} ({outcome.target}), {core} - "
            f"provenance {outcome.provenance}: {PROVENANCE_NOTE.get(outcome.provenance, '')}"
        )
        console.print(title, highlight=False, markup=False)
        table = Table()
        table.add_column("model", no_wrap=True)
        table.add_column("recipe", no_wrap=True)
        for name in ("median ms *", "CI (rounds)", "p10 ms", "rounds"):
            table.add_column(name, justify="right", no_wrap=True)
        if multi:
            table.add_column("all cores ms", justify="right", no_wrap=True)
        for device in paper.DEVICES:
            table.add_column(f"{device} paper", justify="right", no_wrap=True)
        table.add_column("ratio", justify="right", no_wrap=True)
        table.add_column("note")
        for row in single:
            pixels = [f"{row.paper_ms[d]:g}" if d in row.paper_ms else "-" for d in paper.DEVICES]
            extra = []
            if multi:
                other = _all_cores(outcome.rows, row)
                extra = [_ms(e.median if other and (e := other.estimate) else None)]
            s = row.estimate
            if row.status == "failed":
                cells = ["FAILED", "", "", ""]
            elif s is None:
                cells = ["qemu" if outcome.provenance == "emulated" else "-", "", "", ""]
            else:
                cells = [f"{s.median:.2f}", stats.ci_text(s), f"{s.p10:.2f}", str(s.n_rounds)]
            ratio = row.ratio
            ref = row.reference
            ratio_text = f"{ratio:.2f} ({ref.device})" if ratio is not None and ref else "-"
            note = row.error or row.functional
            extras = [n for n in row.notes if n]
            if row.summary is not None and row.summary.warnings:
                extras.append("unstable within one process")
            note = "; ".join(x for x in [note, *extras] if x)
            table.add_row(row.model, row.recipe, *cells, *extra, *pixels, ratio_text, note)
        console.print(table)
        for warning in outcome.warnings:
            console.print(f"warning: {outcome.target}: {warning}")
    console.print(f"* {stats.HEADLINE}; CI from the rounds; p10: median of the round p10s")
    console.print(
        "paper: TFLite benchmark_model, one large core (taskset), one thread, Pixel 1/2/3 "
        "(deploy/models/paper.py); ours: ExecuTorch + XNNPACK bench_runner, same pinning. "
        "ratio = our median / the paper's figure (same Pixel when the phone is one, else the "
        "first listed)."
    )
