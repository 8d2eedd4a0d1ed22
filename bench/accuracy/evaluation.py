"""Top-1 and top-5 of manifest artifacts and of their eager fp32 models on a labelled folder.

What is evaluated (`make_plan`): every selected manifest entry, in the runtime of this host
(ExecuTorch's Python runtime for XNNPACK `.pte`, via `deploy.export.validation.run_pte`; Core ML
only on macOS, via `deploy.export.coreml.run`), and beside it the EAGER fp32 model the entry was
exported from, rebuilt from the manifest's model and weights fields (`deploy.models`): the same
architecture, and the same weights file (its sha256 must still be the recorded one).

How (`evaluate`): the images are decoded once per chunk and per distinct preprocessing, each with
the ENTRY's preprocessing from the manifest (`entry.input_preprocessing`); the eager model of an
entry uses the entry's preprocessing too. An image that does not decode (with any of the
preprocessings) is skipped for every model and counted, so every figure is over the same images.
Counts are committed a whole chunk at a time: Ctrl-C leaves the images of the chunks finished
for every model, which are exactly the first N of the folder's order (`--limit N`).

A prediction's rank is the number of classes scored above the true one, plus those scored equal
to it with a lower index (ties go to the lower class index, as `argmax`): top-1 is rank 0,
top-5 rank < 5. Top-5 is not given for 5 classes or fewer (it would always be 100%).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.accuracy.folder import LabelledFolder, LabelledImage
from bench.errors import EvaluationError
from bench.store import EAGER_RECIPE
from deploy.artifacts.manifest import Manifest, ManifestEntry, verify_artifact
from deploy.artifacts.preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch

TOP_K = 5
CHUNK = 32  # images decoded, run and committed together
EAGER_RUNTIME = "PyTorch eager"
EXECUTORCH_RUNTIME = "ExecuTorch (Python runtime)"
COREML_RUNTIME = "Core ML (macOS)"


def ranks(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Per row, the true class's rank: classes scored above it, plus equal ones with a lower
    index (so rank 0 is exactly `argmax` == label)."""
    scores = np.asarray(logits, dtype=np.float64).reshape(len(labels), -1)
    index = np.asarray(labels, dtype=np.int64)
    true = scores[np.arange(len(index)), index][:, None]
    above = (scores > true).sum(axis=1)
    columns = np.arange(scores.shape[1])[None, :]
    tied_before = ((scores == true) & (columns < index[:, None])).sum(axis=1)
    return np.asarray(above + tied_before)


@dataclass
class TopK:
    """Counts of one model over the images seen so far."""

    images: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, logits: np.ndarray, labels: Sequence[int]) -> None:
        rank = ranks(logits, labels)
        self.images += len(rank)
        self.top1 += int((rank == 0).sum())
        self.top5 += int((rank < TOP_K).sum())

    def fraction(self, k: int = 1) -> float | None:
        if not self.images:
            return None
        return (self.top1 if k == 1 else self.top5) / self.images


@dataclass
class Unit:
    """One model evaluated: an artifact in its runtime, or an eager fp32 model."""

    key: str
    model: str
    recipe: str  # the artifact's recipe, or EAGER_RECIPE
    runtime: str
    preprocessing: Preprocessing
    run: Callable[[torch.Tensor], torch.Tensor]
    weights: dict[str, Any]  # source, detail, sha256 (as the manifest has them)
    entry: ManifestEntry | None = None  # None for an eager model
    eager_key: str = ""  # an artifact's eager reference
    counts: TopK = field(default_factory=TopK)
    error: str = ""  # why it stopped (it did not run, or gave the wrong number of classes)

    @property
    def is_eager(self) -> bool:
        return self.entry is None

    @property
    def artifact_sha256(self) -> str | None:
        return None if self.entry is None else self.entry.sha256


@dataclass
class Plan:
    """What will be evaluated, and what was left out (one line each)."""

    units: list[Unit]
    num_classes: int
    notes: list[str] = field(default_factory=list)

    @property
    def artifacts(self) -> list[Unit]:
        return [u for u in self.units if not u.is_eager]

    def eager_of(self, unit: Unit) -> Unit | None:
        return next((u for u in self.units if u.key == unit.eager_key), None)


@dataclass
class Outcome:
    """The evaluated images (the first `evaluated` of the folder's selection) and the counts."""

    plan: Plan
    evaluated: int  # images of the selection taken (decoded or skipped), whole chunks
    skipped: list[tuple[str, str]]  # (relative name, why) of the images that did not decode
    interrupted: bool = False

    @property
    def images(self) -> int:
        return self.evaluated - len(self.skipped)


# -- the plan ---------------------------------------------------------------------------------


def can_run_coreml() -> bool:
    """Core ML predictions need macOS (coremltools' runtime)."""
    if sys.platform != "darwin":
        return False
    from deploy.export.coreml_validation import can_predict

    return bool(can_predict())


def weights_argument(entry: ManifestEntry) -> str:
    """The `weights` of a ModelSpec that rebuilds the entry's eager model."""
    weights = entry.weights or {}
    source = weights.get("source")
    if source in ("random", "imagenet"):
        return str(source)
    if source == "checkpoint" and weights.get("detail"):
        return str(weights["detail"])
    raise EvaluationError(
        f"{entry.describe()}: the manifest records weights {source!r}, which cannot be "
        "rebuilt for the eager model; re-export it (nox -s export)"
    )


def _eager_runner(module: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    from deploy.export.validation import eager_outputs

    return lambda images: eager_outputs(module, images)


def _artifact_runner(entry: ManifestEntry, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    if str(entry.recipe.get("format", "")).lstrip(".") == "pte":
        from deploy.export.validation import run_pte

        return lambda images: run_pte(path, images)
    from deploy.export import coreml

    return lambda images: coreml.run(path, images)


def runtime_of(entry: ManifestEntry) -> str:
    return COREML_RUNTIME if entry.recipe.get("backend") == "coreml" else EXECUTORCH_RUNTIME


def make_plan(
    manifest: Manifest,
    entries: Sequence[ManifestEntry],
    folder: LabelledFolder,
    coreml_here: bool | None = None,
) -> Plan:
    """The units to evaluate: each entry that runs here, and its eager model (built once per
    model, weights and preprocessing). Entries whose class count differs from the folder's are
    left out with a note; when none is left, one EvaluationError line says why."""
    from deploy.models import build_model, parse_model_name

    coreml_here = can_run_coreml() if coreml_here is None else coreml_here
    units: list[Unit] = []
    eager: dict[tuple[str, str, str], Unit] = {}
    notes: list[str] = []
    mismatched: list[str] = []
    coreml_skipped = [e for e in entries if runtime_of(e) == COREML_RUNTIME and not coreml_here]
    if coreml_skipped:
        names = ", ".join(f"{e.model_name} {e.recipe_name}" for e in coreml_skipped)
        notes.append(
            f"Core ML runs only on macOS: {len(coreml_skipped)} artifact(s) not evaluated on "
            f"{sys.platform} ({names})"
        )
    for entry in entries:
        if entry in coreml_skipped:
            continue
        if entry.num_classes != folder.num_classes:  # known from the manifest: nothing built
            mismatched.append(f"{entry.model_name} ({entry.num_classes} classes)")
            continue
        preprocessing = entry.input_preprocessing
        weights = dict(entry.weights or {})
        key = (entry.model_name, repr(sorted(weights.items())), repr(preprocessing))
        reference = eager.get(key)
        if reference is None:
            built = build_model(parse_model_name(entry.model_name, weights=weights_argument(entry)))
            recorded = weights.get("sha256")
            if recorded and built.weights.sha256 != recorded:
                raise EvaluationError(
                    f"{entry.describe()}: its weights file {built.weights.detail} has sha256 "
                    f"{str(built.weights.sha256)[:12]}..., not {str(recorded)[:12]}... as at the "
                    "export; restore that file or re-export with the new one"
                )
            classes = built.num_classes
            if classes != folder.num_classes:
                mismatched.append(f"{entry.model_name} ({classes} classes)")
                continue
            reference = Unit(
                key=f"eager:{len(eager)}",
                model=entry.model_name,
                recipe=EAGER_RECIPE,
                runtime=EAGER_RUNTIME,
                preprocessing=preprocessing,
                run=_eager_runner(built.module),
                weights=weights,
            )
            eager[key] = reference
            units.append(reference)
        path = verify_artifact(manifest, entry)
        units.append(
            Unit(
                key=f"artifact:{entry.sha256}",
                model=entry.model_name,
                recipe=entry.recipe_name,
                runtime=runtime_of(entry),
                preprocessing=preprocessing,
                run=_artifact_runner(entry, path),
                weights=weights,
                entry=entry,
                eager_key=reference.key,
            )
        )
    where = f"data folder {folder.root} has {folder.num_classes} classes"
    others = ", ".join(dict.fromkeys(mismatched))
    if mismatched and not units:
        raise EvaluationError(
            f"{where}, not the model's: {others}; give a folder with one subfolder per class "
            "of the model, or select other --models"
        )
    if mismatched:
        notes.append(f"not evaluated, {where}, not the model's: {others}")
    if not units:
        raise EvaluationError(
            "no selected artifact runs on this host (Core ML needs macOS); select .pte "
            "artifacts with --recipes xnnpack-fp32,xnnpack-int8"
        )
    return Plan(units, folder.num_classes, notes)


# -- the evaluation ---------------------------------------------------------------------------


def _decode(
    images: Sequence[LabelledImage], preprocessings: Sequence[Preprocessing]
) -> tuple[list[int], dict[Preprocessing, np.ndarray], list[tuple[str, str]]]:
    """(indices kept, preprocessing -> N x 3 x crop x crop array, skipped (name, why))."""
    from PIL import UnidentifiedImageError

    from deploy.images import ImageTooLarge, preprocess

    arrays: dict[Preprocessing, dict[int, np.ndarray]] = {p: {} for p in preprocessings}
    failed: dict[int, str] = {}
    for i, image in enumerate(images):
        for how in preprocessings:
            try:
                arrays[how][i] = preprocess(image.path, how)
            except ImageTooLarge as exc:
                failed[i] = f"too large to decode ({exc})"
                break
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                failed[i] = f"not a readable image ({type(exc).__name__})"
                break
    kept = [i for i in range(len(images)) if i not in failed]
    stacked = {
        how: np.stack([found[i] for i in kept]) if kept else np.zeros((0,), np.float32)
        for how, found in arrays.items()
    }
    return kept, stacked, [(images[i].name, why) for i, why in sorted(failed.items())]


def _logits(unit: Unit, images: torch.Tensor, num_classes: int) -> np.ndarray | None:
    """The unit's N x classes outputs, or None with `unit.error` set when it fails."""
    try:
        outputs = unit.run(images).detach().float().numpy().reshape(len(images), -1)
    except Exception as exc:  # a program that does not load or run: reported, not raised
        unit.error = f"does not run ({type(exc).__name__}: {' '.join(str(exc).split())})"[:300]
        return None
    if outputs.shape[1] != num_classes:
        unit.error = f"gives {outputs.shape[1]} outputs, not the folder's {num_classes} classes"
        return None
    return np.asarray(outputs)


def evaluate(
    plan: Plan,
    folder: LabelledFolder,
    advance: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> Outcome:
    """Run every unit on the folder's selected images, a chunk at a time (see the module
    docstring); Ctrl-C stops after the last whole chunk (`Outcome.interrupted`). A unit that
    fails is reported with its `error` and not run again; the others go on."""
    import torch

    preprocessings = list(dict.fromkeys(u.preprocessing for u in plan.units))
    skipped: list[tuple[str, str]] = []
    evaluated = 0
    images = folder.images
    threads = torch.get_num_threads()
    # One intra-op thread for the eager models: batch 1 gains little from more, and on a busy
    # host an OpenMP pool of 2+ spinning threads ran them ~100x slower (650 ms vs 4 ms a call).
    torch.set_num_threads(1)
    try:
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            kept, arrays, failed = _decode(part, preprocessings)
            labels = [part[i].label for i in kept]
            pending = []
            if kept:
                tensors = {how: torch.from_numpy(a) for how, a in arrays.items()}
                for unit in plan.units:
                    if unit.error:
                        continue
                    logits = _logits(unit, tensors[unit.preprocessing], plan.num_classes)
                    if logits is not None:
                        pending.append((unit, logits))
            for unit, logits in pending:  # committed together: every unit saw the same images
                unit.counts.add(logits, labels)
            skipped += failed
            evaluated += len(part)
            if advance is not None:
                advance(len(part))
    except KeyboardInterrupt:
        return Outcome(plan, evaluated, skipped, interrupted=True)
    finally:
        torch.set_num_threads(threads)
    return Outcome(plan, evaluated, skipped)
