"""Accuracy as text: the table `python -m bench evaluate` prints, and the cells `compare` shows.

Plain data in (the store's `EvaluationRecord`s), text out. Figures are percentages of the images
evaluated; "vs eager" is the artifact's top-1 minus the eager fp32 model's on the same images, in
points (negative: the artifact loses accuracy). The papers' top-1 is their ImageNet-val figure for
the same configuration: it compares only with `imagenet` weights evaluated on ImageNet-val.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape

from bench.store import EAGER_RECIPE, EvaluationRecord
from deploy.models import paper

PAPER_HEADER = "paper (ImageNet)"
PAPER_NOTE = (
    "paper (ImageNet) = the papers' top-1 on ImageNet-val for the same configuration (their "
    "training); it compares with ours only for imagenet weights evaluated on ImageNet-val"
)
OTHER_WEIGHTS = " *"
OTHER_WEIGHTS_NOTE = "* not comparable: these are not torchvision's ImageNet weights"
RANDOM_NOTE = (
    "random weights are untrained (seeded, BatchNorm re-estimated): their accuracy is "
    "meaningless, it only shows that the artifact computes what the eager model computes"
)


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals ("97.22"), "-" when there is none."""
    return "-" if value is None else f"{100 * value:.2f}"


def points(top1: float | None, reference: float | None) -> str:
    """top1 - reference in percentage points, signed ("-0.28", "+0.00"); "-" without both."""
    if top1 is None or reference is None:
        return "-"
    return f"{100 * (top1 - reference):+.2f}"


def paper_top1(model: str, weights_source: str) -> str:
    """The papers' ImageNet top-1 of the configuration, marked when the weights are not
    torchvision's ImageNet weights (the figure then says nothing about them)."""
    published = paper.complexity_for(model)
    if published is None or published.top1 is None:
        return "-"
    return f"{published.top1:.1f}" + ("" if weights_source == "imagenet" else OTHER_WEIGHTS)


def render_evaluation(
    records: Sequence[EvaluationRecord], notes: Sequence[str], console: Any
) -> None:
    """`bench evaluate`: one row per model evaluated (eager fp32 first), then the notes."""
    from rich.table import Table

    cpu = next((str(r.detail.get("cpu_model")) for r in records if r.detail.get("cpu_model")), "")
    where = f"THIS HOST ({cpu})" if cpu else "THIS HOST"
    table = Table(title=escape(f"evaluate: top-1 / top-5 on {where} - provenance host"))
    table.add_column("model", no_wrap=True)
    table.add_column("recipe", no_wrap=True)
    table.add_column("runs in", no_wrap=True)
    for name in ("images", "top-1 %", "top-5 %", "eager top-1 %", "vs eager"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column(PAPER_HEADER, justify="right", no_wrap=True)
    weights = set()
    marked = False
    for r in records:
        source = str(r.detail.get("weights_source", ""))
        weights.add(source)
        eager = r.recipe == EAGER_RECIPE
        marked |= paper_top1(r.model, source).endswith(OTHER_WEIGHTS)
        table.add_row(
            *(
                escape(text)
                for text in (
                    r.model,
                    r.recipe,
                    str(r.detail.get("runtime", "")),
                    str(r.images),
                    pct(r.top1),
                    pct(r.top5),
                    pct(r.top1 if eager else r.reference_top1),
                    "" if eager else points(r.top1, r.reference_top1),
                    paper_top1(r.model, source),
                )
            )
        )
    console.print(table)
    lines = list(notes)
    lines.append(
        "vs eager = top-1 of the artifact minus that of the eager fp32 model on the same images, "
        "in points (negative: accuracy lost)"
    )
    lines.append(PAPER_NOTE)
    if marked:
        lines.append(OTHER_WEIGHTS_NOTE)
    if "random" in weights:
        lines.append(RANDOM_NOTE)
    for line in lines:
        console.print(escape(line), highlight=False)
