"""`python -m bench compare`: tables per recipe, two-device ratios, the regression gate, and
the reports of `bench.report.writers` (the terminal, and `--markdown / --csv / --html / --json
PATH`), with the stored top-1 of each artifact (`python -m bench evaluate`) beside its
latencies. Exit 0, or 1 when the gate fails (a regression: the 95% CI of the ratio from the rounds
lies wholly above 1 + threshold); bad input is one line, exit 2.

`--metric instructions` makes the gate decide on instructions per inference wherever both
sides have them (deterministic: the ratio of the sides' medians, no CI); `--threshold` is then
that metric's (default 0.5%), and the other pairs are decided on latency at the default 5%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from bench.compare import (
    DEFAULT_INSTRUCTIONS_THRESHOLD,
    DEFAULT_THRESHOLD,
    METRICS,
    Rules,
    Selection,
    accuracy_from_store,
    build_comparison,
    measurements_from_store,
)
from bench.errors import CompareError
from bench.report.writers import WRITERS, ConsoleWriter, file_writers
from deploy.console import make_console

DEFAULT_STORE = Path("results") / "bench.sqlite"


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05; a bare number >= 1 is ambiguous and refused."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise CompareError(f"--threshold {text!r} is not a number; write 0.05 or 5%") from None
    if not raw.endswith("%") and value >= 1:
        raise CompareError(f"--threshold {text} is ambiguous; write 0.05 or 5% for five percent")
    if not 0 <= value < 10:
        raise CompareError(f"--threshold {text} is out of range; write e.g. 0.05 or 5%")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})"
    )
    parser.add_argument("--devices", help="comma-separated device names or ids (two: B vs A)")
    parser.add_argument("--models", help="comma-separated model names")
    parser.add_argument("--recipes", help="comma-separated recipe names")
    parser.add_argument("--label", help="only runs with this label / commit")
    parser.add_argument(
        "--baseline", type=Path, help="regression gate: compare against this results store"
    )
    parser.add_argument(
        "--baseline-label",
        help="regression gate: baseline runs are those with this label (in --baseline, or "
        "in --store when no --baseline is given)",
    )
    parser.add_argument(
        "--threshold",
        default=None,
        help="regression when the 95%% CI of the ratio from the rounds lies wholly above "
        "1 + this, same when within +-this (default 5%%; 0.5%% with --metric instructions)",
    )
    parser.add_argument(
        "--metric",
        choices=METRICS,
        default="latency",
        help="gate: decide on latency (rounds) or, where both sides have them, on "
        "instructions per inference (deterministic; default latency)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="gate: pairs that are not comparable fail too"
    )
    for name, writer in file_writers().items():
        parser.add_argument(f"--{name}", type=Path, metavar="PATH", help=writer.help)


def _rules(threshold: str | None, metric: str) -> Rules:
    """The threshold applies to the gate's metric: latency, or instructions per inference."""
    if metric == "instructions":
        value = DEFAULT_INSTRUCTIONS_THRESHOLD if threshold is None else parse_threshold(threshold)
        return Rules(DEFAULT_THRESHOLD, metric, value)
    value = DEFAULT_THRESHOLD if threshold is None else parse_threshold(threshold)
    return Rules(value, metric)


def _write(path: Path, content: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="")  # as made: CSV rows end in CRLF
    except OSError as exc:
        raise CompareError(f"cannot write {path}: {exc.strerror}; choose another path") from None


def run(args: argparse.Namespace) -> int:
    rules = _rules(args.threshold, args.metric)
    selection = Selection.parse(args.devices, args.models, args.recipes, args.label)
    measurements = measurements_from_store(args.store)
    baseline = None
    baseline_selection = None
    baseline_store = ""
    if args.baseline is not None:
        baseline = measurements_from_store(args.baseline)
        baseline_store = str(args.baseline)
    elif args.baseline_label:
        # One store, two labels (commits): without --label, the candidates are the other runs.
        baseline = measurements
        baseline_store = f"{args.store} label {args.baseline_label}"
        if not args.label:
            measurements = [m for m in measurements if m.label != args.baseline_label]
    if args.baseline_label:
        baseline_selection = Selection.parse(None, args.models, args.recipes, args.baseline_label)
    comparison = build_comparison(
        measurements,
        selection,
        baseline=baseline,
        baseline_selection=baseline_selection,
        rules=rules,
        strict=args.strict,
        store=str(args.store),
        baseline_store=baseline_store,
        accuracy=accuracy_from_store(args.store),
    )
    console = make_console()
    for name, writer in WRITERS.items():  # registry order: the terminal first
        if isinstance(writer, ConsoleWriter):
            writer.render(comparison, console)
            continue
        path = getattr(args, name, None)
        if path is not None:
            _write(path, writer.render(comparison))
            console.print(f"wrote {escape(str(path))}", highlight=False)
    if comparison.gate is not None and not comparison.gate.passed:
        return 1
    return 0
