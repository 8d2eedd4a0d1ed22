"""Command-line options shared by the commands that select artifacts and drive a runner.

bench-host, bench-android, bench-peers and bench-ios take the same selection and stopping
options; they are defined once here so defaults and help texts cannot drift apart.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.errors import ArtifactError, BenchError
from bench.runner.run import RunnerConfig
from bench.store import DEFAULT_PATH, ArtifactRecord
from bench.targets.base import Artifact
from deploy.artifacts.hashing import sha256_file
from deploy.artifacts.manifest import Manifest

DEFAULT_MANIFEST = Path("artifacts") / "manifest.json"


def names(values: Sequence[str] | None) -> list[str]:
    """`--models a,b c` -> ["a", "b", "c"]: repeated and comma-separated names alike."""
    return [n for v in values or () for n in v.split(",") if n]


def select(entries: Iterable[Any], models: Iterable[str], recipes: Iterable[str]) -> list[Any]:
    """The manifest entries whose model and recipe were asked for (all, when none were)."""
    wanted_models, wanted_recipes = set(models), set(recipes)
    return [
        entry
        for entry in entries
        if (not wanted_models or entry.model_name in wanted_models)
        and (not wanted_recipes or entry.recipe_name in wanted_recipes)
    ]


def manifest_selection(
    manifest_path: Path,
    keep: Callable[[Any], bool],
    models: Iterable[str],
    recipes: Iterable[str],
    *,
    what: str,
    hint: str,
) -> list[tuple[ArtifactRecord, Path]]:
    """(record, file) of the valid manifest entries `keep` accepts that the selection asks for.

    One-line BenchError when the manifest is missing or nothing matches: `what` names the kind
    of artifact looked for, `hint` how to make one.
    """
    if not Path(manifest_path).exists():
        raise BenchError(f"no manifest at {manifest_path}; run `nox -s export` first")
    manifest = Manifest.load(manifest_path)
    kept = [e for e in manifest.valid_entries() if keep(e)]
    models, recipes = list(models), list(recipes)
    out = [
        (ArtifactRecord.from_manifest_entry(entry), manifest.path_of(entry))
        for entry in select(kept, models, recipes)
    ]
    if not out:
        raise BenchError(
            f"no valid {what} in {manifest_path} matches "
            f"models={sorted(set(models)) or 'all'} recipes={sorted(set(recipes)) or 'all'}; "
            f"{hint}"
        )
    return out


def add_selection_arguments(parser: argparse.ArgumentParser, recipes_help: str) -> None:
    """--manifest, --store, --models, --recipes."""
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--store", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--models", nargs="+", help="model names (default: all in the manifest)")
    parser.add_argument("--recipes", nargs="+", help=recipes_help)


def add_measurement_arguments(
    parser: argparse.ArgumentParser, iterations: int = 30, rounds: int = 5
) -> None:
    """--rounds, --warmup, --iterations, --min-time, --max-time, --target-precision."""
    parser.add_argument(
        "--rounds",
        type=int,
        default=rounds,
        help="fresh runner processes per artifact, interleaved across the artifacts (the unit "
        "of replication: iterations in one process drift together)",
    )
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--iterations", type=int, default=iterations, help="minimum measured iterations per round"
    )
    parser.add_argument(
        "--min-time", type=float, default=2.0, help="minimum measuring seconds per round"
    )
    parser.add_argument("--max-time", type=float, default=30.0, help="time budget per round")
    parser.add_argument(
        "--target-precision",
        type=float,
        default=0.01,
        help="stop a round when the 95%% CI of its median is within +-this fraction (0: off)",
    )


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """--profile, --profile-iterations, --probes: per-layer profiles after the timed rounds."""
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the timed rounds, profile each artifact in a separate round (ETDump, never "
        "timed) and store its per-layer times; also time the peak probe once per precision "
        "(shown by `python -m bench profile`)",
    )
    parser.add_argument(
        "--profile-iterations",
        type=int,
        default=30,
        help="--profile: measured iterations of the profiling round",
    )
    parser.add_argument(
        "--probes",
        type=Path,
        default=None,
        help="--profile: the peak probes' folder (default: probes/ beside the manifest; "
        "exported there on first use)",
    )


def profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run_session keywords of add_profile_arguments (none without --profile)."""
    if not getattr(args, "profile", False):
        return {}
    if args.profile_iterations < 1:
        raise BenchError(f"--profile-iterations {args.profile_iterations}: give at least 1")
    probes = args.probes or Path(args.manifest).parent / "probes"
    return {"profile": True, "profile_iterations": args.profile_iterations, "probes": probes}


def rounds(args: argparse.Namespace) -> int:
    """--rounds, checked: at least 1."""
    if args.rounds < 1:
        raise BenchError(f"--rounds {args.rounds}: give at least 1 (5 or more to compare)")
    return int(args.rounds)


def runner_config(args: argparse.Namespace, threads: int = 1) -> RunnerConfig:
    """The RunnerConfig the measurement options describe."""
    return RunnerConfig(
        threads=threads,
        warmup=args.warmup,
        iterations=args.iterations,
        min_time_s=args.min_time,
        max_time_s=args.max_time,
        target_precision=args.target_precision,
    )


def runs_on_bench_runner(entry: Any) -> bool:
    """XNNPACK .pte programs: what bench_runner (built with the XNNPACK delegate only) runs.

    Core ML packages and .pte programs delegated to Core ML (et-coreml-fp16) go to the iOS
    harness instead.
    """
    recipe = entry.recipe or {}
    return recipe.get("backend") == "xnnpack" and str(recipe.get("format")).lstrip(".") == "pte"


def manifest_artifacts(
    manifest_path: Path, models: Iterable[str] = (), recipes: Iterable[str] = ()
) -> list[Artifact]:
    """Valid ExecuTorch entries of the manifest (optionally filtered) that bench_runner runs."""
    selected = manifest_selection(
        manifest_path,
        runs_on_bench_runner,
        models,
        recipes,
        what=".pte artifact",
        hint="see `nox -s export`",
    )
    return [Artifact(record, path) for record, path in selected]


def unlisted_artifacts(paths: Iterable[Path]) -> list[Artifact]:
    """.pte files outside any manifest: identity is their sha256 alone, and the store says so
    (model `unlisted:<file name>`, recipe `unlisted`) rather than guessing from the name."""
    out = []
    for path in map(Path, paths):
        if not path.exists():
            raise ArtifactError(f"{path} does not exist")
        out.append(
            Artifact(ArtifactRecord(sha256_file(path), f"unlisted:{path.name}", "unlisted"), path)
        )
    return out


def add_pte_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pte", nargs="+", type=Path, help="benchmark these .pte files instead of the manifest"
    )


def selected_artifacts(args: argparse.Namespace) -> list[Artifact]:
    """The --pte files, else the manifest's runnable entries filtered by --models/--recipes."""
    if args.pte:
        return unlisted_artifacts(args.pte)
    return manifest_artifacts(args.manifest, names(args.models), names(args.recipes))


def add_ab_argument(parser: argparse.ArgumentParser) -> None:
    """--ab OLD NEW and --threshold: a same-session A/B of two .pte files."""
    parser.add_argument(
        "--ab",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="measure two .pte files in one session, rounds interleaved, and decide NEW/OLD "
        "on the CI of the ratio of their round medians",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="--ab: the band within which NEW counts as the same as OLD (fraction)",
    )


def ab_lines(args: argparse.Namespace, rows: Sequence[Any]) -> list[str]:
    """The --ab verdict of each target's OLD/NEW rows (rows in the order OLD, NEW per target)."""
    from bench.compare.ab import ab_decision, ab_line

    old_path, new_path = args.ab
    by_target: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_target.setdefault(row.target, {})[row.model] = row
    lines = []
    for target, found in by_target.items():
        old, new = found.get(f"unlisted:{old_path.name}"), found.get(f"unlisted:{new_path.name}")
        if old is None or new is None:
            continue
        decision = ab_decision(old.rounds_ms, new.rounds_ms, args.threshold)
        lines.append(f"{target}: {ab_line(old_path.name, new_path.name, decision)}")
    return lines


def ab_artifacts(args: argparse.Namespace) -> list[Artifact]:
    """--ab OLD NEW as two unlisted artifacts (none without --ab); they must differ."""
    if not getattr(args, "ab", None):
        return []
    old, new = unlisted_artifacts(args.ab)
    if old.record.sha256 == new.record.sha256:
        raise BenchError(f"--ab: {args.ab[0]} and {args.ab[1]} are the same program (same sha256)")
    if old.path.name == new.path.name:
        raise BenchError(f"--ab: give the two files different names ({old.path.name} twice)")
    return [old, new]
