"""Antialiased bilinear resize of uint8 images with the same pixels on every device.

torch's CPU kernel for uint8 images is PIL's algorithm (fixed-point weights, a horizontal then a
vertical pass, rounding to uint8 after each), so the CPU path is bit-exact with the reference
notebook's Resize + ToTensor. A GPU has no uint8 antialiased resize, and its float one differs
by a grey level on 10% of the pixels of the real test images; exported graphs (ONNX's Resize
rounds differently again) have the same problem. `resize_exact` is that kernel's arithmetic
written in integer tensor ops, which tests/test_data.py checks bit for bit against the kernel:
training on a GPU, evaluation, predict and the exported graphs all see the same pixels.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> uint8 (B, C, S, S): torch's own kernel on the CPU (fast, AVX),
    the same arithmetic in tensor ops (`resize_exact`) on any other device."""
    if images.shape[-2:] == (size, size):
        return images
    if images.device.type == "cpu":
        return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return resize_exact(images, size)


def resize_exact(images: torch.Tensor, size: int) -> torch.Tensor:
    """torch's CPU uint8 antialiased bilinear resize in integer tensor ops, on any device: a
    horizontal then a vertical pass (aten/src/ATen/native/cpu/UpSampleKernel.cpp)."""
    x = images
    if x.shape[-1] != size:
        taps = device_taps(x.shape[-1], size, x.device)
        x = resize_pass(x.transpose(-1, -2), *taps).transpose(-1, -2)
    if x.shape[-2] != size:
        x = resize_pass(x, *device_taps(x.shape[-2], size, x.device))
    return x.contiguous()


def resize_pass(
    x: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, bits: int
) -> torch.Tensor:
    """Resize dim -2 of a uint8 (..., N, W) tensor to S = len(idx): each output pixel is the
    fixed-point sum of its K inputs, rounded, clamped and stored as uint8, as the kernel does.
    (Integer arithmetic, so every device gives the same result; int32 holds 255 * 2**22.)"""
    taps = x.index_select(-2, idx.flatten()).unflatten(-2, idx.shape).int()  # (..., S, K, W)
    acc = (taps * weights[..., None]).sum(dim=-2) + (1 << (bits - 1))  # (..., S, W)
    return torch.div(acc, 1 << bits, rounding_mode="floor").clamp(0, 255).to(torch.uint8)


@functools.cache
def device_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """resize_taps on `device`, copied there once per process (not once per batch)."""
    idx, weights, bits = resize_taps(n_in, n_out)
    if device.type == "cuda":  # pinned: an asynchronous copy, no host sync (as batches.py)
        idx, weights = idx.pin_memory(), weights.pin_memory()
    return idx.to(device, non_blocking=True), weights.to(device, non_blocking=True), bits


@functools.cache
def resize_taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One axis of torch's uint8 antialiased bilinear resize: for each output position its input
    positions (S, K) and int16 weights (S, K, as int32), and their precision in bits. The
    weights are PIL's, normalised in double precision, then rounded to fixed point at the
    highest precision at which the largest one still fits in 15 bits
    (_compute_indices_min_size_weights_aa and _compute_index_ranges_int16_weights)."""
    scale = n_in / n_out
    support = scale if scale >= 1.0 else 1.0  # bilinear: half of 2 taps, widened to downsample
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    most = math.ceil(support) * 2 + 1
    starts, rows, wt_max = [], [], 0.0
    for i in range(n_out):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)  # int(): toward zero, as C++'s cast
        xsize = min(max(min(int(center + support + 0.5), n_in) - xmin, 0), most)
        w = [max(0.0, 1.0 - abs((j + xmin - center + 0.5) * invscale)) for j in range(xsize)]
        total = sum(w)
        if total != 0.0:
            w = [v / total for v in w]
            wt_max = max(wt_max, *w)
        starts.append(xmin)
        rows.append(w)
    bits = 0
    while bits < 22 and int(0.5 + wt_max * (1 << (bits + 1))) < (1 << 15):
        bits += 1
    k = max(len(r) for r in rows)
    idx = torch.tensor([[min(x + j, n_in - 1) for j in range(k)] for x in starts])
    weights = torch.tensor([[int(0.5 + v * (1 << bits)) for v in r] + [0] * (k - len(r))
                            for r in rows], dtype=torch.int32)  # fmt: skip
    return idx, weights, bits
