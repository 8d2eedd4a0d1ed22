"""The evaluate table: the eager row, the artifacts with their drop, the papers' ImageNet top-1
marked for weights that are not ImageNet's, and the notes that say what each figure is."""

from __future__ import annotations

import io

from rich.console import Console

from bench.report.accuracy import PAPER_NOTE, RANDOM_NOTE, paper_top1, render_evaluation
from bench.store import EAGER_RECIPE, EvaluationRecord

V2 = "mobilenet_v2_1.0_224"


def _record(recipe: str, top1: float, reference: float | None, weights: str) -> EvaluationRecord:
    return EvaluationRecord(
        device_id="host:ci",
        model=V2,
        recipe=recipe,
        data_sha256="e" * 64,
        images=1000,
        top1=top1,
        top5=0.9,
        reference_top1=reference,
        detail={"weights_source": weights, "runtime": "rt", "cpu_model": "<b>CPU</b>"},
    )


def _render(records: list[EvaluationRecord], notes: list[str]) -> str:
    console = Console(file=io.StringIO(), width=200)
    render_evaluation(records, notes, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_paper_top1_is_marked_for_other_weights():
    assert paper_top1(V2, "imagenet") == "72.0"
    assert paper_top1(V2, "random") == "72.0 *"
    assert paper_top1("mobilenet_v3_small_0.5_64", "checkpoint") == "-"


def test_imagenet_rows_beside_the_paper():
    text = _render(
        [
            _record(EAGER_RECIPE, 0.718, None, "imagenet"),
            _record("xnnpack-int8", 0.7105, 0.718, "imagenet"),
        ],
        ["data: [red]x[/red]"],
    )
    eager, int8 = (line for line in text.splitlines() if V2 in line)
    assert "71.80" in eager and "72.0" in eager and "*" not in eager
    assert "71.05" in int8 and "-0.75" in int8
    assert "[red]x[/red]" in text and "<b>CPU</b>" in text  # printed as text, never markup
    assert " ".join(PAPER_NOTE.split()) in " ".join(text.split())
    assert "untrained" not in text


def test_random_weights_say_the_figure_is_meaningless():
    text = _render([_record(EAGER_RECIPE, 0.001, None, "random")], [])
    flat = " ".join(text.split())
    assert " ".join(RANDOM_NOTE.split()) in flat and "72.0 *" in text
    assert "not torchvision's ImageNet weights" in flat
