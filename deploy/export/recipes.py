"""Export recipes as data: which backend, which precision, which file format, how to quantize.

The pipeline dispatches on `Recipe.backend`; adding a backend (Core ML) means adding recipes here
and a lowering module, never editing the pipeline's steps. Names are what users type
(`--recipes xnnpack-int8`) and what the manifest records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from deploy.errors import RecipeError

BACKENDS = ("xnnpack", "coreml")
PRECISIONS = ("fp32", "fp16", "int8", "w8")
FORMATS = (".pte", ".mlpackage")
# "depthwise-conv": a convolution with groups == input channels > 1; "depthwise-conv-5x5": one
# of those with a kernel of 25 taps or more
FLOAT_OP_KINDS = ("depthwise-conv", "depthwise-conv-5x5")


@dataclass(frozen=True)
class QuantizationConfig:
    """How weights and activations are quantized (None in a recipe means float)."""

    scheme: str  # "pt2e-static" (calibrated activations) | "weight-only"
    weight_bits: int = 8
    weight_granularity: str = "per-channel"  # "per-channel" | "per-tensor"
    weight_symmetric: bool = True
    activation_bits: int | None = 8  # None: activations stay float (weight-only)
    activation_mode: str | None = "static"  # "static" (calibrated) | "dynamic" | None
    # how calibration sets the activation ranges: "min-max" (over every calibration image) or
    # "moving-average-min-max"; None: the backend quantizer's own default
    activation_observer: str | None = None
    # op kinds the quantizer leaves in float inside an otherwise quantized graph (mixed
    # precision); one of FLOAT_OP_KINDS each
    float_ops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        odd = [kind for kind in self.float_ops if kind not in FLOAT_OP_KINDS]
        if odd:
            raise RecipeError(f"float_ops {odd} not in {FLOAT_OP_KINDS}")

    @property
    def needs_calibration(self) -> bool:
        return self.activation_mode == "static"

    def as_dict(self) -> dict[str, Any]:
        """Its fields; `activation_observer`, `float_ops` only when set (older keys stay)."""
        data = asdict(self)
        if self.activation_observer is None:
            del data["activation_observer"]
        if self.float_ops:
            data["float_ops"] = list(self.float_ops)
        else:
            del data["float_ops"]
        return data


@dataclass(frozen=True)
class Recipe:
    """One way to turn a model into a deployable artifact."""

    name: str
    backend: str  # one of BACKENDS
    precision: str  # one of PRECISIONS
    format: str  # one of FORMATS
    quantization: QuantizationConfig | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise RecipeError(f"recipe {self.name}: backend {self.backend!r} not in {BACKENDS}")
        if self.precision not in PRECISIONS:
            raise RecipeError(
                f"recipe {self.name}: precision {self.precision!r} not in {PRECISIONS}"
            )
        if self.format not in FORMATS:
            raise RecipeError(f"recipe {self.name}: format {self.format!r} not in {FORMATS}")

    @property
    def needs_calibration(self) -> bool:
        return self.quantization is not None and self.quantization.needs_calibration

    def as_dict(self) -> dict[str, Any]:
        """What the manifest records (and the cache key hashes)."""
        return {
            "name": self.name,
            "backend": self.backend,
            "precision": self.precision,
            "format": self.format,
            "quantization": self.quantization.as_dict() if self.quantization else None,
        }


INT8_STATIC = QuantizationConfig(scheme="pt2e-static")
# coremltools' default observer moves 1% towards each calibration image's range: on the trained
# digits model that left the W8A8 graph at 9.3 dB SQNR (cosine 0.89) against eager fp32, the
# full min-max range at 20.3 dB (0.997), like xnnpack-int8's 21.8 dB (benchmarks/
# digits_accuracy.py).
INT8_STATIC_MIN_MAX = QuantizationConfig(scheme="pt2e-static", activation_observer="min-max")

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "xnnpack-fp32",
            backend="xnnpack",
            precision="fp32",
            format=".pte",
            description="ExecuTorch, float32, every compute op delegated to XNNPACK",
        ),
        Recipe(
            "xnnpack-int8",
            backend="xnnpack",
            precision="int8",
            format=".pte",
            quantization=INT8_STATIC,
            description="ExecuTorch, PT2E int8 (per-channel symmetric weights, static "
            "activations calibrated on real images), delegated to XNNPACK",
        ),
        Recipe(
            "xnnpack-int8-dwfp32",
            backend="xnnpack",
            precision="int8",
            format=".pte",
            quantization=dataclasses.replace(INT8_STATIC, float_ops=("depthwise-conv",)),
            description="xnnpack-int8 with every depthwise convolution left in float32 "
            "(mixed precision)",
        ),
        Recipe(
            "xnnpack-int8-dw5fp32",
            backend="xnnpack",
            precision="int8",
            format=".pte",
            quantization=dataclasses.replace(INT8_STATIC, float_ops=("depthwise-conv-5x5",)),
            description="xnnpack-int8 with the depthwise convolutions of 5x5 or larger kernels "
            "left in float32 (mixed precision)",
        ),
        # Core ML (deploy/export/coreml.py): ML programs for iOS 17, and one ExecuTorch program
        # delegated to Core ML.
        Recipe(
            "coreml-fp16",
            backend="coreml",
            precision="fp16",
            format=".mlpackage",
            description="Core ML ML program (iOS 17), float16 compute",
        ),
        Recipe(
            "coreml-int8",
            backend="coreml",
            precision="int8",
            format=".mlpackage",
            quantization=INT8_STATIC_MIN_MAX,
            description="Core ML W8A8: PT2E with the Core ML quantizer (per-channel symmetric "
            "weights, activations calibrated on real images, min-max), then ct.convert",
        ),
        Recipe(
            "coreml-w8",
            backend="coreml",
            precision="w8",
            format=".mlpackage",
            quantization=QuantizationConfig(
                scheme="weight-only", activation_bits=None, activation_mode=None
            ),
            description="Core ML fp16 program with int8 weights (linear_quantize_weights, "
            "per-channel symmetric), float activations",
        ),
        Recipe(
            "et-coreml-fp16",
            backend="coreml",
            precision="fp16",
            format=".pte",
            description="ExecuTorch program delegated to Core ML (CoreMLPartitioner), fp16, iOS 17",
        ),
    )
}
DEFAULT_RECIPES = ("xnnpack-fp32", "xnnpack-int8")


def get_recipe(name: str) -> Recipe:
    """The registered recipe called `name`; anything else -> RecipeError listing valid names."""
    recipe = RECIPES.get(name.strip())
    if recipe is None:
        raise RecipeError(f"unknown recipe {name.strip()!r}; valid recipes: {', '.join(RECIPES)}")
    return recipe


def parse_recipes(text: str | list[str] | None) -> list[Recipe]:
    """Comma- or list-separated recipe names, as given on a command line (None: the defaults)."""
    if text is None:
        return [RECIPES[name] for name in DEFAULT_RECIPES]
    items = text if isinstance(text, list) else [text]
    names = [n for item in items for n in item.split(",") if n.strip()]
    if not names:
        raise RecipeError(f"no recipe given; valid recipes: {', '.join(RECIPES)}")
    return [get_recipe(n) for n in dict.fromkeys(n.strip() for n in names)]
