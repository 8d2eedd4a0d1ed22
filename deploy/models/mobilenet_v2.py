"""MobileNetV2 (Sandler et al., arXiv 1801.04381), built from the paper's Table 2.

Module names follow torchvision's `mobilenet_v2` so its checkpoints load with `strict=True`.
"""

from __future__ import annotations

import torch
from torch import nn

from deploy.models.layers import Conv2dNormActivation, init_weights, make_divisible

STEM_CHANNELS = 32
LAST_CHANNELS = 1280

# Table 2, one row per bottleneck stage: (expansion t, output channels c, repeats n, stride s).
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (3x3) -> linear project (1x1); residual when shapes match."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden, 1, activation=nn.ReLU6))
        layers += [
            Conv2dNormActivation(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(
        self, width_mult: float = 1.0, num_classes: int = 1000, dropout: float = 0.2
    ) -> None:
        super().__init__()
        channels = make_divisible(STEM_CHANNELS * width_mult)
        # The paper widens the last conv only for multipliers above 1 (Section 6.1).
        last_channels = make_divisible(LAST_CHANNELS * max(1.0, width_mult))
        layers: list[nn.Module] = [Conv2dNormActivation(3, channels, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in STAGES:
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        layers.append(Conv2dNormActivation(channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
