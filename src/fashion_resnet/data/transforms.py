"""Batched, on-device image transforms: uint8 (B, H, W) or (B, C, H, W) in, float (B, C, S, S)
out, for any number of channels.

One pass over the whole batch on whatever device it lives on; no PIL, no per-image Python.
Random augmentations draw their parameters per sample (torchvision.transforms.v2 on a batched
tensor would draw one set for the whole batch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fashion_resnet.data.resize import resize


def to_model_input(
    images: torch.Tensor,
    image_size: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """uint8 (B, H, W) or (B, C, H, W) -> float (B, C, S, S), like PIL Resize + ToTensor, with
    the same pixels on every device (training, evaluation, predict and export alike), then
    `(x - mean) / std` per channel when `mean` and `std` are given (one value: every channel)."""
    x = images.unsqueeze(1) if images.ndim == 3 else images
    if x.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {x.dtype}")
    x = resize(x, image_size)
    x = x.float() / 255.0
    if mean is not None and std is not None:
        x = normalize(x, mean, std)
    return x


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per channel, with Python floats: no statistics tensor copied to the device per batch."""
    if len(mean) == 1:
        return (x - mean[0]) / std[0]
    if len(mean) != x.shape[1]:
        raise ValueError(f"{len(mean)} channel means for images of {x.shape[1]} channels")
    for c, (m, s) in enumerate(zip(mean, std, strict=True)):
        x[:, c].sub_(m).div_(s)
    return x


def fit_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (C, H, W) of any size -> uint8 (C, S, S): the shorter side resized to `size`
    (antialiased bilinear, on the CPU PIL's own algorithm), then the centre cut out, as
    torchvision's Resize(S) + CenterCrop(S): no distortion, the edges of the long side go."""
    _, h, w = image.shape
    if min(h, w) != size:
        scale = size / min(h, w)
        shape = (max(size, round(h * scale)), max(size, round(w * scale)))
        image = F.interpolate(image[None], size=shape, mode="bilinear", antialias=True)[0]
        _, h, w = image.shape
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top : top + size, left : left + size].contiguous()


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by `padding` px, then cut a random S x S window per sample."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b, 1, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b, 1, 1, 1), device=x.device)
    rows = dy + torch.arange(h, device=x.device).view(1, 1, h, 1)  # (B, 1, H, 1)
    cols = dx + torch.arange(w, device=x.device).view(1, 1, 1, w)  # (B, 1, 1, W)
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[bi, ci, rows, cols]


def random_hflip(x: torch.Tensor, p: float) -> torch.Tensor:
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
    return torch.where(flip, x.flip(-1), x)


def random_erase(
    x: torch.Tensor,
    p: float,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    value: float = 0.0,
) -> torch.Tensor:
    """Per sample, with probability p, fill one random rectangle (area fraction in `scale`,
    aspect ratio in `ratio`, as torchvision's RandomErasing) with `value`."""
    b, _, h, w = x.shape
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(*scale) * h * w
    log_r = torch.empty(b, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_r)
    eh = (area * aspect).sqrt().round().clamp(1, h).long()
    ew = (area / aspect).sqrt().round().clamp(1, w).long()
    top = (torch.rand(b, device=dev) * (h - eh + 1)).long()
    left = (torch.rand(b, device=dev) * (w - ew + 1)).long()
    inside = box_mask(top, top + eh, left, left + ew, h, w)
    erase = inside & (torch.rand(b, 1, 1, device=dev) < p)  # (B, H, W)
    return x.masked_fill(erase.unsqueeze(1), value)


def box_mask(
    top: torch.Tensor, bottom: torch.Tensor, left: torch.Tensor, right: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """(B,) int edges, bottom and right exclusive -> bool (B, H, W), True inside each box."""
    rows = torch.arange(h, device=top.device).view(1, h, 1)
    cols = torch.arange(w, device=top.device).view(1, 1, w)
    top, bottom, left, right = (t.view(-1, 1, 1) for t in (top, bottom, left, right))
    return (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)


def mix(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp / CutMix with a mixing weight drawn per sample: image i is mixed with image i-1 of
    the (shuffled) batch; lam ~ Beta(alpha, alpha) is the share of image i. MixUp blends the
    pixels; CutMix pastes a box of area fraction 1 - lam from the partner (clipped to the image;
    lam is then the area actually kept). With both on, each sample picks one with equal odds, as
    torchvision's references do per batch. Returns the images and the mixed one-hot labels,
    class probabilities (B, C). `mixup`, `cutmix`: Beta concentrations; 0 turns one off."""
    b, _, h, w = x.shape
    dev = x.device
    targets = F.one_hot(y, num_classes).to(x.dtype)
    if not (mixup or cutmix):
        return x, targets

    def beta(alpha: float) -> torch.Tensor:
        if not alpha:
            return torch.ones(b, device=dev)
        conc = torch.full((b,), float(alpha), device=dev)
        # validate_args=False: the argument check would read a tensor back to the host
        return torch.distributions.Beta(conc, conc, validate_args=False).sample()

    partner_x, partner_t = x.roll(1, dims=0), targets.roll(1, dims=0)
    lam_mix = beta(mixup)
    # CutMix box: sides sqrt(1 - lam) of the image's, centre anywhere in the image
    cut = (1 - beta(cutmix)).sqrt()
    cy, cx = torch.rand(b, device=dev) * h, torch.rand(b, device=dev) * w
    top, bottom = (cy - cut * h / 2).clamp(0, h), (cy + cut * h / 2).clamp(0, h)
    left, right = (cx - cut * w / 2).clamp(0, w), (cx + cut * w / 2).clamp(0, w)
    box = box_mask(*(t.round().long() for t in (top, bottom, left, right)), h, w)
    lam_cut = 1 - box.flatten(1).float().mean(dim=1)

    p_cut = 0.5 if (mixup and cutmix) else float(bool(cutmix))
    use_cut = torch.rand(b, device=dev) < p_cut  # (B,)
    lam = torch.where(use_cut, lam_cut, lam_mix)
    blended = lam.view(b, 1, 1, 1) * x + (1 - lam.view(b, 1, 1, 1)) * partner_x
    pasted = torch.where(box.unsqueeze(1), partner_x, x)
    x = torch.where(use_cut.view(b, 1, 1, 1), pasted, blended)
    lam = lam.view(b, 1)
    return x, lam * targets + (1 - lam) * partner_t
