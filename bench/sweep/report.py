"""The sweep's answer: a terminal table of each recipe's frontier with the recommendation, and a
self-contained HTML page (a latency / top-1 scatter per recipe with its frontier, the budget and
the papers' Pixel points, and every point in a table).

Honesty, on both: the device is named with its provenance (host and simulator figures read "not
a phone"; a host names its CPU and its int8 dot-product features); every top-1 says what it is
(`paper`: ImageNet, the papers' trained weights; `measured`: the user's folder, named), and a
frontier that mixes the two says so; the papers' Pixel latencies are drawn as what they are,
TF-Lite on a Pixel, never as this device.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bench.compare.measurements import NOT_A_PHONE, device_label
from bench.report.grids import PAPER_METHOD, PAPER_SHORT
from bench.report.html import LOAD_CHECK, STYLE
from bench.report.plots import PAPER_MARKERS, new_figure, to_png
from bench.report.sessions import PROVENANCE_NOTE, int8_note
from bench.stats import CONFIDENCE, HEADLINE, ROUND_CI_METHOD, median_ci_coverage
from bench.sweep.accuracy import MEASURED, PAPER_NOTE, paper_accuracy
from bench.sweep.frontier import Recommendation, Result, dominator, pareto, recommend
from deploy.models import paper


@dataclass(frozen=True)
class Context:
    """What the figures are: the device, how they were measured, the budget."""

    device: str  # display name
    device_id: str
    provenance: str  # phone / board / host / simulator / emulated
    budget_ms: float | None  # None: no recommendation, only the frontiers
    rounds: int
    quick: bool = False
    facts: Mapping[str, Any] = field(default_factory=dict)  # a stored run's machine facts
    weights: tuple[str, ...] = ()  # weight sources of the artifacts ("random", ...)
    store: str = ""

    @property
    def label(self) -> str:
        return device_label(self.device, self.provenance)

    @property
    def not_a_phone(self) -> bool:
        return self.provenance in NOT_A_PHONE


@dataclass(frozen=True)
class Answer:
    """Per recipe: its results, frontier and recommendation."""

    results: Mapping[str, Sequence[Result]]
    frontiers: Mapping[str, list[Result]]
    recommendations: Mapping[str, Recommendation]

    @classmethod
    def of(cls, results: Mapping[str, Sequence[Result]], budget_ms: float | None) -> Answer:
        frontiers = {recipe: pareto(rows) for recipe, rows in results.items()}
        picks = {}
        if budget_ms is not None:
            picks = {recipe: recommend(front, budget_ms) for recipe, front in frontiers.items()}
        return cls(results, frontiers, picks)

    def best(self) -> Result | None:
        """The most accurate pick across recipes (ties: the faster)."""
        chosen = [r.chosen for r in self.recommendations.values() if r.chosen is not None]
        return min(chosen, key=lambda r: (-(r.top1 or 0.0), r.latency_ms), default=None)


# -- shared text ------------------------------------------------------------------------------


def device_lines(context: Context) -> list[str]:
    """Which device, what its figures are (provenance), and for a host its CPU and int8."""
    lines = [f"device: {context.label}"]
    note = PROVENANCE_NOTE.get(context.provenance)
    if context.provenance == "host":
        note = "THIS HOST's CPU, one pinned core, one thread: not a phone"
    if note:
        lines.append(f"provenance {context.provenance}: {note}")
    facts = context.facts
    if context.provenance in ("host", "simulator") and facts.get("cpu_model"):
        dot = facts.get("int8_dot")
        features = ", ".join(dot) if isinstance(dot, list) and dot else "none"
        lines.append(f"CPU: {facts['cpu_model']}; int8 dot-product features: {features}")
        if extra := int8_note(dict(facts)):
            lines.append(extra)
    return lines


def method_lines(context: Context) -> list[str]:
    coverage = median_ci_coverage(context.rounds)
    lines = [
        f"latency: {HEADLINE} of {context.rounds} round(s) per point (a round is one runner "
        f"process); CI from the rounds ({ROUND_CI_METHOD}), coverage {coverage:.0%}"
    ]
    if context.quick:
        lines.append(
            "--quick: corners and diagonal of each family's grid, then the frontier's "
            f"neighbours that could change it; {context.rounds} rounds per point"
            + (f" (a {coverage:.0%} CI, not {CONFIDENCE:.0%})" if coverage < CONFIDENCE else "")
        )
    return lines


def accuracy_lines(context: Context, answer: Answer) -> list[str]:
    """What the top-1 figures are; a warning when one frontier mixes measured and paper."""
    weights = ", ".join(context.weights) or "unknown"
    lines = [
        f"top-1 'paper': {PAPER_NOTE}. The artifacts measured here have {weights} weights: "
        "their latency is this device's, their accuracy is NOT the papers' (it is where the "
        "architecture lands when trained as the papers did).",
    ]
    stand_ins = [
        r
        for rows in answer.results.values()
        for r in rows
        if r.accuracy is not None and r.accuracy.stand_in
    ]
    if stand_ins:
        lines.append(
            "top-1 'paper, fp32 figure': the papers publish no top-1 at this recipe's precision "
            "for most models, so every model of the recipe is placed at its fp32 figure, alike "
            "(in the V3 paper's Tables 3 and 4, int8 is 1.1 to 3.6 points below fp32)."
        )
        set_aside = sorted(
            {
                f"{r.model} {r.precision} {r.accuracy.set_aside:g} (fp32 {r.accuracy.top1:g})"
                for r in stand_ins
                if r.accuracy is not None and r.accuracy.set_aside is not None
            }
        )
        if set_aside:
            lines.append("published but set aside for that: " + ", ".join(set_aside))
    measured = {
        r.accuracy.describe()
        for rows in answer.results.values()
        for r in rows
        if r.accuracy is not None and r.accuracy.kind == MEASURED
    }
    lines += [f"top-1 'measured' (replaces the papers' figure): {text}" for text in measured]
    for recipe, front in answer.frontiers.items():
        kinds = {r.accuracy.kind for r in front if r.accuracy is not None}
        if len(kinds) > 1:
            lines.append(
                f"warning: the {recipe} frontier mixes measured and paper top-1 (different "
                "data and weights): compare within one kind"
            )
    return lines


def pixel_text(result: Result) -> str:
    """The papers' Pixel latencies of the model at the recipe's precision: `P-1 15.8 P-3 14.4`."""
    found = paper.latencies(result.model, result.precision)
    return " ".join(f"{PAPER_SHORT[d]} {e.latency_ms:g}" for d, e in found.items()) or "-"


def _ci(result: Result) -> str:
    est = result.estimate
    return f"{est.ci_low:.2f}-{est.ci_high:.2f}" if est is not None else "-"


def _standing(result: Result, rows: Sequence[Result], front: Sequence[Result]) -> str:
    if result.status != "measured":
        return f"{result.status}" + (f": {result.note}" if result.note else "")
    if not result.placed:
        return "no top-1: not on the frontier"
    if any(result is f for f in front):
        return "FRONTIER"
    other = dominator(result, rows)
    return f"dominated by {other.model}" if other is not None else ""


# -- terminal ---------------------------------------------------------------------------------


def render_terminal(context: Context, answer: Answer, console: Any) -> None:
    """Each recipe's frontier as a table, the counts of the other points, the picks."""
    from rich.markup import escape as markup_escape
    from rich.table import Table

    def say(text: str) -> None:
        console.print(markup_escape(text), soft_wrap=True, highlight=False)

    for line in device_lines(context):
        say(line)
    for recipe, front in answer.frontiers.items():
        rows = answer.results[recipe]
        table = Table(
            title=f"Pareto frontier, latency vs top-1 - recipe {recipe} - {context.label}"
        )
        for name in ("model", "MAdds M", "median ms", "CI ms", "rounds", "top-1 %", "top-1 is"):
            table.add_column(name, justify="left" if name in ("model", "top-1 is") else "right")
        table.add_column("papers' Pixel ms", no_wrap=True)
        for r in front:
            assert r.estimate is not None and r.accuracy is not None
            table.add_row(
                markup_escape(r.model),
                f"{r.madds_m:.0f}" if r.madds_m else "-",
                f"{r.estimate.median:.2f}",
                _ci(r),
                str(r.estimate.n_rounds),
                f"{r.accuracy.top1:.1f}",
                r.accuracy.marker,
                pixel_text(r),
            )
        console.print(table)
        measured = [r for r in rows if r.estimate is not None]
        unplaced = [r for r in measured if not r.placed]
        counts = [
            f"{len(measured)} of {len(rows)} points measured",
            f"{len(front)} on the frontier",
            f"{len(measured) - len(front) - len(unplaced)} dominated",
        ]
        if unplaced:
            counts.append(f"{len(unplaced)} without a top-1")
        bad = [r for r in rows if r.status in ("failed", "invalid export")]
        if bad:
            counts.append(f"{len(bad)} failed")
        say(f"{recipe}: " + ", ".join(counts))
        for r in bad:
            say(f"  {r.model} {recipe}: {r.status}: {r.note}")
        if recipe in answer.recommendations:
            for line in answer.recommendations[recipe].lines(context.label):
                say(line)
    best = answer.best()
    if best is not None and best.accuracy is not None and len(answer.recommendations) > 1:
        say(
            f"most accurate within {context.budget_ms:g} ms across recipes: {best.model} "
            f"{best.recipe} (top-1 {best.accuracy.top1:.1f}%, {best.accuracy.marker})"
            + (
                "; that top-1 is the fp32 figure: the int8 model is likely lower (1.1 to 3.6 "
                "points in the V3 paper's Tables 3 and 4)"
                if best.accuracy.stand_in
                else ""
            )
        )
    if context.budget_ms is None:
        say("no --budget-ms given: pass one (e.g. --budget-ms 10) for the pick within it")
    for line in [*method_lines(context), *accuracy_lines(context, answer)]:
        say(line)
    say(
        f"papers' Pixel ms: {PAPER_METHOD}, on the papers' phones - not {context.device}; "
        "shown for reference beside this device's figures"
    )


# -- HTML -------------------------------------------------------------------------------------


def _short(model: str) -> str:
    return model.replace("mobilenet_", "").replace("_large", "_L").replace("_small", "_S")


def _xy(results: Sequence[Result]) -> tuple[list[float], list[float]]:
    """(latencies, top-1s) of placed results."""
    placed = [r for r in results if r.latency_ms is not None and r.top1 is not None]
    return [float(r.latency_ms or 0.0) for r in placed], [float(r.top1 or 0.0) for r in placed]


def scatter(context: Context, recipe: str, answer: Answer) -> bytes:
    """Latency (log) against top-1 for one recipe: this device's points by family (marker by
    what the top-1 is), its frontier, the budget, and the papers' Pixel points hollow grey."""
    from matplotlib.ticker import LogFormatter

    rows = answer.results[recipe]
    front = answer.frontiers[recipe]
    markers = {"paper": "o", "paper, fp32 figure": "v", "measured": "*"}
    with new_figure(10, 6.5) as fig:
        ax = fig.add_subplot()
        families = list(dict.fromkeys(r.point.family for r in rows))
        for index, family in enumerate(families):
            colour = f"C{index}"
            for marker_name, marker in markers.items():
                group = [
                    r
                    for r in rows
                    if r.point.family == family and r.placed and r.accuracy is not None
                    if r.accuracy.marker == marker_name
                ]
                if not group:
                    continue
                xs, ys = _xy(group)
                low = [r.estimate.median - r.estimate.ci_low for r in group if r.estimate]
                high = [r.estimate.ci_high - r.estimate.median for r in group if r.estimate]
                ax.errorbar(
                    xs,
                    ys,
                    xerr=[low, high],
                    fmt=marker,
                    color=colour,
                    markersize=11 if marker == "*" else 8,
                    capsize=2,
                    label=f"{family} on {context.device} (top-1: {marker_name})",
                )
                for r in group:
                    ax.annotate(
                        _short(r.model),
                        (r.latency_ms, r.top1),
                        fontsize=7,
                        xytext=(4, 3),
                        textcoords="offset points",
                    )
        if front:
            ax.plot(
                *_xy(front),
                drawstyle="steps-post",
                color="black",
                linewidth=1.2,
                label="Pareto frontier (this device)",
            )
        if context.budget_ms is not None:
            ax.axvline(
                context.budget_ms,
                color="red",
                linestyle="--",
                linewidth=1,
                label=f"budget {context.budget_ms:g} ms",
            )
        precision = rows[0].precision if rows else "fp32"
        for device in paper.DEVICES:
            published = []
            for r in rows:
                found = paper.latency(r.model, precision, device)
                accuracy = paper_accuracy(r.model, precision)
                if found is not None and accuracy is not None:
                    published.append((found.latency_ms, accuracy.top1))
            if published:
                published.sort()
                ax.scatter(
                    [x for x, _ in published],
                    [y for _, y in published],
                    marker=PAPER_MARKERS[device],
                    facecolors="none",
                    edgecolors="grey",
                    label=f"paper {device} ({precision}, TF-Lite; NOT this device)",
                )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(LogFormatter())
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        ax.set_xlabel(f"latency, {HEADLINE} (ms, log scale); whiskers: CI from the rounds")
        ax.set_ylabel("top-1 (%)")
        ax.set_title(f"Latency vs top-1 - recipe {recipe} - {context.label}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
        footer = [*device_lines(context)[1:], f"papers' points: {PAPER_METHOD}; {PAPER_NOTE}"]
        fig.supxlabel("\n".join(footer), fontsize=7.5, ha="left", x=0.01)
        return to_png(fig)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i in numeric else ""}">{escape(cell)}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _point_cells(r: Result, standing: str) -> list[str]:
    est, acc = r.estimate, r.accuracy
    return [
        r.model,
        f"{r.madds_m:.0f}" if r.madds_m else "-",
        f"{est.median:.2f}" if est else "-",
        _ci(r),
        str(est.n_rounds) if est else "-",
        f"{acc.top1:.1f}" if acc else "-",
        acc.marker if acc else "no top-1",
        pixel_text(r),
        standing,
    ]


POINT_HEADERS = (
    "model",
    "MAdds M",
    "median ms",
    "CI ms",
    "rounds",
    "top-1 %",
    "top-1 is",
    "papers' Pixel ms (not this device)",
    "standing",
)


def render_html(context: Context, answer: Answer) -> str:
    """The page: who measured what, the picks, a scatter and two tables per recipe."""
    now = dt.datetime.now(dt.UTC)
    title = f"Which MobileNet for {context.label}?"
    if context.budget_ms is not None:
        title += f" (budget {context.budget_ms:g} ms)"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{LOAD_CHECK}</script>",
        "</head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="notes">generated {now:%Y-%m-%d %H:%M} UTC from {escape(context.store)}</p>',
    ]
    if context.not_a_phone:
        parts.append(
            f"<p><strong>{escape(context.device)} is NOT A PHONE (provenance "
            f"{escape(context.provenance)}): these latencies do not carry over to a phone."
            "</strong></p>"
        )
    parts += [f"<p>{escape(line)}</p>" for line in device_lines(context)]
    parts.append("<h2>Recommendation</h2><ul>")
    for recipe, pick in answer.recommendations.items():
        parts.append(f"<li><strong>{escape(recipe)}</strong>: ")
        parts.append("<br>".join(escape(line) for line in pick.lines(context.label)) + "</li>")
    if context.budget_ms is None:
        parts.append("<li>no budget given (--budget-ms): the frontiers below, no pick</li>")
    parts.append("</ul>")
    parts.append('<h2>How to read this</h2><ul class="notes">')
    notes = [*method_lines(context), *accuracy_lines(context, answer)]
    notes.append(
        f"Hollow grey markers: the papers' latencies ({PAPER_METHOD}) on Pixel phones at the "
        "papers' top-1 - NOT measured on this device; shown beside it for reference."
    )
    notes.append("Points without a top-1 cannot be placed on the scatter: see the tables.")
    parts += [f"<li>{escape(line)}</li>" for line in notes]
    parts.append("</ul>")
    for recipe, rows in answer.results.items():
        front = answer.frontiers[recipe]
        png = base64.b64encode(scatter(context, recipe, answer)).decode("ascii")
        caption = (
            f"Recipe {recipe}: filled markers are {context.label} ({HEADLINE}, whiskers the CI "
            "from the rounds), by family; the marker shape says what the top-1 is; black: the "
            "frontier; red dashed: the budget; hollow grey: the papers' Pixel figures."
        )
        parts += [
            f"<h2>Recipe {escape(recipe)}</h2>",
            f'<figure id="scatter-{escape(recipe)}"><img alt="{escape(caption)}" '
            f'src="data:image/png;base64,{png}"><figcaption>{escape(caption)}</figcaption>'
            "</figure>",
            f"<h3>Frontier ({len(front)} points)</h3>",
            _table(POINT_HEADERS, [_point_cells(r, "FRONTIER") for r in front], {1, 2, 3, 4, 5}),
            f"<h3>Every point of the grid ({len(rows)})</h3>",
            _table(
                POINT_HEADERS,
                [_point_cells(r, _standing(r, rows, front)) for r in rows],
                {1, 2, 3, 4, 5},
            ),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
