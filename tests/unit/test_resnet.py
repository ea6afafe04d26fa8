"""models/resnet.py: our ResNets match torchvision's sizes and the notebook's shapes; plain
nets lack only the shortcuts; bad arguments name the choices."""

import pytest
import torch
import torchvision

from fashion_resnet.models import resnet


@pytest.mark.parametrize("arch", list(resnet.ARCHS))
def test_parameter_count_matches_torchvision(arch):
    ours = resnet.build(arch, in_channels=3, num_classes=1000)
    ref = getattr(torchvision.models, arch)()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_stage_shapes_for_224_input():
    net = resnet.resnet18().eval()
    x = torch.rand(2, 1, 224, 224)
    shapes = {}
    for name in ["stem", "layer1", "layer2", "layer3", "layer4", "head"]:
        x = getattr(net, name)(x)
        shapes[name] = tuple(x.shape[1:])
    assert shapes == {
        "stem": (64, 56, 56),
        "layer1": (64, 56, 56),
        "layer2": (128, 28, 28),
        "layer3": (256, 14, 14),
        "layer4": (512, 7, 7),
        "head": (10,),
    }


@pytest.mark.parametrize("arch", list(resnet.ARCHS))
@pytest.mark.parametrize("stem,size", [("imagenet", 32), ("cifar", 16)])
@pytest.mark.parametrize("residual", [True, False])
def test_forward_finite_and_gradients_reach_stem(arch, stem, size, residual):
    net = resnet.build(arch, stem=stem, residual=residual)
    out = net(torch.rand(2, 1, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    grad = net.stem[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_plain_network_has_no_shortcuts():
    plain, res = resnet.resnet18(residual=False), resnet.resnet18()
    assert not any("shortcut" in n for n, _ in plain.named_parameters())
    assert any("shortcut" in n for n, _ in res.named_parameters())
    # Same main path: the plain net differs by the three 1x1 projection shortcuts only.
    proj = sum(p.numel() for n, p in res.named_parameters() if "shortcut" in n)
    assert sum(p.numel() for p in plain.parameters()) + proj == sum(
        p.numel() for p in res.parameters()
    )


def test_cifar_stem_keeps_resolution():
    net = resnet.resnet18(stem="cifar")
    assert net.stem(torch.rand(1, 1, 28, 28)).shape == (1, 64, 28, 28)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            {"arch": "resnet19"},
            "Unknown model.net.arch='resnet19'; choose one of: resnet18, resnet34",
        ),
        (
            {"arch": "resnet18", "stem": "tiny"},
            "Unknown model.net.stem='tiny'; choose one of: imagenet",
        ),
        ({"arch": "resnet18", "num_classes": 1}, "num_classes >= 2"),
    ],
)
def test_bad_arguments_name_value_and_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet.build(**kwargs)
