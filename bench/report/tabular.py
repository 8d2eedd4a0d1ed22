"""The comparison as Markdown (the same tables as the terminal) and as CSV (one row per
recipe, model and device, numbers unrounded, the papers' figures as provenance `paper`).

The CSV's `median_ms` is the headline, named in its `estimator` column (`bench.stats.HEADLINE`:
the median of the round medians), with `ci_low_ms` / `ci_high_ms` (its CI from the rounds, of
coverage `ci_confidence`), `p10_ms` (median of the round p10s), `rounds` and `n` (samples).
Where the cell's artifact was evaluated (`python -m bench evaluate`), `top1` / `top5` (fractions),
`eager_top1` and `top1_vs_eager_points` say how accurate it is, on `accuracy_images` images of
the folder `accuracy_data` (hash `accuracy_data_sha256`); empty otherwise.

Model, file and device names come from devices (`ro.product.model`) and from files: they are
untrusted. Every text written goes through one helper per format: `md_text` for Markdown (no
HTML, no links, one table cell), `csv_cell` for CSV (no formulas in a spreadsheet).
"""

from __future__ import annotations

import csv
import io

from bench.compare import Comparison
from bench.report.grids import Grid, all_grids, excluded_notes
from bench.stats import HEADLINE
from deploy.models import paper

# One pass (translate), so the added backslashes are not escaped again. `\`: a name's own
# backslashes stay literal; `&<>`: no raw HTML (`<script>`, `<img onerror>`) and no autolink;
# `|`: no extra table column; brackets and backticks: no link, image (a remote fetch) or code
# span made of a name.
_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "|": "\\|",
        "[": "\\[",
        "]": "\\]",
        "`": "\\`",
    }
)


def md_text(text: str) -> str:
    """`text` as literal Markdown inside one table cell or list line: line breaks (LF, CR, CRLF
    and the other Unicode ones) become spaces, markup characters are escaped."""
    return " ".join(text.splitlines()).translate(_MD_ESCAPES)


def markdown_grid(grid: Grid) -> str:
    lines = [f"### {md_text(grid.title)}", ""]
    lines.append("| " + " | ".join(md_text(h) for h in grid.headers) + " |")
    aligns = ["---" if i < 3 else "---:" for i in range(len(grid.headers))]
    lines.append("| " + " | ".join(aligns) + " |")
    for i, row in enumerate(grid.rows):
        cells = [md_text(c) for c in row]
        if grid.statuses and grid.statuses[i] == "regression":
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if grid.notes:
        lines.append("")
        lines += [f"- {md_text(note.strip())}" for note in grid.notes]
    return "\n".join(lines) + "\n"


def markdown(comparison: Comparison) -> str:
    parts = ["# Latency comparison", ""]
    if comparison.store:
        parts.append(f"Store: {md_text(comparison.store)}\n")
    if comparison.gate is not None:
        parts.append(f"**{md_text(comparison.gate.summary())}**\n")
    parts += [markdown_grid(grid) for grid in all_grids(comparison)]
    parts += [f"Note: {md_text(note)}\n" for note in excluded_notes(comparison)]
    return "\n".join(parts)


# OWASP CSV injection: a spreadsheet reads a cell starting with one of these as a formula.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell: None is empty; text starting like a formula gets a leading `'` (what spreadsheets
    take as "this is text"); numbers, negative ones included, are written as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


CSV_COLUMNS = (
    "recipe",
    "precision",
    "model",
    "madds_m",
    "madds_source",
    "device",
    "device_id",
    "provenance",
    "runner",
    "runner_version",
    "threads",
    "cpu_mask",
    "resolution",
    "weights",
    "session_id",
    "rounds",
    "rounds_failed",
    "n",
    "estimator",
    "median_ms",
    "ci_low_ms",
    "ci_high_ms",
    "ci_confidence",
    "p10_ms",
    "gmacs",
    "paper_device",
    "paper_ms",
    "paper_source",
    "ratio_to_paper",
    "label",
    "started_at",
    "run_id",
    "top1",
    "top5",
    "eager_top1",
    "top1_vs_eager_points",
    "accuracy_images",
    "accuracy_data",
    "accuracy_data_sha256",
)


def csv_rows(comparison: Comparison) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for table in comparison.tables:
        for row in table.rows:
            base: dict[str, object] = {
                "recipe": table.recipe,
                "precision": table.precision,
                "model": row.model,
                "madds_m": row.madds_m,
                "madds_source": row.madds_source,
            }
            for cell in row.cells.values():
                if cell is None:
                    continue
                m = cell.measurement
                ref = cell.reference
                est = cell.estimate
                acc = cell.accuracy
                rows.append(
                    base
                    | {
                        "device": m.device,
                        "device_id": m.device_id,
                        "provenance": m.provenance,
                        "runner": m.runner,
                        "runner_version": m.runner_version,
                        "threads": m.threads,
                        "cpu_mask": m.cpu_mask,
                        "resolution": m.resolution,
                        "weights": m.weights,
                        "session_id": m.session_id,
                        "rounds": m.n_rounds,
                        "rounds_failed": m.rounds_failed,
                        "n": m.n,
                        "estimator": HEADLINE,
                        "median_ms": m.median_ms,
                        "ci_low_ms": est.ci_low if est else None,
                        "ci_high_ms": est.ci_high if est else None,
                        "ci_confidence": est.confidence if est else None,
                        "p10_ms": est.p10 if est else None,
                        "gmacs": cell.gmacs,
                        "paper_device": ref.device if ref else None,
                        "paper_ms": ref.latency_ms if ref else None,
                        "paper_source": ref.source if ref else None,
                        "ratio_to_paper": cell.ratio_to_paper,
                        "label": m.label,
                        "started_at": m.started_at,
                        "run_id": m.run_id,
                        "top1": acc.top1 if acc else None,
                        "top5": acc.top5 if acc else None,
                        "eager_top1": acc.eager_top1 if acc else None,
                        "top1_vs_eager_points": acc.vs_eager_points if acc else None,
                        "accuracy_images": acc.images if acc else None,
                        "accuracy_data": acc.data_folder if acc else None,
                        "accuracy_data_sha256": acc.data_sha256 if acc else None,
                    }
                )
            for device, entry in row.paper.items():
                rows.append(
                    base
                    | {
                        "device": device,
                        "provenance": "paper",
                        "runner": "TF-Lite benchmark_model",
                        "threads": 1,
                        "median_ms": entry.latency_ms,
                        "gmacs": row.paper_gmacs(device),
                        "paper_device": device,
                        "paper_ms": entry.latency_ms,
                        "paper_source": f"{entry.source}: {paper.SOURCES[entry.source]}",
                    }
                )
    return rows


def to_csv(comparison: Comparison) -> str:
    out = io.StringIO()
    # CRLF (RFC 4180): the csv module quotes a cell holding a character of the line terminator,
    # and a spreadsheet ends a row at a bare CR too; with "\n" alone, a CR inside a name would
    # start a new row whose first cell (after the CR) escapes csv_cell.
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in csv_rows(comparison):
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()
