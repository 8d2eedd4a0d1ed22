"""The comparison as Markdown (the same tables as the terminal) and as CSV (one row per
recipe, model and device, numbers unrounded, the papers' figures as provenance `paper`)."""

from __future__ import annotations

import csv
import io

from bench import paper
from bench.compare import Comparison
from bench.report import Grid, all_grids, excluded_notes


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_grid(grid: Grid) -> str:
    lines = [f"### {_md_cell(grid.title)}", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in grid.headers) + " |")
    aligns = ["---" if i < 3 else "---:" for i in range(len(grid.headers))]
    lines.append("| " + " | ".join(aligns) + " |")
    for i, row in enumerate(grid.rows):
        cells = [_md_cell(c) for c in row]
        if grid.statuses and grid.statuses[i] == "regression":
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if grid.notes:
        lines.append("")
        lines += [f"- {_md_cell(note.strip())}" for note in grid.notes]
    return "\n".join(lines) + "\n"


def markdown(comparison: Comparison) -> str:
    parts = ["# Latency comparison", ""]
    if comparison.store:
        parts.append(f"Store: `{comparison.store}`\n")
    if comparison.gate is not None:
        parts.append(f"**{comparison.gate.summary()}**\n")
    parts += [markdown_grid(grid) for grid in all_grids(comparison)]
    parts += [f"Note: {note}\n" for note in excluded_notes(comparison)]
    return "\n".join(parts)


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
    "n",
    "median_ms",
    "gmacs",
    "paper_device",
    "paper_ms",
    "paper_source",
    "ratio_to_paper",
    "label",
    "started_at",
    "run_id",
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
                        "n": m.n,
                        "median_ms": m.median_ms,
                        "gmacs": cell.gmacs,
                        "paper_device": ref.device if ref else None,
                        "paper_ms": ref.latency_ms if ref else None,
                        "paper_source": ref.source if ref else None,
                        "ratio_to_paper": cell.ratio_to_paper,
                        "label": m.label,
                        "started_at": m.started_at,
                        "run_id": m.run_id,
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
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(comparison):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()
