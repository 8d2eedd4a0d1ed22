"""From a family name and width multiplier to an (untrained) nn.Module."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from deploy.models.mobilenet_v1 import MobileNetV1
from deploy.models.mobilenet_v2 import MobileNetV2
from deploy.models.mobilenet_v3 import mobilenet_v3_large, mobilenet_v3_small

BUILDERS: dict[str, Callable[[float], nn.Module]] = {
    "mobilenet_v1": lambda width: MobileNetV1(width),
    "mobilenet_v2": lambda width: MobileNetV2(width),
    "mobilenet_v3_large": lambda width: mobilenet_v3_large(width),
    "mobilenet_v3_small": lambda width: mobilenet_v3_small(width),
}


def create_architecture(family: str, width: float) -> nn.Module:
    """The architecture with torchvision's initialisation, in eval mode."""
    return BUILDERS[family](width).eval()
