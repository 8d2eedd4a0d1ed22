"""The trained digits model, its held-out split laid out like ImageNet-val, and its fp32 and int8
artifacts exported through the pipeline (`export_many`).

The artifacts are exported beside the cached checkpoint (`<its folder>/test-artifacts`, deleted
with it when the training changes): the pipeline's own cache (its key: model, weights sha256,
recipe, calibration, thresholds, toolchain) then makes a rerun cost a sha256 check instead of a
minute of lowering, as the runner tests cache their tiny programs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.training.digits import MODEL, Split, load_split, write_image_folder

CALIBRATION_EVERY = 24  # every 24th training picture calibrates int8 (~60, stratified enough)


@dataclass(frozen=True)
class Digits:
    checkpoint: Path
    held_out: Split
    folder: Path  # <folder>/<class>/<index>.png: the held-out split, ImageNet-val layout
    artifacts: Path  # the export's folder, with manifest.json (read only by the tests)
    store: Path  # where the tests' `evaluate` runs write (one store per session)


@pytest.fixture(scope="session")
def digits(digits_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Digits:
    from deploy.export.pipeline import export_many
    from deploy.export.recipes import parse_recipes
    from deploy.models import parse_model_name

    root = tmp_path_factory.mktemp("digits")
    training, held_out = load_split()
    folder = write_image_folder(held_out, root / "digits-val")
    some = slice(None, None, CALIBRATION_EVERY)
    calibration = write_image_folder(
        Split(training.pixels[some], training.labels[some], training.indices[some]),
        root / "calibration",
        flat=True,
    )
    outcomes = export_many(
        [parse_model_name(MODEL, weights=str(digits_checkpoint))],
        parse_recipes("xnnpack-fp32,xnnpack-int8"),
        out_dir=digits_checkpoint.parent / "test-artifacts",
        calibration_dir=calibration,
    )
    invalid = [(o.recipe.name, o.entry.fidelity.get("failures")) for o in outcomes if not o.valid]
    assert not invalid, invalid
    artifacts = digits_checkpoint.parent / "test-artifacts"
    return Digits(digits_checkpoint, held_out, folder, artifacts, root / "bench.sqlite")


@pytest.fixture(scope="session")
def host_runner() -> Path:
    """The host bench_runner (built once, cached under build/runner) for bench-host."""
    from bench.runner import build
    from tests.conftest import require_command

    require_command("g++")
    return build.build_host()
