"""MobileNetV1 (Howard et al., arXiv 1704.04861), built from the paper's Table 1.

Every row below is one depthwise-separable block of Table 1 (a 3x3 depthwise conv followed by a
1x1 pointwise conv), in the paper's order: (stride of the depthwise conv, pointwise filters).
The stem (3x3 conv, 32 filters, stride 2) and the classifier follow the same table. Table 1
prints the second-to-last depthwise conv with stride 2 while its input and output are both 7x7;
the reference implementation (TF-slim) uses stride 1 there, and so do we.

Activations are ReLU6, as in TF-slim's released checkpoints (the paper says ReLU).
"""

from __future__ import annotations

import torch
from torch import nn

from deploy.models.layers import Conv2dNormActivation, init_weights, make_divisible

STEM_CHANNELS = 32

# Table 1: (stride, output channels) of each depthwise-separable block.
BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
)


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv + BN + ReLU6, then 1x1 pointwise conv + BN + ReLU6."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            Conv2dNormActivation(
                in_channels, in_channels, 3, stride, groups=in_channels, activation=nn.ReLU6
            ),
            Conv2dNormActivation(in_channels, out_channels, 1, activation=nn.ReLU6),
        )


class MobileNetV1(nn.Module):
    def __init__(
        self, width_mult: float = 1.0, num_classes: int = 1000, dropout: float = 0.001
    ) -> None:
        super().__init__()
        channels = make_divisible(STEM_CHANNELS * width_mult)
        layers: list[nn.Module] = [Conv2dNormActivation(3, channels, 3, 2, activation=nn.ReLU6)]
        for stride, out in BLOCKS:
            out_channels = make_divisible(out * width_mult)
            layers.append(DepthwiseSeparable(channels, out_channels, stride))
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
