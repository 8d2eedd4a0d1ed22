"""Where a model's weights come from: `random`, `imagenet`, or a checkpoint path.

`random` is deterministic (fixed seed) and its BatchNorm statistics are re-estimated on real
photographs, so activations have realistic ranges for calibration and latency; downstream it is
always labelled `random`. `imagenet` reads torchvision's file from the torch hub cache and never
downloads. A path loads a torchvision-format state dict strictly, for any class count: the count
is read from the classifier's last layer in the file, so the model is built to match it.

A checkpoint may have a sidecar, `<checkpoint>.json` (e.g. `digits.pth.json`), saying how it was
trained: {"preprocessing": {...}, "classes": [...], "num_classes": 10, ...}. It is read here
(a JSON object, its class count agreeing with the file's); its preprocessing is checked and
recorded by the export. Without a sidecar the ImageNet transform is assumed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deploy.errors import CheckpointError, WeightsUnavailableError
from deploy.images import load_images
from deploy.models.layers import init_weights

RANDOM_SEED = 0
SIDECAR_SUFFIX = ".json"
# torchvision's classifiers: `classifier.<index>.weight` of the last Linear layer is (classes, in)
_CLASSIFIER_WEIGHT = re.compile(r"^classifier\.(\d+)\.weight$")

# torchvision's ImageNet checkpoints (width 1.0), newest first, as named in its hub cache.
TORCHVISION_FILES: dict[str, tuple[str, ...]] = {
    "mobilenet_v2": ("mobilenet_v2-7ebf99e0.pth", "mobilenet_v2-b0353104.pth"),
    "mobilenet_v3_large": ("mobilenet_v3_large-5c1a4163.pth", "mobilenet_v3_large-8738ca79.pth"),
    "mobilenet_v3_small": ("mobilenet_v3_small-047dcff4.pth",),
}


@dataclass(frozen=True)
class WeightsInfo:
    """Provenance of a model's weights, recorded in manifests and results."""

    source: str  # "random" | "imagenet" | "checkpoint"
    detail: str  # the seed, or the file read
    sha256: str | None = None
    # a checkpoint's sidecar (how it was trained: preprocessing, classes), if it has one
    training: dict[str, Any] | None = field(default=None, compare=False)
    sidecar_sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "detail": self.detail, "sha256": self.sha256}
        if self.sidecar_sha256 is not None:
            data["sidecar_sha256"] = self.sidecar_sha256
        return data


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file read and checked: its state dict, sha256 and sidecar (if any)."""

    path: Path
    state: dict[str, Any] = field(repr=False)
    sha256: str
    sidecar: dict[str, Any] | None = None
    sidecar_sha256: str | None = None

    @property
    def num_classes(self) -> int | None:
        """The output size of the classifier's last layer, or None if the file has none."""
        found = [
            (int(match[1]), value)
            for key, value in self.state.items()
            if (match := _CLASSIFIER_WEIGHT.match(key)) and getattr(value, "ndim", 0) == 2
        ]
        return int(max(found, key=lambda item: item[0])[1].shape[0]) if found else None

    def info(self) -> WeightsInfo:
        return WeightsInfo(
            "checkpoint", str(self.path), self.sha256, self.sidecar, self.sidecar_sha256
        )


def sidecar_path(checkpoint: Path) -> Path:
    """Where a checkpoint's training record lives: `<checkpoint>.json` beside it."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + SIDECAR_SUFFIX)


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def randomize(model: nn.Module, resolution: int, seed: int = RANDOM_SEED) -> WeightsInfo:
    """Seeded initialisation, then BatchNorm statistics re-estimated on real photographs."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        init_weights(model)
    recalibrate_batchnorm(model, load_images(None, resolution).tensor)
    return WeightsInfo("random", f"seed={seed}")


def recalibrate_batchnorm(model: nn.Module, images: torch.Tensor) -> None:
    """Replace BatchNorm running statistics by the exact statistics over `images`."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    try:
        with torch.no_grad():
            for batch in images.split(8):
                model(batch)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a torchvision-format state dict and its sidecar; every failure names the fix."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pth file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); "
            "re-download it or pass a torchvision-format state dict"
        ) from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds no state dict; save model.state_dict()")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    checkpoint = Checkpoint(path, state, digest)
    sidecar, sidecar_sha256 = _read_sidecar(path, checkpoint.num_classes)
    return Checkpoint(path, state, digest, sidecar, sidecar_sha256)


def _read_sidecar(path: Path, num_classes: int | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the sidecar's object, its sha256), or (None, None) without one; CheckpointError if bad."""
    side = sidecar_path(path)
    if not side.is_file():
        return None, None
    fix = f"fix or delete {side} (written by the training script beside the checkpoint)"
    try:
        raw = side.read_bytes()
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint sidecar {side} is not readable JSON ({exc}); {fix}"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint sidecar {side} must hold a JSON object; {fix}")
    declared = data.get("num_classes")
    if declared is not None and (isinstance(declared, bool) or not isinstance(declared, int)):
        raise CheckpointError(f"checkpoint sidecar {side}: num_classes must be an integer; {fix}")
    if declared is not None and num_classes is not None and declared != num_classes:
        raise CheckpointError(
            f"checkpoint sidecar {side} says {declared} classes but {path.name}'s classifier has "
            f"{num_classes}; {fix}"
        )
    classes = data.get("classes")
    count = declared if declared is not None else num_classes
    if classes is not None and (
        not isinstance(classes, list)
        or not all(isinstance(c, str) for c in classes)
        or (count is not None and len(classes) != count)
    ):
        raise CheckpointError(
            f"checkpoint sidecar {side}: classes must be a list of {count} names; {fix}"
        )
    if "preprocessing" in data and not isinstance(data["preprocessing"], dict):
        raise CheckpointError(f"checkpoint sidecar {side}: preprocessing must be an object; {fix}")
    return data, hashlib.sha256(raw).hexdigest()


def load_checkpoint(model: nn.Module, path: Path | Checkpoint) -> WeightsInfo:
    """Load a torchvision-format state dict strictly; every failure names the fix."""
    checkpoint = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    path, state = checkpoint.path, checkpoint.state
    try:
        model.load_state_dict(_strict_check(model, state, path), strict=True)
    except RuntimeError as exc:  # a case _strict_check does not foresee: still one line
        raise CheckpointError(
            f"checkpoint {path} does not load ({' '.join(str(exc).split())[:200]}); "
            "pass a torchvision-format state dict"
        ) from None
    model.eval()
    return checkpoint.info()


def _strict_check(model: nn.Module, state: dict, path: Path) -> dict:
    """The state dict itself, or a CheckpointError saying how it differs from the model."""
    expected = model.state_dict()
    key = next((k for k in expected if k in state and not _is_plain_tensor(state[k])), None)
    if key is not None:
        raise CheckpointError(
            f"checkpoint {path}: key {key!r} holds {_kind(state[key])}, not a dense real tensor "
            "with data; pass a torchvision-format state dict (torch.save(model.state_dict(), path))"
        )
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        k
        for k in expected
        if k in state and hasattr(state[k], "shape") and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise CheckpointError(
            f"checkpoint {path} does not match the model ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} mis-shaped keys, e.g. {first!r}); "
            "check the model name's family and width"
        )
    return state


def _is_plain_tensor(value: object) -> bool:
    """A tensor `load_state_dict` can copy into a parameter: dense, real, with data."""
    return (
        isinstance(value, torch.Tensor)
        and value.layout == torch.strided
        and not value.is_meta
        and not value.is_complex()
    )


def _kind(value: object) -> str:
    """What a state dict value is, for a message."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor (layout {value.layout}, device {value.device})"
    return f"a value of type {type(value).__name__}"


def load_imagenet(model: nn.Module, family: str, width: float) -> WeightsInfo:
    """torchvision's ImageNet weights from the torch hub cache (never downloaded)."""
    names = TORCHVISION_FILES.get(family)
    if names is None:
        raise WeightsUnavailableError(
            f"torchvision publishes no ImageNet weights for {family}; pass a checkpoint path"
        )
    if width != 1.0:
        raise WeightsUnavailableError(
            f"torchvision's ImageNet weights exist only for {family} width 1.0; "
            "use width 1.0 or pass a checkpoint path"
        )
    folder = hub_checkpoint_dir()
    for name in names:
        if (folder / name).is_file():
            info = load_checkpoint(model, folder / name)
            return WeightsInfo("imagenet", info.detail, info.sha256)
    raise WeightsUnavailableError(
        f"ImageNet weights for {family} are not on this machine and are never downloaded; "
        f"copy torchvision's {names[0]} into {folder}"
    )
