"""Suite-wide: the commands the tests need from Debian packages (`.ci/debian-packages.txt`).

`nox -s tests` installs those packages when it runs as root with apt. Where it could not, a test
that needs a missing command skips (one summary line at the end names the install command); under
CI=true it fails instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEBIAN_PACKAGES = Path(__file__).resolve().parents[1] / ".ci" / "debian-packages.txt"
SBIN = ("/usr/sbin", "/sbin")  # daemons (sshd) live there; a user's PATH may lack it
_MISSING: dict[str, str] = {}  # package -> command, of the tests that skipped here


def debian_packages() -> dict[str, str]:
    """command -> Debian package providing it, as listed in .ci/debian-packages.txt."""
    packages = {}
    for line in DEBIAN_PACKAGES.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            packages[words[1]] = words[0]
    return packages


def require_command(command: str) -> str:
    """The path of `command`; skip (fail under CI=true) when its package is not installed."""
    package = debian_packages().get(command)
    if package is None:
        raise LookupError(f"{command} is not in {DEBIAN_PACKAGES}: add its Debian package there")
    path = shutil.which(command, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))
    if path is not None:
        return path
    message = f"needs {command} (Debian package {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must install every package in {DEBIAN_PACKAGES.name}")
    _MISSING[package] = command
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MISSING:
        packages = " ".join(sorted(_MISSING))
        terminalreporter.write_line(
            f"tests skipped for missing Debian packages: run `sudo apt-get install {packages}` "
            "(or `nox -s tests` as root, which installs them)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def digits_checkpoint() -> Path:
    """MobileNetV3-Small 0.5 at 64x64 trained on scikit-learn's digits (sidecar beside it).

    Trained once (about a minute on 2 idle cores) and cached under
    ~/.cache/mobilenet-deploy/digits/<hash of the training code and settings>/, so reruns reuse
    it; deploy.training.digits.load_split gives its held-out split.
    """
    from deploy.training.digits import cached_checkpoint

    return cached_checkpoint()


# The trained digits model's held-out split laid out like ImageNet-val, and its fp32 and int8
# artifacts exported through the pipeline (`export_many`). The artifacts are exported beside the
# cached checkpoint (`<its folder>/test-artifacts`, deleted with it when the training changes):
# the pipeline's own cache (model, weights sha256, recipe, calibration, thresholds, toolchain) then
# makes a rerun cost a sha256 check instead of a minute of lowering.
CALIBRATION_EVERY = 24  # every 24th training picture calibrates int8 (~60, stratified enough)


@dataclass(frozen=True)
class Digits:
    checkpoint: Path
    held_out: Any  # deploy.training.digits.Split
    folder: Path  # <folder>/<class>/<index>.png: the held-out split, ImageNet-val layout
    artifacts: Path  # the export's folder, with manifest.json (read only by the tests)
    store: Path  # where the tests' `evaluate` runs write (one store per session)


@pytest.fixture(scope="session")
def digits(digits_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Digits:
    from deploy.export.pipeline import export_many
    from deploy.export.recipes import parse_recipes
    from deploy.models import parse_model_name
    from deploy.training.digits import MODEL, Split, load_split, write_image_folder

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
