"""backbones.py: every kind of net description builds a module with the data's channels and
class count, reloads from a weights_only checkpoint, and a bad description is one clear line."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from conftest import needs_extra
from torch import nn

from fashion_resnet.errors import ConfigError, UserError
from fashion_resnet.models import backbones
from fashion_resnet.models.classifier import Classifier

needs_timm = needs_extra("timm", "timm")


class Takes(nn.Module):
    """An own module naming both data arguments and one of its own."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class Fixed(nn.Module):
    """An own module that takes neither: it keeps its own sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 7)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


@pytest.fixture
def own_module(monkeypatch) -> str:
    module = types.ModuleType("own_backbones")
    module.Takes, module.Fixed, module.not_a_module = Takes, Fixed, lambda: 3
    monkeypatch.setitem(sys.modules, "own_backbones", module)
    return "own_backbones"


KINDS = [
    {"arch": "resnet18", "stem": "cifar"},
    {"arch": "torchvision/resnet18"},
    {"arch": "torchvision/mobilenet_v3_small"},  # its first conv is nested: features.0.0
    {"_target_": "own_backbones.Takes", "width": 6},
    pytest.param({"arch": "timm/test_resnet"}, marks=needs_timm),
]


@pytest.mark.parametrize("net", KINDS)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_kind_takes_the_data_channels_and_class_count(net, channels, own_module):
    module = backbones.build(net, in_channels=channels, num_classes=5).eval()
    first_conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == channels
    assert module(torch.rand(2, channels, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize("net", KINDS)
def test_every_kind_reloads_from_a_weights_only_checkpoint(net, own_module, tmp_path):
    model = Classifier(net, num_classes=3, in_channels=3).eval()
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    ckpt = torch.load(path, weights_only=True)
    again = Classifier(**ckpt["hyper_parameters"]).eval()
    again.load_state_dict(ckpt["state_dict"])
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(again(x), model(x))


def test_our_resnets_options_are_filled_and_dropped_for_other_kinds():
    assert backbones.spec({"arch": "resnet18"}) == {
        "arch": "resnet18", "stem": "imagenet", "residual": True,
    }  # fmt: skip
    # the default model config's options, untouched, do not reach torchvision
    default = {"arch": "torchvision/resnet18", "stem": "imagenet", "residual": True}
    assert backbones.spec(default) == {"arch": "torchvision/resnet18"}
    # a `_target_` wins over the config's arch
    assert backbones.spec({**default, "_target_": "x.Net"}) == {"_target_": "x.Net"}
    with pytest.raises(ConfigError, match="model.net.stem='cifar' is an option of our ResNets"):
        backbones.spec({**default, "stem": "cifar"})


def test_an_own_module_gets_only_the_arguments_it_names(own_module):
    fixed = backbones.build({"_target_": "own_backbones.Fixed"}, in_channels=1, num_classes=2)
    assert fixed.fc.out_features == 7  # not given num_classes: its signature does not name it
    takes = backbones.build({"_target_": "own_backbones.Takes", "width": 9}, 2, 4)
    assert (takes.conv.in_channels, takes.conv.out_channels, takes.fc.out_features) == (2, 9, 4)


@pytest.mark.parametrize(
    "net,match",
    [
        ({"arch": "vgg"}, "Unknown model.net.arch='vgg'; choose one of: resnet18, .*torchvision/"),
        ({"arch": "torchvision/resnet19"}, "torchvision has no classification model of that"),
        ({"_target_": "no_such_package.Net"}, "model.net._target_='no_such_package.Net' cannot"),
        ({"_target_": "own_backbones.Takes", "depth": 3}, "unexpected keyword argument 'depth'"),
        ({"_target_": "own_backbones.not_a_module"}, "built a 'int', not a torch nn.Module"),
    ],
)
def test_a_bad_description_is_a_config_error(net, match, own_module):
    with pytest.raises(ConfigError, match=match):
        backbones.build(net, in_channels=3, num_classes=2)


def test_a_missing_timm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as if not installed
    expected = r"^model.net.arch=timm/resnet18 needs the 'timm' extra: pip install .*\[timm\]'$"
    with pytest.raises(UserError, match=expected):
        backbones.build({"arch": "timm/resnet18"}, in_channels=3, num_classes=2)


@needs_timm
def test_an_unknown_timm_name_is_a_config_error():
    with pytest.raises(ConfigError, match="timm has no model of that name"):
        backbones.build({"arch": "timm/resnet19x"}, in_channels=3, num_classes=2)
