"""models/resnet.py: our ResNets match torchvision's sizes and the notebook's shapes; plain
nets lack only the shortcuts; bad arguments name the choices."""

import warnings

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


@pytest.mark.parametrize(
    "size, stride",
    [(1, 1), (1, 2), (2, 2), (2, 1), (3, 2), (4, 2), (7, 1), (3, 3)],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_conv3x3_is_the_full_convolution_with_its_gradients(size, stride, channels_last):
    # the 1x1-output cases take the matrix-product path; the rest are nn.Conv2d's own forward
    torch.manual_seed(0)
    full = torch.nn.Conv2d(16, 8, 3, stride, 1, bias=False)
    ours = resnet.Conv3x3(16, 8, stride)
    ours.load_state_dict(full.state_dict())
    x = torch.randn(4, 16, size, size + (size > 1), dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    full, ours = full.double(), ours.double()
    want, got = full(x), ours(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)
    grads = [torch.autograd.grad((y * torch.arange(y.numel()).view_as(y)).sum(), [x, m.weight])
             for y, m in ((want, full), (got, ours))]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a)
    assert list(ours.state_dict()) == ["weight"]


def test_layer4_at_28px_takes_the_one_output_path(monkeypatch):
    # at FashionMNIST's 28 px with the imagenet stem, layer4's four 3x3 convolutions have 1x1
    # outputs: none of them may fall back to the full convolution there
    calls = []
    monkeypatch.setattr(
        torch.nn.Conv2d, "forward", lambda self, x: calls.append(self) or self._conv_forward(
            x, self.weight, self.bias)
    )
    net = resnet.resnet18()
    net(torch.rand(2, 1, 28, 28))
    in_layer4 = {id(m) for m in net.layer4.modules() if isinstance(m, resnet.Conv3x3)}
    assert len(in_layer4) == 4
    assert not in_layer4 & {id(m) for m in calls}


def test_traces_at_28px_as_tensorboards_graph_does():
    # add_graph runs torch.jit.trace, where sizes are tensors: the 1x1-output check must not
    # do arithmetic on them (CI failed here), and the traced net computes what the net does
    net = resnet.resnet18().eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.14 deprecates torch.jit.trace
        traced = torch.jit.trace(net, x)
        torch.testing.assert_close(traced(x), net(x))
