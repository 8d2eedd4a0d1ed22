"""The MobileNet zoo: parse a name, build the module, load its weights, count its cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from deploy.models.counting import Complexity, complexity
from deploy.models.families import IMAGENET_CLASSES, classifier_outputs, create_architecture
from deploy.models.spec import FAMILIES, ModelSpec, parse_model_name, parse_model_names
from deploy.models.weights import (
    WeightsInfo,
    load_checkpoint,
    load_imagenet,
    randomize,
    read_checkpoint,
)

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

    @property
    def num_classes(self) -> int:
        return classifier_outputs(self.module)


def build_model(spec: ModelSpec) -> BuiltModel:
    """The module with its weights; a checkpoint's class count decides the classifier's size."""
    if spec.weights in ("random", "imagenet"):
        module = create_architecture(spec.family, spec.width)
        if spec.weights == "random":
            weights = randomize(module, spec.resolution)
        else:
            weights = load_imagenet(module, spec.family, spec.width)
    else:
        checkpoint = read_checkpoint(Path(spec.weights))
        classes = checkpoint.num_classes or IMAGENET_CLASSES  # none: the strict load says why
        module = create_architecture(spec.family, spec.width, classes)
        weights = load_checkpoint(module, checkpoint)
    return BuiltModel(spec, module.eval(), weights)
