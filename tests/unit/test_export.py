"""export.py's pieces: the resize in the exported graph. Exports of a trained run:
integration/test_predict_export.py."""

import pytest
import torch
import torch.nn.functional as F
from conftest import REAL_DATA

from fashion_resnet import export as E
from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.data.idx_files import parse_idx, read_idx_bytes


@pytest.mark.parametrize("size", [20, 29, 32, 96])
def test_the_graphs_resize_is_the_training_resize_bit_for_bit(size):
    """The exported graph's resize against torch's uint8 resize (the CPU training path), on
    the real test images where they are installed, else on generated ones."""
    if REAL_DATA:
        files = FashionMNISTDataModule(download=False).raw_files()
        images = parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:2000]
    else:
        images = torch.randint(0, 256, (2000, 28, 28), dtype=torch.uint8)
    trained = F.interpolate(images.unsqueeze(1), size=(size, size), mode="bilinear",
                            antialias=True)[:, 0]  # fmt: skip
    assert torch.equal(E.ExactResize(size)(images), trained)
