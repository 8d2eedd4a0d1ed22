"""`python -m deploy export` / `nox -s export`: export, validate and list artifacts.

Arguments are parsed here and handed to `deploy.export.export_many`; nothing else happens here
but the progress bar and the summary table.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from deploy.export.pipeline import DEFAULT_MODELS, DEFAULT_OUT, ExportOutcome, ProgressEvent
from deploy.export.recipes import DEFAULT_RECIPES, RECIPES
from deploy.export.validation import (
    DEFAULT_FP32_MAX_REL_ERROR,
    DEFAULT_INT8_MIN_COSINE,
    DEFAULT_INT8_MIN_SQNR_DB,
    DEFAULT_INT8_MIN_TOP1,
    DEFAULT_MIN_DELEGATION,
    TRAINED_INT8_MIN_COSINE,
    TRAINED_INT8_MIN_SQNR_DB,
    TRAINED_INT8_MIN_TOP1,
    Thresholds,
    default_thresholds,
)

_BY_WEIGHTS = "default: {random} with random weights, {trained} with trained ones"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated model names (default: %(default)s)",
    )
    parser.add_argument(
        "--recipes",
        default=",".join(DEFAULT_RECIPES),
        help=f"comma-separated recipes, of {', '.join(RECIPES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--weights",
        default="random",
        help="random (seeded, BN re-estimated), imagenet (torch hub cache), or a checkpoint path",
    )
    parser.add_argument(
        "--calibration-dir",
        type=Path,
        default=None,
        help="folder of images (any Pillow-readable); every 4th is held out for validation, "
        "the rest calibrate int8 (default: scikit-image's photographs)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--fp32-max-rel-error",
        type=float,
        default=DEFAULT_FP32_MAX_REL_ERROR,
        help="fp32: largest max|pte - eager| / max|eager| (default: %(default)g)",
    )
    parser.add_argument(
        "--int8-min-sqnr",
        type=float,
        default=None,
        help="int8: smallest SQNR of the logits vs eager fp32, in dB ("
        + _BY_WEIGHTS.format(random=DEFAULT_INT8_MIN_SQNR_DB, trained=TRAINED_INT8_MIN_SQNR_DB)
        + ")",
    )
    parser.add_argument(
        "--int8-min-cosine",
        type=float,
        default=None,
        help="int8: smallest cosine similarity of any image's logits ("
        + _BY_WEIGHTS.format(random=DEFAULT_INT8_MIN_COSINE, trained=TRAINED_INT8_MIN_COSINE)
        + ")",
    )
    parser.add_argument(
        "--int8-min-top1",
        type=float,
        default=None,
        help="int8: smallest fraction of images with the eager top-1 class ("
        + _BY_WEIGHTS.format(random=DEFAULT_INT8_MIN_TOP1, trained=TRAINED_INT8_MIN_TOP1)
        + "; random weights give near-flat logits)",
    )
    parser.add_argument(
        "--min-delegation",
        type=float,
        default=DEFAULT_MIN_DELEGATION,
        help="smallest fraction of compute ops inside the backend delegate (default: %(default)g)",
    )
    parser.add_argument(
        "--force", action="store_true", help="export again even if the cache has the artifact"
    )


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console
    from deploy.export.pipeline import export_many
    from deploy.export.recipes import parse_recipes
    from deploy.models import parse_model_names

    specs = parse_model_names(args.models, weights=args.weights)
    recipes = parse_recipes(args.recipes)
    thresholds = thresholds_from(args)
    console = make_console()
    with warnings.catch_warnings(), _progress_bar(console, len(specs) * len(recipes)) as on_event:
        # only ours (e.g. "skipping x.jpg: not an image"): the toolchain's chatter would hide them
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module=r"deploy(\.|$)")
        warnings.showwarning = _one_line_warning
        outcomes = export_many(
            specs,
            recipes,
            out_dir=args.out,
            calibration_dir=args.calibration_dir,
            thresholds=thresholds,
            force=args.force,
            progress=on_event,
        )
    console.print(summary_table(outcomes))
    console.print(f"manifest: {Path(args.out) / 'manifest.json'}")
    invalid = [o for o in outcomes if not o.valid]
    for outcome in invalid:
        failures = "; ".join(outcome.entry.fidelity.get("failures", []))
        print(
            f"invalid: {outcome.entry.model_name} {outcome.entry.recipe_name}: {failures}",
            file=sys.stderr,
        )
    return 1 if invalid else 0


def thresholds_from(args: argparse.Namespace) -> Thresholds:
    """The defaults for `--weights` (random or trained), with the options given on top."""
    given = {
        "fp32_max_rel_error": args.fp32_max_rel_error,
        "int8_min_sqnr_db": args.int8_min_sqnr,
        "int8_min_cosine": args.int8_min_cosine,
        "int8_min_top1": args.int8_min_top1,
        "min_delegation": args.min_delegation,
    }
    base = default_thresholds(args.weights)
    return replace(base, **{name: value for name, value in given.items() if value is not None})


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    print(f"warning: {message}", file=sys.stderr)


class _progress_bar:
    """A rich progress bar over the artifacts; the current model, recipe and stage beside it."""

    def __init__(self, console, total: int) -> None:  # type: ignore[no-untyped-def]
        from deploy.console import progress_bar

        self.progress = progress_bar(console, "[bold]export")
        self.task = self.progress.add_task("", total=total)

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.progress.__enter__()
        return self.on_event

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self.progress.__exit__(*exc)

    def on_event(self, event: ProgressEvent) -> None:
        name = f"{event.model} {event.recipe}"
        if event.kind == "start":
            self.progress.update(self.task, description=f"{name}: cache check")
        elif event.kind == "stage":
            self.progress.update(self.task, description=f"{name}: {event.stage}")
        elif event.kind == "done":
            self.progress.advance(self.task)


def _fidelity_text(outcome: ExportOutcome) -> str:
    fidelity = outcome.entry.fidelity
    if "sqnr_db" not in fidelity:
        if fidelity.get("skipped"):  # Core ML off macOS: structure checked, reason in manifest
            return "structure checked; no predictions here"
        return "did not run"
    if outcome.entry.precision == "fp32":
        return (
            f"max rel err {fidelity['max_rel_error']:.1e}, top-1 {fidelity['top1_agreement']:.0%}"
        )
    return (
        f"SQNR {fidelity['sqnr_db']:.1f} dB, cos {fidelity['cosine']:.3f}, "
        f"top-1 {fidelity['top1_agreement']:.0%}"
    )


def summary_table(outcomes: list[ExportOutcome]):  # type: ignore[no-untyped-def]
    """Size, delegation and fidelity of every artifact of the run."""
    from rich.table import Table

    table = Table(title="Exported artifacts")
    for column in ("model", "recipe", "size MB", "delegation", "fidelity", "valid", "time", "file"):
        table.add_column(column, justify="right" if column in ("size MB", "time") else "left")
    for outcome in outcomes:
        entry = outcome.entry
        delegation = entry.delegation
        outside = delegation.get("non_delegated", {})
        ops = delegation["delegated_ops"] + delegation["non_delegated_ops"]
        coverage = f"{delegation['coverage']:.0%} of {ops} ops"
        if outside:
            coverage += " (outside: " + ", ".join(f"{op} x{n}" for op, n in outside.items()) + ")"
        table.add_row(
            entry.model_name,
            entry.recipe_name,
            f"{entry.size_bytes / 1e6:.2f}",
            coverage,
            _fidelity_text(outcome),
            "[green]yes" if entry.valid else "[red]NO",
            "cached" if outcome.cached else f"{entry.export_s:.0f} s",
            entry.file,
        )
    return table
