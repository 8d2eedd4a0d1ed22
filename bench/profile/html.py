"""The per-layer profiles as a self-contained HTML page: per profile a bar chart of the layers'
times and a roofline-style scatter (GMAC/s against MAdds, the core's peak as a line), and the
table. Every name is escaped (`html.escape`) and drawn as plain text (`plots.new_figure`)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from bench.profile.view import ProfileView
from bench.report.html import LOAD_CHECK, STYLE, figure_html
from bench.report.plots import Plot, add_footer, new_figure, to_png

OP_COLOURS = {"conv": "tab:blue", "dwconv": "tab:orange", "linear": "tab:green"}


def _producer(view: ProfileView) -> str:
    cpu = f", {view.cpu}" if view.cpu else ""
    note = " (not a phone)" if view.profile.provenance in ("host", "simulator") else ""
    return f"{view.device_label}{note}{cpu}; bench_runner ETDump, XNNPACK operator times"


def layer_bars(view: ProfileView, index: int) -> Plot:
    """Per-layer time, one bar per conv/linear layer in execution order, coloured by op."""
    rows = view.layers
    with new_figure(11.0, 4.5) as fig:
        ax = fig.add_subplot()
        ax.bar(
            range(len(rows)),
            [r.time_ms for r in rows],
            color=[OP_COLOURS.get(r.op, "tab:gray") for r in rows],
        )
        ax.set_xlabel("layer (execution order)")
        ax.set_ylabel("ms (median over profiled iterations)")
        ax.set_title(f"{view.model} {view.recipe}: time per layer")
        for op, colour in OP_COLOURS.items():
            ax.bar([], [], color=colour, label=op)
        ax.legend(fontsize=8)
        add_footer(fig, [_producer(view)])
        png = to_png(fig)
    return Plot(
        f"profile-bars-{index}",
        f"{view.model} {view.recipe} on {view.device_label}: time per layer",
        "Bars: each convolution / fully connected layer's median time.",
        png,
    )


def roofline(view: ProfileView, index: int) -> Plot:
    """GMAC/s against MAdds per layer (log-log); the measured peak as a horizontal line."""
    from bench.report.plots import _log_axes

    with new_figure(8.0, 5.5) as fig:
        ax = fig.add_subplot()
        for op, colour in OP_COLOURS.items():
            points = [
                (r.madds, rate)
                for r in view.layers
                if r.op == op and r.madds and (rate := view.gmacs(r))
            ]
            if points:
                ax.scatter([p[0] for p in points], [p[1] for p in points], c=colour, label=op, s=18)
        if view.peak is not None:
            ax.axhline(view.peak.gmacs, color="black", linestyle="--", linewidth=1)
            ax.text(
                ax.get_xlim()[0] if ax.has_data() else 1,
                view.peak.gmacs,
                f" measured peak {view.peak.gmacs:.0f} GMAC/s",
                va="bottom",
                fontsize=8,
            )
        if ax.has_data():
            _log_axes(ax)
            ax.legend(fontsize=8)
        ax.set_xlabel("MAdds of the layer")
        ax.set_ylabel("GMAC/s")
        ax.set_title(f"{view.model} {view.recipe}: rate per layer")
        add_footer(fig, [_producer(view)])
        png = to_png(fig)
    return Plot(
        f"profile-roofline-{index}",
        f"{view.model} {view.recipe} on {view.device_label}: GMAC/s against MAdds",
        "Each point is a layer; the dashed line is the core's peak from the peak probe.",
        png,
    )


def _table(view: ProfileView) -> str:
    from bench.profile.cli import _geometry, sum_lines

    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "#",
            "layer",
            "op",
            "kernel",
            "stride",
            "groups",
            "channels",
            "ms",
            "% time",
            "MAdds M",
            "GMAC/s",
            "% peak",
        )
    )
    total = view.ops_ms or 1.0
    body = []
    for r in view.layers:
        rate, share = view.gmacs(r), view.of_peak(r)
        cells = [
            str(r.idx),
            r.name,
            r.op,
            *_geometry(r),
            f"{r.time_ms:.3f}",
            f"{r.time_ms / total:.1%}",
            f"{r.madds / 1e6:.2f}" if r.madds else "-",
            f"{rate:.1f}" if rate else "-",
            f"{share:.0%}" if share else "-",
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td class="{"num" if i >= 3 else ""}">{escape(c)}</td>'
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    notes = "".join(f"<li>{escape(line)}</li>" for line in sum_lines(view))
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<ul class="notes">{notes}</ul>'
    )


def render(views: Sequence[ProfileView]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Per-layer profiles</title>",
        f"<style>{STYLE}</style><script>{LOAD_CHECK}</script></head><body>",
        "<h1>Per-layer profiles</h1>",
    ]
    for i, view in enumerate(views):
        parts.append(
            f"<h2>{escape(view.model)} {escape(view.recipe)} on {escape(view.device_label)}</h2>"
        )
        parts.append(f"<p class='notes'>{escape(_producer(view))}</p>")
        parts.append(figure_html(layer_bars(view, i)))
        parts.append(figure_html(roofline(view, i)))
        parts.append(_table(view))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(views: Sequence[ProfileView], path: Path) -> None:
    Path(path).write_text(render(views), encoding="utf-8")
