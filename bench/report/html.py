"""A self-contained HTML page: the tables, the figures embedded as PNG data URIs, the rules.

One file, no network, no external assets. A tiny inline script records on <body> whether every
image decoded (`data-images-loaded` / `data-images-broken`), so a headless browser can check
the page rendered (`python -m bench.report.render_check`). Every text goes through
`html.escape` (names come from devices and files), and the figures draw them as plain text
(`plots.new_figure`).
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from bench.compare import Comparison
from bench.report.grids import Grid, all_grids, excluded_notes
from bench.report.plots import Plot, all_plots

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.regression td { background: #fdd; font-weight: bold; }
tr.slower td { background: #ffd; }
tr.faster td { background: #dfd; }
tr.inconclusive td { background: #e6f0ff; }
tr.not-comparable td { background: #f3e0f7; }
.notes { font-size: 12px; color: #555; }
.verdict-pass { color: #070; } .verdict-fail { color: #b00; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
"""

LOAD_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', String(ok));
  document.body.setAttribute('data-images-broken', String(imgs.length - ok));
});
"""


def _grid_html(grid: Grid) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in grid.headers)
    body = []
    for i, row in enumerate(grid.rows):
        status = grid.statuses[i].replace(" ", "-") if grid.statuses else ""
        cells = "".join(
            f'<td class="{"num" if j >= 3 else ""}">{escape(cell)}</td>'
            for j, cell in enumerate(row)
        )
        body.append(f'<tr class="{escape(status)}">{cells}</tr>')
    notes = "".join(f"<li>{escape(note.strip())}</li>" for note in grid.notes)
    return (
        f"<h3>{escape(grid.title)}</h3>\n<table><thead><tr>{head}</tr></thead>\n<tbody>"
        + "\n".join(body)
        + f'</tbody></table>\n<ul class="notes">{notes}</ul>\n'
    )


def figure_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="{escape(plot.name)}"><img alt="{escape(plot.title)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(plot.title)}. {escape(plot.caption)}</figcaption></figure>\n"
    )


def render(comparison: Comparison, plots: list[Plot] | None = None) -> str:
    plots = all_plots(comparison) if plots is None else plots
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>MobileNet latency comparison</title>",
        f"<style>{STYLE}</style>",
        f"<script>{LOAD_CHECK}</script>",
        "</head><body>",
        "<h1>MobileNet latency comparison</h1>",
        f'<p class="notes">generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC'
        + (f" from {escape(comparison.store)}" if comparison.store else "")
        + "</p>",
    ]
    if comparison.gate is not None:
        verdict = "pass" if comparison.gate.passed else "fail"
        parts.append(
            f'<p class="verdict-{verdict}"><strong>{escape(comparison.gate.summary())}</strong></p>'
        )
    parts.append(f'<p class="notes">{escape(comparison.rules.describe())}</p>')
    parts += [f'<p class="notes">{escape(note)}</p>' for note in excluded_notes(comparison)]
    parts.append("<h2>Figures</h2>")
    parts += [figure_html(plot) for plot in plots]
    parts.append("<h2>Tables</h2>")
    parts += [_grid_html(grid) for grid in all_grids(comparison)]
    parts.append("</body></html>")
    return "\n".join(parts)
