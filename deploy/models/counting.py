"""Parameters and multiply-adds, counted the way the papers count them.

MAdds are those of convolutions and fully connected layers (one multiply-add per weight per
output position); BatchNorm, activations, pooling and the SE gate's products are not counted,
as in the MobileNet papers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Complexity:
    params: int
    madds: int

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def madds_m(self) -> float:
        return self.madds / 1e6


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_madds(model: nn.Module, resolution: int) -> int:
    """Multiply-adds of one forward pass at `resolution` x `resolution`, batch 1."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        total += output.numel() * per_output

    def linear_hook(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def complexity(model: nn.Module, resolution: int) -> Complexity:
    return Complexity(count_params(model), count_madds(model, resolution))
