"""`python -m bench bench-ios` (nox -s bench-ios): Core ML artifacts on an iPhone, or this Mac.

On macOS with Xcode and a paired iPhone: every Core ML artifact of the manifest (or
`--artifact`) is measured by the one session loop (`bench.session`) on the iOS target
(`bench.targets.ios.IosTarget`: the harness staged and built with xcodebuild, one XCTest run per
compute unit and round), stored with provenance `phone` under device id `ios:<udid>`.
`--device mac` runs the harness's command-line tool on this Mac instead (provenance `host`).
Anywhere but macOS with Xcode, the command stops with one line saying so, before anything runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bench import options
from bench.errors import IOSHarnessError
from bench.report.sessions import render_ios
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord
from bench.targets.base import Artifact
from bench.targets.ios import (
    COMPUTE_UNITS,
    COREML_FORMATS,
    DEFAULT_COMPUTE_UNITS,
    MAC,
    IosTarget,
    check_compute_units,
    check_settings,
    require_xcode,
)
from deploy.export.coreml_artifact import artifact_sha256

# -- which artifacts -------------------------------------------------------------------------


def manifest_artifacts(
    manifest_path: Path, models: Iterable[str] = (), recipes: Iterable[str] = ()
) -> list[Artifact]:
    """Valid Core ML (.mlpackage) entries of the manifest, optionally filtered."""
    selected = options.manifest_selection(
        manifest_path,
        lambda entry: entry.recipe.get("format") in COREML_FORMATS,
        models,
        recipes,
        what="Core ML artifact",
        hint="export some with `nox -s export -- --recipes coreml-fp16,coreml-int8,coreml-w8`",
    )
    return [Artifact(record, path) for record, path in selected]


def unlisted_artifact(path: Path) -> Artifact:
    """A Core ML model outside any manifest: identity is its digest alone, and the store says so."""
    path = Path(path)
    if not path.exists():
        raise IOSHarnessError(f"{path} does not exist")
    return Artifact(
        ArtifactRecord(
            artifact_sha256(path), f"unlisted:{path.name}", "unlisted", format=path.suffix
        ),
        path,
    )


# -- output -----------------------------------------------------------------------------------


def _say(_label: str, message: str) -> None:
    """The session's progress as plain lines on stderr; a failure as `error:`."""
    if message != "connecting":
        if message.startswith("FAILED "):
            message = "error: " + message.removeprefix("FAILED ")
        print(message, file=sys.stderr, flush=True)


# -- command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_selection_arguments(parser, "Core ML recipe names (default: all)")
    parser.add_argument("--artifact", type=Path, help="a .mlpackage outside the manifest")
    parser.add_argument(
        "--compute-units",
        default=",".join(DEFAULT_COMPUTE_UNITS),
        help=f"comma-separated, of {', '.join(COMPUTE_UNITS)} (default: %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs per artifact and compute unit, interleaved across them (default: 1)",
    )
    parser.add_argument(
        "--device", help=f"iPhone UDID (default: the one paired iPhone), or '{MAC}' for this Mac"
    )
    parser.add_argument("--team", help="Apple development team id for code signing")
    parser.add_argument("--workdir", type=Path, help="where to stage and build (default: temp)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per xcodebuild")


def run(args: argparse.Namespace) -> int:
    require_xcode()  # off macOS: one line, before anything else
    units = check_compute_units(args.compute_units.split(","))
    check_settings(args.warmup, args.iterations, args.seed)
    rounds = options.rounds(args)
    if args.artifact:
        artifacts = [unlisted_artifact(args.artifact)]
    else:
        artifacts = manifest_artifacts(
            args.manifest, options.names(args.models), options.names(args.recipes)
        )
    config = RunnerConfig(warmup=args.warmup, iterations=args.iterations, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_ios_") as tmp:
        target = IosTarget(
            args.device,
            workdir=Path(args.workdir or tmp),
            compute_units=units,
            team=args.team,
            timeout_s=args.timeout,
        )
        (outcome,) = run_session(
            [target], artifacts, config, args.store, rounds=rounds, skip_stored=False, say=_say
        )
    if outcome.error and not outcome.not_stored:
        raise IOSHarnessError(outcome.error)
    render_ios(outcome)
    if unstored := len(outcome.not_stored):
        print(f"stored in {args.store}, except {unstored} run(s): NOT STORED (see the errors)")
    else:
        print(f"stored in {args.store}")
    return 2 if outcome.failed else 0
