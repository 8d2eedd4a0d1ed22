"""How an input image becomes the tensor an artifact expects, recorded with the artifact.

The manifest carries one `Preprocessing` per entry, so calibration, evaluation, the device
runners and the app harnesses all make inputs the same way, from the manifest, never from a
constant. Steps, in order:

1. decode, convert to `channel_order` ("RGB", or "L" replicated to three channels as "LLL");
2. resize so the shorter side is `resize` pixels (`interpolation`), then centre-crop `crop`;
3. scale pixel values from 0..255 to `value_range` (usually 0..1);
4. subtract `mean` and divide by `std`, per channel; lay out as `layout` ("NCHW").

Torch-free on purpose (the artifact contract): applying it lives in deploy.images.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from deploy.errors import ManifestError

CHANNEL_ORDERS = ("RGB", "BGR", "LLL")
LAYOUTS = ("NCHW",)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")

#: torchvision's ImageNet evaluation transform: Resize(256) CenterCrop(224) Normalize(...)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The ImageNet transform resizes the shorter side to 256/224 of the crop.
IMAGENET_RESIZE_RATIO = 256 / 224


@dataclass(frozen=True)
class Preprocessing:
    """One artifact's input recipe (see the module docstring for the order of the steps)."""

    name: str  # "imagenet", "digits", ... : where the recipe comes from
    resize: int  # shorter side, in pixels, before the crop
    crop: int  # square centre crop, in pixels: the model's resolution
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)  # 0..255 is mapped onto this, then mean/std
    interpolation: str = "bilinear"
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        data["value_range"] = list(self.value_range)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "preprocessing") -> Preprocessing:
        """From its JSON form; any missing or unusable field is a one-line ManifestError."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected an object, got {type(data).__name__}")
        try:
            return cls(
                name=_text(data, "name"),
                resize=_int(data, "resize"),
                crop=_int(data, "crop"),
                mean=_triple(data, "mean"),
                std=_triple(data, "std"),
                channel_order=_text(data, "channel_order", "RGB"),
                value_range=_pair(data, "value_range", (0.0, 1.0)),
                interpolation=_text(data, "interpolation", "bilinear"),
                layout=_text(data, "layout", "NCHW"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: {exc}") from None

    def to_json(self) -> str:
        """One compact line of JSON (for an intent extra, an environment variable, an argument)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    def same_as(self, data: Any) -> bool:
        """Whether `data` (e.g. a harness's echo, floats parsed as float32) is this recipe."""
        try:
            other = Preprocessing.from_dict(data)
        except ManifestError:
            return False
        close = all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
            for a, b in zip(
                (*self.mean, *self.std, *self.value_range),
                (*other.mean, *other.std, *other.value_range),
                strict=True,
            )
        )
        return close and (self.name, self.resize, self.crop, self.channel_order) == (
            other.name,
            other.resize,
            other.crop,
            other.channel_order,
        )

    def describe(self) -> str:
        """One line for a table or a message."""
        mean = ", ".join(f"{v:g}" for v in self.mean)
        std = ", ".join(f"{v:g}" for v in self.std)
        lo, hi = self.value_range
        return (
            f"{self.name}: {self.channel_order}, resize {self.resize} ({self.interpolation}), "
            f"crop {self.crop}, 0..255 -> {lo:g}..{hi:g}, mean ({mean}), std ({std}), {self.layout}"
        )


def imagenet(resolution: int) -> Preprocessing:
    """torchvision's ImageNet evaluation transform at `resolution` (256 -> 224 at 224)."""
    return Preprocessing(
        name="imagenet",
        resize=round(resolution * IMAGENET_RESIZE_RATIO),
        crop=resolution,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


def of_entry(data: Any) -> Preprocessing | None:
    """The preprocessing a manifest entry's JSON form records; None if it records none.

    Used where only the entry's dict travels (a stored ArtifactRecord's `manifest`): an artifact
    measured without a manifest has no preprocessing, and its harness uses its raw synthetic input.
    """
    if not isinstance(data, dict) or data.get("preprocessing") is None:
        return None
    return Preprocessing.from_dict(data["preprocessing"], "the manifest entry's preprocessing")


def _problem(p: Preprocessing) -> str | None:
    if not p.name:
        return "name is empty"
    if p.crop < 1 or p.resize < p.crop:
        return f"resize ({p.resize}) must be at least crop ({p.crop}), and crop at least 1"
    if p.channel_order not in CHANNEL_ORDERS:
        return f"channel_order {p.channel_order!r} is not one of {', '.join(CHANNEL_ORDERS)}"
    if p.layout not in LAYOUTS:
        return f"layout {p.layout!r} is not one of {', '.join(LAYOUTS)}"
    if p.interpolation not in INTERPOLATIONS:
        return f"interpolation {p.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
    if len(p.mean) != 3 or len(p.std) != 3 or len(p.value_range) != 2:
        return "mean and std need 3 values, value_range 2"
    values = (*p.mean, *p.std, *p.value_range)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return "mean, std and value_range must be finite numbers"
    if min(p.std) <= 0:
        return "std must be positive"
    if p.value_range[1] <= p.value_range[0]:
        return f"value_range {list(p.value_range)} must increase"
    return None


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text, got {value!r}")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _numbers(data: dict[str, Any], key: str, count: int, default: Any = None) -> tuple[float, ...]:
    value = data.get(key, default)
    if (
        not isinstance(value, list | tuple)
        or len(value) != count
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{key} must be {count} numbers, got {value!r}")
    return tuple(float(v) for v in value)


def _triple(data: dict[str, Any], key: str) -> tuple[float, float, float]:
    a, b, c = _numbers(data, key, 3)
    return (a, b, c)


def _pair(data: dict[str, Any], key: str, default: tuple[float, float]) -> tuple[float, float]:
    a, b = _numbers(data, key, 2, default)
    return (a, b)
