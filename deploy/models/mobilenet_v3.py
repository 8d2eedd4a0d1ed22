"""MobileNetV3-Large and -Small (Howard et al., arXiv 1905.02244), from Tables 1 and 2.

One row per bneck block, in the paper's column order: (kernel, exp size, #out, SE, NL, s).
Input channels are the previous row's output, as in the paper. Module names follow
torchvision's `mobilenet_v3_large` / `mobilenet_v3_small` so their checkpoints load strictly.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from deploy.models.layers import (
    Conv2dNormActivation,
    SqueezeExcitation,
    init_weights,
    make_divisible,
)


class Bneck(NamedTuple):
    kernel: int
    exp_size: int
    out: int
    se: bool
    nl: str  # "RE" (ReLU) or "HS" (hard-swish)
    stride: int


STEM_CHANNELS = 16

# Table 1 (MobileNetV3-Large), rows after the stem conv.
LARGE: tuple[Bneck, ...] = (
    Bneck(3, 16, 16, False, "RE", 1),
    Bneck(3, 64, 24, False, "RE", 2),
    Bneck(3, 72, 24, False, "RE", 1),
    Bneck(5, 72, 40, True, "RE", 2),
    Bneck(5, 120, 40, True, "RE", 1),
    Bneck(5, 120, 40, True, "RE", 1),
    Bneck(3, 240, 80, False, "HS", 2),
    Bneck(3, 200, 80, False, "HS", 1),
    Bneck(3, 184, 80, False, "HS", 1),
    Bneck(3, 184, 80, False, "HS", 1),
    Bneck(3, 480, 112, True, "HS", 1),
    Bneck(3, 672, 112, True, "HS", 1),
    Bneck(5, 672, 160, True, "HS", 2),
    Bneck(5, 960, 160, True, "HS", 1),
    Bneck(5, 960, 160, True, "HS", 1),
)
LARGE_HEAD = 1280  # Table 1: conv2d 1x1, NBN, 1280

# Table 2 (MobileNetV3-Small), rows after the stem conv.
SMALL: tuple[Bneck, ...] = (
    Bneck(3, 16, 16, True, "RE", 2),
    Bneck(3, 72, 24, False, "RE", 2),
    Bneck(3, 88, 24, False, "RE", 1),
    Bneck(5, 96, 40, True, "HS", 2),
    Bneck(5, 240, 40, True, "HS", 1),
    Bneck(5, 240, 40, True, "HS", 1),
    Bneck(5, 120, 48, True, "HS", 1),
    Bneck(5, 144, 48, True, "HS", 1),
    Bneck(5, 288, 96, True, "HS", 2),
    Bneck(5, 576, 96, True, "HS", 1),
    Bneck(5, 576, 96, True, "HS", 1),
)
SMALL_HEAD = 1024  # the final paper version's head (an earlier version printed 1280)

_ACTIVATIONS = {"RE": nn.ReLU, "HS": nn.Hardswish}
# The reference implementation's BatchNorm settings (TF defaults translated to PyTorch).
_norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (k x k) -> optional SE -> linear project (1x1)."""

    def __init__(self, inp: int, paper_inp: int, row: Bneck, width_mult: float) -> None:
        super().__init__()
        # The reference implementation states the expansion as a ratio of the block's input
        # (TF-slim's `expand_input_by_factor`), so it follows the rounded input width.
        expanded = make_divisible(inp * row.exp_size / paper_inp)
        oup = make_divisible(row.out * width_mult)
        act = _ACTIVATIONS[row.nl]
        self.use_res_connect = row.stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(Conv2dNormActivation(inp, expanded, 1, norm_layer=_norm, activation=act))
        layers.append(
            Conv2dNormActivation(
                expanded,
                expanded,
                row.kernel,
                row.stride,
                groups=expanded,
                norm_layer=_norm,
                activation=act,
            )
        )
        if row.se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4)))
        layers.append(Conv2dNormActivation(expanded, oup, 1, norm_layer=_norm, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


class MobileNetV3(nn.Module):
    def __init__(
        self,
        rows: tuple[Bneck, ...],
        head_channels: int,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        channels = make_divisible(STEM_CHANNELS * width_mult)
        layers: list[nn.Module] = [
            Conv2dNormActivation(3, channels, 3, 2, norm_layer=_norm, activation=nn.Hardswish)
        ]
        paper_channels = STEM_CHANNELS
        for row in rows:
            block = InvertedResidual(channels, paper_channels, row, width_mult)
            layers.append(block)
            channels, paper_channels = block.out_channels, row.out
        last_conv = 6 * channels  # the last bneck's exp size: 960 (Large), 576 (Small)
        layers.append(
            Conv2dNormActivation(channels, last_conv, 1, norm_layer=_norm, activation=nn.Hardswish)
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        # Narrower models keep the full head (TF-slim's finegrain_classification_mode); the
        # paper's 0.75 figures (Table 3) are those of that head.
        head = make_divisible(head_channels * max(1.0, width_mult))
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, head),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout, inplace=True),
            nn.Linear(head, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v3_large(width_mult: float = 1.0, num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(LARGE, LARGE_HEAD, width_mult, num_classes)


def mobilenet_v3_small(width_mult: float = 1.0, num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(SMALL, SMALL_HEAD, width_mult, num_classes)
