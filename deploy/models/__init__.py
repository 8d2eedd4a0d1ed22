"""The MobileNet zoo: parse a name, build the module, load its weights, count its cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from deploy.models.counting import Complexity, complexity
from deploy.models.families import create_architecture
from deploy.models.spec import FAMILIES, ModelSpec, parse_model_name, parse_model_names
from deploy.models.weights import WeightsInfo, load_checkpoint, load_imagenet, randomize

__all__ = [
    "FAMILIES",
    "BuiltModel",
    "ModelSpec",
    "build_model",
    "parse_model_name",
    "parse_model_names",
]


@dataclass
class BuiltModel:
    """An eval-mode module with what it is and where its weights came from."""

    spec: ModelSpec
    module: nn.Module
    weights: WeightsInfo

    def complexity(self) -> Complexity:
        return complexity(self.module, self.spec.resolution)


def build_model(spec: ModelSpec) -> BuiltModel:
    module = create_architecture(spec.family, spec.width)
    if spec.weights == "random":
        weights = randomize(module, spec.resolution)
    elif spec.weights == "imagenet":
        weights = load_imagenet(module, spec.family, spec.width)
    else:
        weights = load_checkpoint(module, Path(spec.weights))
    return BuiltModel(spec, module.eval(), weights)
