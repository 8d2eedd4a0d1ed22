"""A tiny net whose layers are known in advance: what a profile must map its operators to.

Input 1x3x32x32. Each layer: (op, kernel, stride, groups, in, out, MAdds), MAdds counted as
output positions x kernel area x input channels per group x output channels.
"""

from __future__ import annotations

from pathlib import Path

INPUT_SHAPE = (1, 3, 32, 32)
KNOWN = (
    ("conv", 3, 2, 1, 3, 8, 16 * 16 * 3 * 3 * 3 * 8),  # 32 -> 16
    ("dwconv", 3, 1, 8, 8, 8, 16 * 16 * 3 * 3 * 1 * 8),
    ("conv", 1, 1, 1, 8, 16, 16 * 16 * 1 * 8 * 16),
    ("dwconv", 5, 2, 16, 16, 16, 8 * 8 * 5 * 5 * 1 * 16),  # 16 -> 8
    ("conv", 1, 1, 1, 16, 24, 8 * 8 * 16 * 24),
    ("linear", 1, 1, 1, 24, 10, 24 * 10),
)


def _net():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),
        nn.ReLU6(),
        nn.Conv2d(8, 16, 1),
        nn.Hardswish(),
        nn.Conv2d(16, 16, 5, stride=2, padding=2, groups=16),
        nn.ReLU(),
        nn.Conv2d(16, 24, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(24, 10),
    ).eval()


def export_known(out: Path, precision: str) -> Path:
    """The net through the project's own lowering (`deploy.export.xnnpack.lower`)."""
    import torch

    from deploy.export.recipes import get_recipe
    from deploy.export.xnnpack import lower

    gen = torch.Generator().manual_seed(1)
    example = torch.rand(*INPUT_SHAPE, generator=gen) * 2 - 1
    calibration = torch.rand(8, *INPUT_SHAPE[1:], generator=gen) * 2 - 1
    recipe = get_recipe(f"xnnpack-{precision}")
    lowered = lower(_net(), recipe, example, calibration if recipe.needs_calibration else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    lowered.write(out)
    return out
