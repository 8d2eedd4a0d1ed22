"""Figures for the HTML report (matplotlib, Agg, no pyplot state): PNG bytes each.

Every figure names the recipe, the devices with their provenance (host / simulator labelled
"not a phone") and the runner that produced the numbers, in its title and footer. Those names
come from devices and files, so every text is drawn as plain text: see `new_figure`.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.compare import Comparison, RecipeTable, Speedup, paper_speedups
from bench.report.grids import PAPER_METHOD, PAPER_SHORT
from bench.stats import HEADLINE
from deploy.models import paper

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PAPER_MARKERS = {"Pixel 1": "o", "Pixel 2": "s", "Pixel 3": "^"}


@dataclass(frozen=True)
class Plot:
    name: str  # file-name friendly
    title: str
    caption: str
    png: bytes


@contextmanager
def new_figure(width: float = 10.0, height: float = 5.5) -> Iterator[Figure]:
    """A new figure whose every text is plain. Draw it (`to_png`) inside the block: a Text reads
    the setting when it is made, and tick labels are made when the figure is drawn.

    Names come from devices and files: matplotlib would read `$...$` in one as mathtext (a
    traceback for `Pixel $\\bad{$ 7`, `$\\beta$` drawn as a Greek letter), and with usetex on
    (a user's matplotlibrc) would hand it to LaTeX."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        yield Figure(figsize=(width, height), dpi=100, layout="constrained")


def _log_axes(ax: Axes) -> None:
    """Both axes logarithmic, ticks labelled "10", "100", "20": the default log tick labels are
    mathtext (`$\\mathdefault{10^{2}}$`), which `new_figure` would print as written."""
    from matplotlib.ticker import LogFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(LogFormatter())
        axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _short(model: str) -> str:
    return model.replace("mobilenet_", "").replace("_large", "_L").replace("_small", "_S")


def add_footer(fig, lines: Sequence[str]) -> None:
    text = "\n".join(textwrap.fill(line, 150) for line in lines)
    fig.supxlabel(text, fontsize=7.5, ha="left", x=0.01)


def _producers(table: RecipeTable) -> list[str]:
    return [f"{c.label}: runner {', '.join(c.runners)}" for c in table.columns]


def latency_by_model(table: RecipeTable) -> Plot:
    """The headline per model (HEADLINE), one bar per device, its CI from the rounds as error
    bars (none for a session of one round)."""
    import numpy as np

    with new_figure(max(8.0, 1.1 * len(table.rows) + 4), 5.5) as fig:
        ax = fig.add_subplot()
        n = max(len(table.columns), 1)
        width = 0.8 / n
        x = np.arange(len(table.rows))
        for i, column in enumerate(table.columns):
            medians, low, high = [], [], []
            for row in table.rows:
                cell = row.cells.get(column.label)
                if cell is None:
                    medians.append(np.nan)
                    low.append(0.0)
                    high.append(0.0)
                    continue
                est = cell.estimate
                med = cell.median_ms
                medians.append(med)
                spans = est is not None and est.n_rounds > 1
                low.append(med - est.ci_low if est is not None and spans else 0.0)
                high.append(est.ci_high - med if est is not None and spans else 0.0)
            hatch = None if column.provenance == "phone" else "//"
            ax.bar(
                x + (i - (n - 1) / 2) * width,
                medians,
                width,
                yerr=[low, high],
                capsize=2,
                label=column.label,
                hatch=hatch,
            )
        ax.set_xticks(x, [_short(r.model) for r in table.rows], rotation=30, ha="right")
        ax.set_ylabel(f"{HEADLINE} (ms), whiskers: CI from the rounds")
        ax.set_title(f"Latency per model - recipe {table.recipe} ({table.precision})")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        add_footer(fig, [f"recipe {table.recipe}", *_producers(table)])
        png = to_png(fig)
    return Plot(
        f"latency-{table.recipe}",
        f"Latency per model, recipe {table.recipe}",
        f"Bars: {HEADLINE} of the latest session per device (a round is one runner process), "
        "whiskers its confidence interval from the rounds; hatched bars are not phone numbers.",
        png,
    )


def latency_vs_madds(table: RecipeTable) -> Plot:
    """Our latency against MAdds beside the papers' published points (hollow markers)."""
    with new_figure(10, 6) as fig:
        ax = fig.add_subplot()
        for column in table.columns:
            points = [
                (row.madds_m, cell.median_ms, row.model)
                for row in table.rows
                if (cell := row.cells.get(column.label)) is not None and row.madds_m
            ]
            if not points:
                continue
            points.sort()
            xs, ys, names = zip(*points, strict=True)
            marker = "D" if column.provenance == "phone" else "x"
            ax.plot(xs, ys, marker=marker, linestyle="none", label=column.label)
            for x, y, name in points:
                ax.annotate(
                    _short(name), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
        precision = table.precision if table.precision in ("fp32", "int8") else "fp32"
        for device in paper.DEVICES:
            published = [
                (complexity.madds_m, entry.latency_ms)
                for entry in paper.LATENCY
                if entry.device == device and entry.precision == precision
                if (complexity := paper.complexity_for(entry.model)) is not None
                if paper.latency(entry.model, precision, device) == entry
            ]
            if published:
                xs, ys = zip(*sorted(published), strict=True)
                ax.scatter(
                    xs,
                    ys,
                    marker=PAPER_MARKERS[device],
                    facecolors="none",
                    edgecolors="grey",
                    label=f"paper {device} ({precision}, TF-Lite)",
                )
        _log_axes(ax)
        ax.set_xlabel("MAdds (millions)")
        ax.set_ylabel(f"{HEADLINE} (ms)")
        ax.set_title(f"Latency against MAdds - recipe {table.recipe} ({table.precision})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
        add_footer(
            fig,
            [
                f"recipe {table.recipe}",
                *_producers(table),
                f"hollow grey: the papers' figures ({PAPER_METHOD})",
            ],
        )
        png = to_png(fig)
    return Plot(
        f"madds-{table.recipe}",
        f"Latency against MAdds, recipe {table.recipe}",
        f"Filled markers: ours, {HEADLINE} (x markers are not phone numbers); hollow: the "
        "papers' Pixel figures for the same precision.",
        png,
    )


def int8_speedup(found: Sequence[Speedup]) -> Plot:
    """headline(fp32) / headline(int8) per model (HEADLINE), a bar per device, the papers'
    Pixels hatched."""
    import numpy as np

    models = sorted({s.model for s in found}, key=lambda m: [s.model for s in found].index(m))
    labels = sorted({s.label for s in found})
    paper_rows = {m: paper_speedups(m) for m in models}
    pixels = [d for d in paper.DEVICES if any(d in v for v in paper_rows.values())]
    series = len(labels) + len(pixels)
    width = 0.8 / max(series, 1)
    x = np.arange(len(models))
    with new_figure(max(8.0, 1.2 * len(models) + 4), 5.5) as fig:
        ax = fig.add_subplot()
        for i, label in enumerate(labels):
            values = [
                next((s.speedup for s in found if s.label == label and s.model == m), np.nan)
                for m in models
            ]
            ax.bar(x + (i - (series - 1) / 2) * width, values, width, label=label)
        for j, device in enumerate(pixels):
            values = [paper_rows[m].get(device, np.nan) for m in models]
            ax.bar(
                x + (len(labels) + j - (series - 1) / 2) * width,
                values,
                width,
                label=f"paper {device} (TF-Lite)",
                color="lightgrey",
                edgecolor="grey",
                hatch="..",
            )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, [_short(m) for m in models], rotation=30, ha="right")
        ax.set_ylabel(f"speedup: fp32 / int8, {HEADLINE}")
        ax.set_title("int8 over fp32 speedup per device")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        recipes = sorted({f"{s.fp32.recipe} / {s.int8.recipe}" for s in found})
        runners = sorted({f"{s.label}: runner {s.fp32.runner_text}" for s in found})
        add_footer(fig, [f"recipes (fp32 / int8): {', '.join(recipes)}", *runners])
        png = to_png(fig)
    return Plot(
        "int8-speedup",
        "int8 over fp32 speedup per device",
        "Above 1: int8 is faster. Grey dotted bars: the papers' Table 3 / Table 4 ratio "
        f"({PAPER_SHORT['Pixel 1']}..{PAPER_SHORT['Pixel 3']}).",
        png,
    )


def all_plots(comparison: Comparison) -> list[Plot]:
    plots = []
    for table in comparison.tables:
        plots.append(latency_by_model(table))
        plots.append(latency_vs_madds(table))
    if comparison.speedups:
        plots.append(int8_speedup(comparison.speedups))
    return plots
