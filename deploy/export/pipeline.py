"""Model spec + recipe -> a validated artifact in `out_dir`, entered in its manifest.

    from deploy.export import export_artifact, get_recipe
    entry = export_artifact(parse_model_name("mobilenet_v2_1.0_224"), get_recipe("xnnpack-int8"))

Steps: cache check (cheap key, no model built) -> images (calibration = kept part of the set,
validation = held-out part) -> build the model -> lower with the recipe's backend -> write to a
temp name -> run it in its runtime and compare with the eager fp32 model -> rename -> enter in
the manifest (valid only if fidelity and delegation pass). The backend is looked up from
`recipe.backend` in BACKENDS; a backend module provides `lower(module, recipe, example,
calibration) -> LoweredProgram` and `run(path, images) -> outputs`, and may provide
`validate_artifact(path, reference, validation, recipe, thresholds, lowered) -> Fidelity`.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from deploy.artifacts.hashing import sha256_path
from deploy.artifacts.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    verify_artifact,
)
from deploy.errors import (
    ArtifactIntegrityError,
    ImageSetError,
    OutputFolderError,
    RecipeError,
    ValidationFailedError,
)
from deploy.export.cache import cache_key, toolchain_versions
from deploy.export.inputs import preprocessing_of
from deploy.export.recipes import Recipe
from deploy.export.validation import Fidelity, Thresholds, default_thresholds
from deploy.images import How, ImageSet
from deploy.models import BuiltModel, ModelSpec

DEFAULT_OUT = Path("artifacts")
DEFAULT_MODELS = (
    "mobilenet_v1_1.0_224",
    "mobilenet_v2_1.0_224",
    "mobilenet_v3_large_1.0_224",
    "mobilenet_v3_small_1.0_224",
)
# recipe.backend -> module implementing lower() and run()
BACKENDS: dict[str, str] = {"xnnpack": "deploy.export.xnnpack", "coreml": "deploy.export.coreml"}
MIN_IMAGES = 2  # at least one to calibrate on and one held out

Progress = Callable[["ProgressEvent"], None]


class ArtifactInvalidError(ValidationFailedError):
    """An artifact was written and entered in the manifest, but not as valid."""

    def __init__(self, entry: ManifestEntry) -> None:
        failures = "; ".join(entry.fidelity.get("failures", [])) or "validation failed"
        super().__init__(
            f"{entry.model_name} {entry.recipe_name} is not valid: {failures}; "
            "see the figures in the manifest, change the calibration images or the thresholds"
        )
        self.entry = entry


@dataclass(frozen=True)
class ProgressEvent:
    kind: str  # "start" | "stage" | "done"
    index: int  # 0-based position in the run
    total: int
    model: str
    recipe: str
    stage: str = ""
    outcome: ExportOutcome | None = None


@dataclass(frozen=True)
class ExportOutcome:
    """What happened to one (model, recipe): an entry (valid or not), from cache or fresh."""

    spec: ModelSpec
    recipe: Recipe
    entry: ManifestEntry
    cached: bool

    @property
    def valid(self) -> bool:
        return self.entry.valid


def backend_module(recipe: Recipe) -> ModuleType:
    module_name = BACKENDS.get(recipe.backend)
    if module_name is None:
        raise RecipeError(
            f"recipe {recipe.name} needs the {recipe.backend} backend, which this version "
            f"cannot export; available backends: {', '.join(BACKENDS)}"
        )
    return importlib.import_module(module_name)


def check_output_folder(out_dir: Path) -> Path:
    """Create `out_dir` if needed and prove it is writable; else OutputFolderError."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write to output folder {out_dir} ({exc.strerror or exc}); {_write_fix(exc)}"
        ) from None
    return out_dir


def _write_fix(exc: OSError) -> str:
    """What to do about an OSError writing into the output folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free space, or pass --out on another disk"
    return "pass a writable folder with --out"


def prepare_images(folder: Path | None, how: How) -> tuple[ImageSet, ImageSet]:
    """(calibration, validation): the kept and held-out parts of the image set.

    `how` is the artifact's Preprocessing (or a resolution: the ImageNet transform at it).
    """
    from deploy.images import load_images

    images = load_images(folder, how)
    if len(images) < MIN_IMAGES:
        where = folder if folder is not None else "skimage/data"
        raise ImageSetError(
            f"{where} holds {len(images)} readable image(s); export needs at least {MIN_IMAGES} "
            "(calibration + held-out validation): add photographs"
        )
    return images.split(every=min(4, len(images)))


class _RunCache:
    """Models and image sets built once per run, shared by the recipes of one model."""

    def __init__(self) -> None:
        self.models: dict[ModelSpec, BuiltModel] = {}
        self.images: dict[tuple[str, How], tuple[ImageSet, ImageSet]] = {}

    def model(self, spec: ModelSpec) -> BuiltModel:
        from deploy.models import build_model

        if spec not in self.models:
            self.models[spec] = build_model(spec)
        return self.models[spec]

    def image_sets(self, folder: Path | None, how: How) -> tuple[ImageSet, ImageSet]:
        key = (str(folder), how)
        if key not in self.images:
            self.images[key] = prepare_images(folder, how)
        return self.images[key]


def find_cached(manifest: Manifest, key: str) -> ManifestEntry | None:
    """A valid entry made from exactly these inputs whose file is intact."""
    for entry in manifest.entries:
        if entry.cache_key == key and entry.valid:
            try:
                verify_artifact(manifest, entry)
            except ArtifactIntegrityError:
                continue
            return entry
    return None


def export_artifact(
    spec: ModelSpec,
    recipe: Recipe,
    out_dir: Path | str = DEFAULT_OUT,
    calibration_dir: Path | str | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
) -> ManifestEntry:
    """Export, validate and record one artifact; ArtifactInvalidError if it fails validation."""
    outcome = _export_one(
        spec,
        recipe,
        Path(out_dir),
        _path_or_none(calibration_dir),
        thresholds or default_thresholds(spec.weights),
        force,
        _RunCache(),
        lambda stage: None,
    )
    if not outcome.valid:
        raise ArtifactInvalidError(outcome.entry)
    return outcome.entry


@contextlib.contextmanager
def _writing(what: Path) -> Iterator[None]:
    """An OSError while writing into the output folder becomes one line naming the fix."""
    try:
        yield
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write {what} ({exc.strerror or exc}); {_write_fix(exc)}; artifacts "
            "finished before are kept"
        ) from None


def export_many(
    specs: Sequence[ModelSpec],
    recipes: Sequence[Recipe],
    out_dir: Path | str = DEFAULT_OUT,
    calibration_dir: Path | str | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[ExportOutcome]:
    """Every (spec, recipe) pair, in order; invalid artifacts are reported, not raised.

    Without `thresholds`, each spec gets the defaults for its weights (`default_thresholds`).

    Errors the user must fix (bad folder, corrupt checkpoint, lowering failure) stop the run
    with a DeployError; artifacts finished before stay in the manifest.
    """
    out = check_output_folder(Path(out_dir))
    calibration = _path_or_none(calibration_dir)
    notify = progress or (lambda event: None)
    run_cache = _RunCache()
    jobs = [(spec, recipe) for spec in specs for recipe in recipes]
    outcomes = []
    for index, (spec, recipe) in enumerate(jobs):
        notify(ProgressEvent("start", index, len(jobs), spec.name, recipe.name))

        def stage(
            name: str, index: int = index, spec: ModelSpec = spec, r: Recipe = recipe
        ) -> None:
            notify(ProgressEvent("stage", index, len(jobs), spec.name, r.name, stage=name))

        chosen = thresholds or default_thresholds(spec.weights)
        outcome = _export_one(spec, recipe, out, calibration, chosen, force, run_cache, stage)
        outcomes.append(outcome)
        notify(ProgressEvent("done", index, len(jobs), spec.name, recipe.name, outcome=outcome))
    return outcomes


def _path_or_none(value: Path | str | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value)


def _export_one(
    spec: ModelSpec,
    recipe: Recipe,
    out: Path,
    calibration_dir: Path | None,
    thresholds: Thresholds,
    force: bool,
    run_cache: _RunCache,
    stage: Callable[[str], None],
) -> ExportOutcome:
    started = time.perf_counter()
    backend = backend_module(recipe)
    toolchain = toolchain_versions()
    key = cache_key(spec, recipe, calibration_dir, thresholds.as_dict(), toolchain)
    manifest_path = out / MANIFEST_NAME
    manifest = Manifest.load(manifest_path)  # even with --force: a bad manifest stops us early
    cached = None if force else find_cached(manifest, key)
    if cached is not None:
        return ExportOutcome(spec, recipe, cached, cached=True)
    check_output_folder(out)

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    stage("model")
    built = run_cache.model(spec)
    complexity = built.complexity()
    preprocessing = preprocessing_of(built)
    stage("images")
    calibration, validation = run_cache.image_sets(calibration_dir, preprocessing)
    from deploy.export.validation import eager_outputs

    reference = eager_outputs(built.module, validation.tensor)
    timings["prepare_s"] = time.perf_counter() - clock

    stage("quantize + lower" if recipe.quantization else "lower")
    lowered = backend.lower(
        copy.deepcopy(built.module),
        recipe,
        calibration.tensor[:1],
        calibration.tensor if recipe.needs_calibration else None,
    )
    timings.update(lowered.timings)

    temp = out / f".{spec.name}_{recipe.name}.{os.getpid()}.tmp{recipe.format}"
    try:
        with _writing(temp):
            lowered.write(temp)
        stage("validate")
        clock = time.perf_counter()
        # A backend whose runtime cannot run here (Core ML off macOS) validates its own way.
        validate_artifact = getattr(backend, "validate_artifact", None)
        if validate_artifact is not None:
            fidelity = validate_artifact(temp, reference, validation, recipe, thresholds, lowered)
        else:
            fidelity = _validate(backend, temp, reference, validation, recipe, thresholds)
        failures = list(fidelity.failures)
        coverage = lowered.delegation["coverage"]
        if coverage < thresholds.min_delegation:
            outside = ", ".join(
                f"{op} x{n}" for op, n in lowered.delegation["non_delegated"].items()
            )
            failures.append(
                f"delegation coverage {coverage:.3f} is below {thresholds.min_delegation:g} "
                f"(outside the delegate: {outside})"
            )
        timings["validate_s"] = time.perf_counter() - clock
        digest = sha256_path(temp)
        final = out / f"{spec.name}_{recipe.name}_{digest[:12]}{recipe.format}"
        with _writing(final):
            _replace(temp, final)
    finally:
        _remove(temp)

    image_folder = str(calibration_dir.resolve()) if calibration_dir else "skimage"
    entry = ManifestEntry(
        sha256=digest,
        file=final.name,
        size_bytes=_size(final),
        model={
            "name": spec.name,
            "family": spec.family,
            "width": spec.width,
            "resolution": spec.resolution,
            "num_classes": built.num_classes,
        },
        recipe=recipe.as_dict(),
        input_shape=list(spec.input_shape),
        params=complexity.params,
        madds=complexity.madds,
        weights=built.weights.as_dict(),
        calibration=(
            {
                "sha256": calibration.sha256,
                "count": len(calibration),
                "folder": image_folder,
            }
            if recipe.needs_calibration
            else None
        ),
        fidelity={
            **fidelity.as_dict(),
            "failures": failures,
            "passed": not failures,
            "thresholds": {**fidelity.thresholds, "min_delegation": thresholds.min_delegation},
            "images": {**fidelity.images, "folder": image_folder},
        },
        valid=not failures,
        delegation=lowered.delegation,
        toolchain=toolchain,
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        export_s=round(time.perf_counter() - started, 3),
        cache_key=key,
        preprocessing=preprocessing.to_dict(),
        timings={k: round(v, 3) for k, v in timings.items()},
    )
    # Locked: entries another export wrote meanwhile are kept. The replaced entries' files are
    # deleted by the manifest, which never deletes outside its folder.
    with _writing(manifest_path), Manifest.locked(manifest_path) as manifest:
        manifest.remove_unused_files(manifest.upsert(entry))
    return ExportOutcome(spec, recipe, entry, cached=False)


def _validate(
    backend: ModuleType,
    path: Path,
    reference: Any,
    validation: ImageSet,
    recipe: Recipe,
    thresholds: Thresholds,
) -> Fidelity:
    from deploy.export.validation import validate

    try:
        return validate(
            lambda images: backend.run(path, images),
            reference,
            validation.tensor,
            validation.sha256,
            recipe.precision,
            thresholds,
        )
    except Exception as exc:  # a program that does not load or run is simply invalid
        return Fidelity(
            metrics={},
            thresholds={m: b for m, _, b in thresholds.checks(recipe.precision)},
            failures=[f"the artifact does not run ({type(exc).__name__}: {exc})"[:300]],
            images={"sha256": validation.sha256, "count": len(validation)},
            outputs_sha256="",
        )


def _replace(source: Path, target: Path) -> None:
    """Move `source` to `target`; a symbolic link at `target` is replaced, never followed."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(source, target)


def _remove(path: Path) -> None:
    """Delete a file or folder; a symbolic link is deleted itself, never followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
