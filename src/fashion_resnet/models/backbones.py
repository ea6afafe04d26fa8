"""Backbones by name: the one place a net description (plain values, as configs and checkpoints
hold it) becomes an nn.Module with the data's input channels and class count.

- `{"arch": "resnet18", "stem": ..., "residual": ...}`: our ResNets (resnet.py), by short name;
- `{"arch": "torchvision/NAME", ...}`: any torchvision classification model, no weights
  downloaded, its first convolution adapted to the input channels;
- `{"arch": "timm/NAME", ...}`: any timm model (the optional extra `timm`), no weights downloaded;
- `{"_target_": "pkg.Class", ...}`: your own nn.Module, given `in_channels` and `num_classes`
  where its signature names them (it must return (B, num_classes) logits).
Other keys are the builder's keyword arguments. Our ResNets' own options (`stem`, `residual`) are
dropped for the other kinds while they hold their defaults, so `model.net.arch=torchvision/NAME`
works on the default model config; changed, they are an error rather than silently unused.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from fashion_resnet import extras
from fashion_resnet.errors import ConfigError
from fashion_resnet.models import resnet

KINDS = ("torchvision/", "timm/")


def spec(net: dict[str, Any]) -> dict[str, Any]:
    """The description reduced to what builds it: a `_target_` wins over `arch`, and our
    ResNets' options are dropped for other kinds while at their defaults."""
    net = dict(net)
    if net.get("_target_"):
        net.pop("arch", None)
    elif net.get("arch") in resnet.ARCHS:
        for key, default in resnet.OPTIONS.items():
            net.setdefault(key, default)
        return net
    for key, default in resnet.OPTIONS.items():
        if key in net and net[key] != default:
            kind = net.get("_target_") or net.get("arch")
            raise ConfigError(f"model.net.{key}={net[key]!r} is an option of our ResNets "
                              f"({', '.join(resnet.ARCHS)}), not of {kind}")  # fmt: skip
        net.pop(key, None)
    return net


def build(net: dict[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    net = spec(net)
    if net.get("_target_"):
        return own_module(net.pop("_target_"), net, in_channels, num_classes)
    arch = net.pop("arch", None)
    if arch in resnet.ARCHS:
        return resnet.build(arch, in_channels=in_channels, num_classes=num_classes, **net)
    if isinstance(arch, str) and arch.startswith("torchvision/"):
        return torchvision_model(arch.removeprefix("torchvision/"), net, in_channels, num_classes)
    if isinstance(arch, str) and arch.startswith("timm/"):
        return timm_model(arch.removeprefix("timm/"), net, in_channels, num_classes)
    raise ConfigError(
        f"Unknown model.net.arch={arch!r}; choose one of: {', '.join(resnet.ARCHS)}, "
        "torchvision/NAME, timm/NAME (or give model.net._target_=pkg.Class)"
    )


def torchvision_model(name: str, kwargs: dict, in_channels: int, num_classes: int) -> nn.Module:
    import torchvision

    if name not in torchvision.models.list_models(torchvision.models):
        raise ConfigError(
            f"model.net.arch=torchvision/{name}: torchvision has no classification "
            "model of that name (torchvision.models.list_models() lists them)"
        )
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    return adapt_first_conv(model, in_channels)


def adapt_first_conv(model: nn.Module, in_channels: int) -> nn.Module:
    """Replace the first Conv2d (the stem: torchvision registers it first) by one taking
    `in_channels`, its other settings kept; freshly initialised, as the rest (no weights)."""
    for name, conv in model.named_modules():
        if isinstance(conv, nn.Conv2d):
            if conv.in_channels == in_channels:
                return model
            parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(parent, name.rpartition(".")[2], nn.Conv2d(
                in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
            ))  # fmt: skip
            return model
    raise ConfigError(f"{type(model).__name__} has no Conv2d to take {in_channels} channels")


def timm_model(name: str, kwargs: dict, in_channels: int, num_classes: int) -> nn.Module:
    extras.require("timm", "timm", f"model.net.arch=timm/{name}")
    import timm

    if not timm.is_model(name):
        raise ConfigError(
            f"model.net.arch=timm/{name}: timm has no model of that name "
            "(timm.list_models() lists them)"
        )
    return timm.create_model(name, pretrained=False, num_classes=num_classes,
                             in_chans=in_channels, **kwargs)  # fmt: skip


def own_module(target: str, kwargs: dict, in_channels: int, num_classes: int) -> nn.Module:
    module_name, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"model.net._target_={target!r} cannot be imported ({e}): give "
                          "pkg.module.Class, importable from where you run") from e  # fmt: skip
    params = inspect.signature(cls).parameters
    given = {"in_channels": in_channels, "num_classes": num_classes}
    try:
        module = cls(**{k: v for k, v in given.items() if k in params}, **kwargs)
    except TypeError as e:  # an argument it does not take (a bug inside it keeps its traceback)
        if "argument" not in str(e):
            raise
        raise ConfigError(f"model.net._target_={target!r}: {e}") from e
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"model.net._target_={target!r} built a {type(module).__name__!r}, "
            "not a torch nn.Module"
        )
    return module
