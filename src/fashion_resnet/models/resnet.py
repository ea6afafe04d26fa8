"""ResNet backbones (He et al. 2016): plain nn.Modules, no Lightning, no Hydra.

`resnet18(in_channels=3, num_classes=1000)` has exactly torchvision's parameter count; the
default `in_channels=1, num_classes=10` fits FashionMNIST. `residual=False` drops every
shortcut, giving the plain network of the same depth (the degradation experiment).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fashion_resnet.errors import ConfigError

STEMS = ("imagenet", "cifar")
OPTIONS = {"stem": "imagenet", "residual": True}  # our ResNets' own options, and their defaults
# Smallest input side (px) each stem accepts. imagenet: total stride 32, so at FashionMNIST's
# native 28 px layer4 is already 1x1; below that the 7x7/2 conv mostly sees zero padding.
# cifar: total stride 8, so 8 px gives layer4 a 1x1 map.
MIN_IMAGE_SIZE = {"imagenet": 28, "cifar": 8}


class Conv3x3(nn.Conv2d):
    """A 3x3, padding-1, bias-free convolution that skips the taps that only meet zero padding.

    Where the output is 1x1 (layer4 at 28 px with the imagenet stem: 2x2 -> 1x1 at stride 2,
    then 1x1 -> 1x1), at most the centre 2x2 of the kernel meets the input, and on a 1x1 input
    only its centre tap: the convolution is then one matrix product over those taps. The result
    and every gradient are the full convolution's (a skipped tap multiplies zeros, so its
    gradient is zero either way); the parameter and its state_dict key are nn.Conv2d's.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__(in_ch, out_ch, 3, stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # torch.jit.trace (TensorBoard's add_graph) sees sizes as tensors: it gets the plain conv
        if torch.jit.is_tracing() or (h - 1) // self.stride[0] or (w - 1) // self.stride[1]:
            return super().forward(x)  # more than one output px
        taps = self.weight[:, :, 1 : 3 - (h == 1), 1 : 3 - (w == 1)]  # (out, in, h, w)
        # one GEMM, (B, in*h*w) @ (in*h*w, out): oneDNN's convolution on these maps computed
        # all nine taps, and in bf16 ran slower than fp32 there (docs/results/smoke_precision)
        out = F.linear(x.flatten(1), taps.reshape(taps.shape[0], -1))
        return out[:, :, None, None]


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN (+ shortcut), then ReLU."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = Conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = Conv3x3(width, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """conv1x1-conv3x3-conv1x1 (each BN, ReLU between) + shortcut; stride on the 3x3 as in
    torchvision ("ResNet v1.5")."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = Conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


def _stem(kind: str, in_channels: int) -> nn.Sequential:
    if kind == "imagenet":  # 7x7/2 conv + 3x3/2 max-pool: 4x smaller feature maps
        return nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
    if kind == "cifar":  # 3x3/1 conv, no pool: keeps small images at full resolution
        return nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
    raise ConfigError(f"Unknown model.net.stem={kind!r}; choose one of: {', '.join(STEMS)}")


class ResNet(nn.Module):
    """stem -> layer1..layer4 (64, 128, 256, 512 wide) -> global average pool -> linear."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: list[int],
        in_channels: int = 1,
        num_classes: int = 10,
        stem: str = "imagenet",
        residual: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2:
            raise ConfigError(
                f"in_channels must be >= 1 and num_classes >= 2, got {in_channels}, {num_classes}"
            )
        self.stem = _stem(stem, in_channels)
        layers, in_ch = [], 64
        for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(in_ch, width, stride, residual))
                in_ch = width * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, S, S) -> (B, num_classes)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


ARCHS: dict[str, Callable[..., ResNet]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
}


def build(arch: str, **kwargs) -> ResNet:
    """Build a registered architecture by name; the name and plain values are what
    checkpoints store, so a checkpoint never has to unpickle a module."""
    if arch not in ARCHS:
        raise ConfigError(f"Unknown model.net.arch={arch!r}; choose one of: {', '.join(ARCHS)}")
    return ARCHS[arch](**kwargs)
