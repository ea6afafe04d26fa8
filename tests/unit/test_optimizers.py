"""optimizers.py: fused kernels when the config leaves `fused` null and torch has them for the
parameters' device; the config's own choice, and Lightning's limits, win."""

from __future__ import annotations

import functools

import pytest
import torch

from fashion_resnet.models import optimizers

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda", 0), torch.device("mps")


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD])
def test_shipped_optimizers_are_fused_on_cuda_and_cpu(cls):
    factory = functools.partial(cls, lr=0.1, fused=None)  # as conf/optimizer/ composes them
    assert optimizers.fused_default(factory, CUDA, mixed_clipping=False)
    assert optimizers.fused_default(factory, CPU, mixed_clipping=False)
    assert not optimizers.fused_default(factory, MPS, mixed_clipping=False)
    params = [torch.nn.Parameter(torch.randn(3))]
    opt = optimizers.build(factory, params, CPU)
    assert opt.defaults["fused"] is True
    params[0].grad = torch.ones(3)
    opt.step()  # torch accepts it on the CPU
    assert torch.isfinite(params[0]).all()


@pytest.mark.parametrize(
    "keywords",
    [{"fused": False}, {"fused": True}, {"foreach": True}, {"differentiable": True}],
)
def test_the_configs_own_choice_wins(keywords):
    factory = functools.partial(torch.optim.Adam, lr=0.1, **keywords)
    assert not optimizers.fused_default(factory, CUDA, mixed_clipping=False)


def test_no_fused_kernel_no_fused_argument():
    factory = functools.partial(torch.optim.RMSprop, lr=0.1)  # no `fused` in its signature
    assert not optimizers.fused_default(factory, CUDA, mixed_clipping=False)
    opt = optimizers.build(factory, [torch.nn.Parameter(torch.randn(3))], CPU)
    assert "fused" not in opt.defaults
    lam = lambda params: torch.optim.Adam(params, lr=0.1)  # noqa: E731 - not a class: left alone
    assert not optimizers.fused_default(lam, CUDA, mixed_clipping=False)


def test_not_fused_where_lightning_clips_under_mixed_precision():
    # 16-mixed or bf16-mixed + clipping: Lightning refuses an optimizer that unscales by itself
    factory = functools.partial(torch.optim.AdamW, lr=0.1)
    assert not optimizers.fused_default(factory, CUDA, mixed_clipping=True)
