"""Model names as the literature writes them: `<family>_<width>_<resolution>`.

`mobilenet_v2_1.0_224`, `mobilenet_v3_small_0.75_224`, `mobilenet_v1_0.5_160`. The name says
the architecture; the weights travel beside it in the spec, never inside the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.errors import ModelNameError

FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
MIN_RESOLUTION = 32
MAX_WIDTH = 4.0

_NAME = re.compile(r"^(?P<family>[a-z0-9_]+?)_(?P<width>-?\d+(?:\.\d+)?)_(?P<resolution>-?\d+)$")
VALID_FORMS = (
    f"<family>_<width>_<resolution> with family one of {', '.join(FAMILIES)}, "
    f"width in (0, {MAX_WIDTH:g}], resolution >= {MIN_RESOLUTION} "
    "(e.g. mobilenet_v2_1.0_224, mobilenet_v3_small_0.75_224, mobilenet_v1_0.5_160)"
)


def format_width(width: float) -> str:
    """1 -> '1.0', 0.75 -> '0.75': the way the papers and model zoos print multipliers."""
    text = f"{width:g}"
    return text if "." in text else f"{text}.0"


@dataclass(frozen=True)
class ModelSpec:
    """What to build: a family, a width multiplier, an input resolution, and which weights."""

    family: str
    width: float
    resolution: int
    weights: str = "random"  # "random", "imagenet", or a checkpoint path

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ModelNameError(f"unknown model family {self.family!r}; expected {VALID_FORMS}")
        if not 0 < self.width <= MAX_WIDTH:
            raise ModelNameError(
                f"width multiplier {self.width:g} is out of range; expected {VALID_FORMS}"
            )
        if self.resolution < MIN_RESOLUTION:
            raise ModelNameError(
                f"resolution {self.resolution} is below {MIN_RESOLUTION}; expected {VALID_FORMS}"
            )

    @property
    def name(self) -> str:
        return f"{self.family}_{format_width(self.width)}_{self.resolution}"

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.resolution, self.resolution)

    def with_weights(self, weights: str) -> ModelSpec:
        return ModelSpec(self.family, self.width, self.resolution, weights)


def parse_model_name(name: str, weights: str = "random") -> ModelSpec:
    """`mobilenet_v3_large_0.75_224` -> ModelSpec; anything else -> ModelNameError."""
    match = _NAME.match(name.strip())
    if match is None:
        raise ModelNameError(f"cannot read model name {name!r}; expected {VALID_FORMS}")
    return ModelSpec(
        match["family"], float(match["width"]), int(match["resolution"]), weights=weights
    )


def parse_model_names(text: str | list[str], weights: str = "random") -> list[ModelSpec]:
    """Comma- or list-separated names, as given on a command line."""
    items = text if isinstance(text, list) else [text]
    names = [n for item in items for n in item.split(",") if n.strip()]
    return [parse_model_name(n, weights) for n in names]
