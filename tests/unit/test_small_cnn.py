"""small_cnn.py: the example own backbone trains at any channel count and input side."""

import pytest
import torch

from fashion_resnet.models.small_cnn import SmallCNN


@pytest.mark.parametrize("channels,side", [(1, 8), (3, 16), (3, 37)])
def test_logits_for_any_channels_and_side_and_gradients_reach_the_first_conv(channels, side):
    net = SmallCNN(in_channels=channels, num_classes=4, width=8, depth=3)
    out = net(torch.rand(2, channels, side, side))
    assert out.shape == (2, 4) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert net.features[0].weight.grad.abs().sum() > 0


def test_width_doubles_each_block():
    net = SmallCNN(width=4, depth=3)
    widths = [m.out_channels for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert widths == [4, 8, 16] and net.head[-1].in_features == 16
