"""A small plain CNN: the shape of a backbone of your own (`model=custom`,
conf/model/custom.yaml), and a fast baseline. Any nn.Module works the same way: typed,
defaulted arguments, `in_channels` and `num_classes` among them when it wants the data's, and
(B, num_classes) logits out."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """`depth` blocks of conv3x3-BN-ReLU + 2x2 max-pool, doubling the width each block, then
    global average pool and a linear layer. Any input side >= 2**depth px."""

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, width: int = 32, depth: int = 3
    ) -> None:
        super().__init__()
        layers, ch = [], in_channels
        for i in range(depth):
            out = width * 2**i
            layers += [nn.Conv2d(ch, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]  # fmt: skip
            ch = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, S, S) -> (B, num_classes)
        return self.head(self.features(x))
