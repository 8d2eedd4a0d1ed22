"""The bench-peers tables: per model, every runtime's median, ours / the fastest peer, and GMAC/s.

`build_rows(samples, madds)` is pure (samples in, rows out) so the ratios are tested on known
numbers; `render` prints them with rich.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.peers import GOALS, RUNTIMES
from bench.report.sessions import int8_note


@dataclass(frozen=True)
class Ratio:
    """Ours / the fastest peer of the same precision (by median latency)."""

    precision: str
    ours: str  # runtime name
    peer: str  # the fastest peer's runtime name
    value: float
    goal: float

    @property
    def met(self) -> bool:
        return self.value <= self.goal


@dataclass
class PeerRow:
    model: str
    madds: int | None
    summaries: dict[str, stats.Summary] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ratios: dict[str, Ratio] = field(default_factory=dict)  # by precision, of medians
    ratios_p10: dict[str, Ratio] = field(default_factory=dict)  # the same on p10

    def median(self, runtime: str) -> float | None:
        summary = self.summaries.get(runtime)
        return summary.median if summary is not None else None

    def gmacs(self, runtime: str) -> float | None:
        """Multiply-adds per second, in billions: MAdds / median latency."""
        median = self.median(runtime)
        if median is None or not self.madds or median <= 0:
            return None
        return self.madds / (median / 1e3) / 1e9


def fastest_peer(row: PeerRow, precision: str, statistic: str = "median") -> str | None:
    peers = [
        name
        for name, r in RUNTIMES.items()
        if not r.ours and r.precision == precision and name in row.summaries
    ]
    if not peers:
        return None
    return min(peers, key=lambda name: getattr(row.summaries[name], statistic))


def build_rows(
    samples: Mapping[tuple[str, str], Sequence[float]],
    madds: Mapping[str, int | None],
    errors: Mapping[tuple[str, str], str] | None = None,
) -> list[PeerRow]:
    """Rows in the order of `madds` (model -> MAdds) from raw samples by (model, runtime)."""
    rows = []
    for model, count in madds.items():
        row = PeerRow(model, count)
        for (m, name), values in samples.items():
            if m == model and len(values):
                row.summaries[name] = stats.summarize(values)
        for (m, name), text in (errors or {}).items():
            if m == model:
                row.errors[name] = text
        for name, runtime in RUNTIMES.items():
            if not runtime.ours or name not in row.summaries:
                continue
            for statistic, ratios in (("median", row.ratios), ("p10", row.ratios_p10)):
                peer = fastest_peer(row, runtime.precision, statistic)
                if peer is None:
                    continue
                ours = getattr(row.summaries[name], statistic)
                theirs = getattr(row.summaries[peer], statistic)
                ratios[runtime.precision] = Ratio(
                    runtime.precision, name, peer, ours / theirs, GOALS[runtime.precision]
                )
        rows.append(row)
    return rows


def _ms(row: PeerRow, runtime: str) -> str:
    if runtime in row.summaries:
        return f"{row.summaries[runtime].median:.2f}"
    return "FAILED" if runtime in row.errors else "-"


def _ratio(row: PeerRow, precision: str) -> str:
    ratio = row.ratios.get(precision)
    if ratio is None:
        return "-"
    return f"{ratio.value:.2f}x {'ok' if ratio.met else 'NO'}"


def render(rows: Sequence[PeerRow], facts: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    title = (
        f"bench-peers: THIS HOST's CPU ({facts.get('cpu_model', '?')}, core {facts.get('core')}),"
        " one thread, one process per measurement: median ms"
    )
    table = Table(title=title)
    table.add_column("model", no_wrap=True)
    table.add_column("MMAdds", justify="right", no_wrap=True)
    order = ("ort-fp32", "et-fp32", "ort-int8", "et-int8", "eager-fp32")
    for name in order:
        table.add_column(RUNTIMES[name].label, justify="right", no_wrap=True)
    table.add_column("fp32 ET/peer", justify="right", no_wrap=True)
    table.add_column("int8 ET/peer", justify="right", no_wrap=True)
    table.add_column("GMAC/s ET f|i", justify="right", no_wrap=True)
    for row in rows:

        def g(name: str, row: PeerRow = row) -> str:
            value = row.gmacs(name)
            return f"{value:.1f}" if value is not None else "-"

        table.add_row(
            row.model,
            f"{row.madds / 1e6:.0f}" if row.madds else "-",
            *(_ms(row, name) for name in order),
            _ratio(row, "fp32"),
            _ratio(row, "int8"),
            f"{g('et-fp32')}|{g('et-int8')}",
        )
    console.print(table)
    for row in rows:
        if row.ratios_p10:
            parts = [f"{p} {r.value:.2f}x" for p, r in sorted(row.ratios_p10.items())]
            console.print(f"p10 ratios (least disturbed samples) {row.model}: {', '.join(parts)}")
    console.print(
        "ET/peer = our median / the fastest peer's median of the same precision (fp32: eager "
        f"or ORT; int8: ORT); goal fp32 <= {GOALS['fp32']:g}x, int8 <= {GOALS['int8']:g}x "
        "(ok / NO). GMAC/s = MAdds / median (every runtime's below). This host's CPU, not a phone."
    )
    if note := int8_note(facts):
        console.print(note)


def render_details(
    rows: Sequence[PeerRow], runs: Mapping[tuple[str, str], Any], console: Any
) -> None:
    """Every measurement: median, CI, p10/p90, n, and the runtime that produced it."""
    from rich.table import Table

    table = Table(title="bench-peers: every measurement")
    left = ("model", "runtime", "runner")
    for name in (*left, "median ms", "95% CI", "p10", "p90", "n", "GMAC/s", "runs"):
        table.add_column(name, justify="left" if name in left else "right", no_wrap=True)
    for row in rows:
        for name in RUNTIMES:
            info = runs.get((row.model, name), {})
            summary = row.summaries.get(name)
            if summary is None:
                if name in row.errors:
                    table.add_row(row.model, name, "", "FAILED", *[""] * 6, style="red")
                continue
            table.add_row(
                row.model,
                name,
                info.get("runner", ""),
                f"{summary.median:.3f}",
                f"±{summary.rel_ci_halfwidth:.1%}",
                f"{summary.p10:.3f}",
                f"{summary.p90:.3f}",
                str(summary.n),
                f"{gmacs:.1f}" if (gmacs := row.gmacs(name)) is not None else "-",
                ",".join(str(i) for i in info.get("run_ids", [])),
            )
    console.print(table)
    for row in rows:
        for name, text in row.errors.items():
            console.print(f"error: {row.model} {name}: {text}")
        for name, summary in row.summaries.items():
            for warning in summary.warnings:
                console.print(f"warning: {row.model} {name}: {warning}")
