"""The tables of the measuring commands, from what a session returns (`bench.rows`):

- `render_host`: bench-host, this host's rows beside the papers' Pixel figures;
- `render_devices`: bench-android and bench-ssh, one table per device;
- `render_ios`: bench-ios, one line per (artifact, compute unit).

Plain data in, text out: nothing here drives a device, a runner or the session loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bench import stats
from bench.rows import Outcome, Row
from deploy.models import paper

# Above this 1-minute load average per CPU the table warns that figures are contended.
BUSY_LOAD_PER_CPU = 0.5


class Threads(Protocol):
    """What the host table reads of the runner config (`bench.runner.run.RunnerConfig`)."""

    @property
    def threads(self) -> int: ...


def int8_note(facts: dict[str, Any]) -> str | None:
    """What to tell a reader of int8 figures from an x86 CPU without an int8 dot product."""
    if facts.get("int8_dot") != [] or facts.get("machine") not in ("x86_64", "AMD64"):
        return None
    return (
        "This CPU has no int8 dot product (AVX-VNNI / AVX512-VNNI): XNNPACK's int8 "
        "convolutions use 16-bit multiply-adds here and run at about its fp32 speed, so int8 "
        "figures from it do not carry over to arm64 phones (see benchmarks/layer_kernels.py)."
    )


def render_host(rows: Sequence[Row], facts: dict[str, Any], config: Threads, console: Any) -> None:
    """bench-host: one table of this host's rows beside the papers' Pixel figures."""
    from rich.table import Table

    title = (
        f"bench-host: THIS HOST's CPU ({facts['cpu_model']}, core {facts['core']}, "
        f"{config.threads} XNNPACK thread) - provenance host, not a phone"
    )
    table = Table(title=title)
    table.add_column("model", no_wrap=True)
    table.add_column("recipe", no_wrap=True)
    for name in ("median ms *", "CI (rounds)", "p10", "rounds", "load ms"):
        table.add_column(name, justify="right", no_wrap=True)
    for device in paper.DEVICES:
        table.add_column(f"{device} (paper)", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True)
    for row in rows:
        pixels = [f"{row.paper_ms[d]:g}" if d in row.paper_ms else "-" for d in paper.DEVICES]
        notes = ["NOT STORED"] if row.not_stored else []
        estimate = row.estimate
        if estimate is None:
            why = "; ".join([*notes, row.error])
            table.add_row(row.model, row.recipe, "FAILED", "", "", "", "", *pixels, why)
            continue
        if row.rounds_failed:
            notes.append(f"{row.rounds_failed} round(s) failed: {row.error}")
        unstable = row.summary is not None and bool(row.summary.warnings)
        table.add_row(
            row.model,
            row.recipe,
            f"{estimate.median:.2f}",
            stats.ci_text(estimate),
            f"{estimate.p10:.2f}",
            str(estimate.n_rounds),
            f"{row.load_ms:.1f}" if row.load_ms is not None else "",
            *pixels,
            "; ".join([*notes, *(["unstable within one process"] if unstable else [])]),
        )
    console.print(table)
    console.print(f"* {stats.HEADLINE}; CI from the rounds; p10: median of the round p10s")
    console.print(
        "paper: TFLite, one large core, one thread, on Pixel phones (deploy/models/paper.py); "
        "ours: ExecuTorch + XNNPACK on this host's CPU. Compare trends, not absolute values.",
        soft_wrap=True,
    )
    if (note := int8_note(facts)) and any(row.precision == "int8" for row in rows):
        console.print(note, soft_wrap=True)
    load, cpus = facts["loadavg"][0], facts.get("online_cpus") or 1
    if load > BUSY_LOAD_PER_CPU * cpus:
        console.print(
            f"warning: this host is busy (load average {load:.1f} on {cpus} CPUs): other "
            "processes share the pinned core, so these latencies are contended and will not "
            "repeat; rerun on an idle machine",
            soft_wrap=True,
        )
    for row in rows:
        if row.summary is not None:
            for warning in row.summary.warnings:
                console.print(f"warning: {row.model} {row.recipe}: {warning}", soft_wrap=True)


# -- bench-android, bench-ssh ---------------------------------------------------------------

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


def render_devices(
    outcomes: Sequence[Outcome], console: Any, command: str = "bench-android"
) -> None:
    """bench-android and bench-ssh: one table per device, then every failure in one line each."""
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


# -- bench-ios ----------------------------------------------------------------------------


def render_ios(outcome: Outcome) -> None:
    """bench-ios: one line per (artifact, compute unit): the median of every round, or why it
    failed."""
    where = f"on {outcome.name} [{outcome.provenance}]"
    for row in outcome.rows:
        label = f"{row.model} {row.recipe} {row.mask}"
        s = row.summary
        if s is None:
            print(f"{label}: FAILED {where}: {row.error}")
            continue
        load = f", load {row.load_ms:.1f} ms" if row.load_ms is not None else ""
        rounds = f", {len(row.rounds_ms)} rounds" if len(row.rounds_ms) > 1 else ""
        print(
            f"{label}: median {s.median:.2f} ms (n={s.n}{rounds}{load}) {where}"
            + (" NOT STORED" if row.not_stored else "")
        )
