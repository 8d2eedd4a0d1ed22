"""`python -m bench evaluate --data DIR [--limit N]` (nox -s evaluate): top-1 / top-5 of the
manifest's artifacts on a labelled folder, beside the eager fp32 model and the papers.

The folder is read by `bench.accuracy.folder` (one subfolder per class, sorted names), the
artifacts and their eager models are evaluated by `bench.accuracy.evaluation` on THIS HOST
(provenance `host`), the results go to the results store (`Store.record_evaluation`, one row per
artifact and one per eager model, keyed by the hash of the images evaluated) and the table is
drawn by `bench.report.accuracy`. `compare` shows them beside the latencies of the same artifact.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import options
from bench.accuracy.evaluation import Outcome, Plan, Unit
from bench.accuracy.folder import LabelledFolder
from bench.store import DEFAULT_PATH, EvaluationRecord

DEFAULT_ARTIFACTS = Path("artifacts")
PROVENANCE = "host"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled folder: DIR/<class>/<image>, class index = sorted folder name "
        "(ImageNet-val / torchvision ImageFolder layout)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="evaluate the first N images only, taken round-robin over the classes",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=DEFAULT_ARTIFACTS,
        help="folder holding manifest.json (default: %(default)s)",
    )
    parser.add_argument("--store", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument("--models", nargs="+", help="model names (default: all in the manifest)")
    parser.add_argument("--recipes", nargs="+", help="recipe names (default: all)")


def selected_entries(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """(manifest, its valid entries chosen by --models / --recipes), as bench-host selects."""
    from deploy.artifacts.manifest import MANIFEST_NAME, Manifest

    manifest_path = Path(args.artifacts) / MANIFEST_NAME
    chosen = options.manifest_selection(
        manifest_path,
        lambda entry: True,
        options.names(args.models),
        options.names(args.recipes),
        what="artifact",
        hint="see `nox -s export`",
    )
    manifest = Manifest.load(manifest_path)
    by_sha = {entry.sha256: entry for entry in manifest.valid_entries()}
    return manifest, [by_sha[record.sha256] for record, _ in chosen]


def records(
    outcome: Outcome, folder: LabelledFolder, data_sha256: str, device_id: str, cpu: str
) -> list[EvaluationRecord]:
    """One EvaluationRecord per unit that finished (eager ones first, as in the plan)."""
    plan = outcome.plan
    out = []
    for unit in plan.units:
        if unit.error or not unit.counts.images:
            continue
        eager = plan.eager_of(unit)
        reference = eager.counts if eager is not None and not eager.error else None
        out.append(
            EvaluationRecord(
                device_id=device_id,
                model=unit.model,
                recipe=unit.recipe,
                data_sha256=data_sha256,
                images=unit.counts.images,
                top1=float(unit.counts.fraction(1) or 0.0),
                top5=unit.counts.fraction(5) if plan.num_classes > 5 else None,
                artifact_sha256=unit.artifact_sha256,
                weights_sha256=str(unit.weights.get("sha256") or ""),
                data_folder=str(folder.root.resolve()),
                skipped=len(outcome.skipped),
                reference_top1=reference.fraction(1) if reference else None,
                reference_top5=(
                    reference.fraction(5) if reference and plan.num_classes > 5 else None
                ),
                detail=_detail(unit, outcome, folder, cpu),
            )
        )
    return out


def _detail(unit: Unit, outcome: Outcome, folder: LabelledFolder, cpu: str) -> dict[str, Any]:
    return {
        "provenance": PROVENANCE,
        "runtime": unit.runtime,
        "cpu_model": cpu,
        "limit": folder.limit,
        "evaluated": outcome.evaluated,
        "files_in_folder": folder.files_in_folder,
        "selection": "all"
        if outcome.evaluated == folder.files_in_folder
        else f"first {outcome.evaluated} round-robin over the classes",
        "interrupted": outcome.interrupted,
        "classes": folder.num_classes,
        "skipped_files": len(outcome.skipped),
        "preprocessing": unit.preprocessing.to_dict(),
        "weights_source": str(unit.weights.get("source") or ""),
        "weights_detail": str(unit.weights.get("detail") or ""),
    }


def _progress(console: Any) -> Any:
    from deploy.console import progress_bar

    return progress_bar(console, "[bold]{task.description}", remaining=True, detail=False)


def _prepare(args: argparse.Namespace, console: Any) -> tuple[LabelledFolder, Plan, Any]:
    from bench.accuracy.evaluation import make_plan
    from bench.accuracy.folder import read_labelled_folder

    folder = read_labelled_folder(args.data, args.limit)
    manifest, entries = selected_entries(args)
    with console.status("building the eager models and loading the artifacts"):
        plan = make_plan(manifest, entries, folder)
    return folder, plan, manifest


def run(args: argparse.Namespace) -> int:
    from bench.accuracy.evaluation import evaluate
    from bench.accuracy.folder import selection_sha256
    from bench.report.accuracy import render_evaluation
    from bench.store import ArtifactRecord, Store
    from bench.targets.host import host_device
    from deploy.console import make_console

    console = make_console()
    folder, plan, _ = _prepare(args, console)
    units = ", ".join(f"{u.model} {u.recipe}" for u in plan.units)
    console.print(f"evaluating on {folder.describe()}: {units}", highlight=False, markup=False)
    with _progress(console) as progress:
        task = progress.add_task("evaluate", total=len(folder.images))
        outcome = evaluate(plan, folder, lambda n: progress.advance(task, n))
        chosen = folder.images[: outcome.evaluated]
        hashing = progress.add_task("hash", total=len(chosen))
        data_sha256 = selection_sha256(
            folder.classes, chosen, lambda n: progress.advance(hashing, n)
        )
    device = host_device()
    found = records(outcome, folder, data_sha256, device.id, device.model)
    # the table first: a store that cannot be written loses no figure
    render_evaluation(found, plan_notes(plan, outcome, folder, data_sha256), console)
    if found:
        with Store.open(args.store) as store:
            store.upsert_device(device)
            for unit in plan.artifacts:
                if unit.entry is not None and not unit.error:
                    store.upsert_artifact(ArtifactRecord.from_manifest_entry(unit.entry))
            for record in found:
                store.record_evaluation(record)
    failed = [u for u in plan.units if u.error]
    if outcome.interrupted:
        kept = f"the first {outcome.evaluated} images' results were stored" if found else ""
        console.print(f"interrupted: {kept or 'nothing was evaluated, nothing stored'}")
        return 130
    console.print(f"stored in {args.store}" if found else "nothing stored", markup=False)
    return 1 if failed else 0


def plan_notes(plan: Plan, outcome: Outcome, folder: LabelledFolder, data_sha256: str) -> list[str]:
    """The lines under the table: data, skipped images, left-out artifacts, failures."""
    part = (
        f" of the {folder.files_in_folder} files in the folder (the first ones, round-robin over "
        "the classes)"
        if outcome.evaluated < folder.files_in_folder
        else ""
    )
    notes = [
        f"data: {folder.root} (sha256 {data_sha256[:12]}), {folder.num_classes} classes: "
        f"{outcome.images} images evaluated of {outcome.evaluated} taken{part}"
    ]
    if outcome.skipped:
        shown = ", ".join(f"{name} ({why})" for name, why in outcome.skipped[:3])
        more = f" and {len(outcome.skipped) - 3} more" if len(outcome.skipped) > 3 else ""
        notes.append(f"skipped {len(outcome.skipped)} unreadable file(s): {shown}{more}")
    notes += plan.notes
    notes += [
        f"FAILED: {u.model} {u.recipe} ({u.runtime}): {u.error}" for u in plan.units if u.error
    ]
    return notes
