"""From a family name and width multiplier to an (untrained) nn.Module."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from deploy.models.mobilenet_v1 import MobileNetV1
from deploy.models.mobilenet_v2 import MobileNetV2
from deploy.models.mobilenet_v3 import mobilenet_v3_large, mobilenet_v3_small

IMAGENET_CLASSES = 1000

# family -> (width, num_classes) -> module
BUILDERS: dict[str, Callable[[float, int], nn.Module]] = {
    "mobilenet_v1": lambda width, classes: MobileNetV1(width, classes),
    "mobilenet_v2": lambda width, classes: MobileNetV2(width, classes),
    "mobilenet_v3_large": lambda width, classes: mobilenet_v3_large(width, classes),
    "mobilenet_v3_small": lambda width, classes: mobilenet_v3_small(width, classes),
}


def create_architecture(
    family: str, width: float, num_classes: int = IMAGENET_CLASSES
) -> nn.Module:
    """The architecture with `num_classes` outputs, torchvision's initialisation, in eval mode."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return BUILDERS[family](width, num_classes).eval()


def classifier_outputs(module: nn.Module) -> int:
    """The class count of a built model: the output features of its last Linear layer."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return int(linears[-1].out_features)
