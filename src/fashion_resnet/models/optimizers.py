"""The optimizer from its config factory, with torch's fused kernels where they exist.

A config that leaves `fused` null (conf/optimizer/) gets `fused=True` when the optimizer class
has fused kernels (Adam, AdamW, SGD, Adagrad) and the parameters live on a device torch has them
for (CUDA, CPU): one kernel for all parameters per step instead of several per tensor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]
FUSED_DEVICES = ("cuda", "cpu")


def fused_default(factory: OptimizerFactory, device: torch.device, mixed_clipping: bool) -> bool:
    """Whether to add `fused=True`: the class has fused kernels, the config set neither `fused`
    nor `foreach`, and Lightning will not clip under mixed precision (`mixed_clipping`:
    gradient_clip_val with 16-mixed or bf16-mixed, which Lightning refuses for a fused optimizer:
    it would unscale the gradients inside its step, after the clipping)."""
    cls = getattr(factory, "func", factory)
    given = getattr(factory, "keywords", {})
    if not isinstance(cls, type) or "fused" not in inspect.signature(cls).parameters:
        return False
    if given.get("fused") is not None or given.get("foreach") or given.get("differentiable"):
        return False
    return device.type in FUSED_DEVICES and not mixed_clipping


def build(
    factory: OptimizerFactory,
    params: Iterable[torch.nn.Parameter],
    device: torch.device,
    mixed_clipping: bool = False,
) -> torch.optim.Optimizer:
    extra = {"fused": True} if fused_default(factory, device, mixed_clipping) else {}
    return factory(params=params, **extra)
