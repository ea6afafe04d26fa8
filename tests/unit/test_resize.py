"""resize.py: one antialiased resize for every path and device. The tensor-op version (what a
GPU, and the exported graphs, run) equals torch's CPU uint8 kernel (what CPU training, eval and
predict run) bit for bit, and a training batch's model input is the export/predict input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import REAL_DATA, make_images

from fashion_resnet import export as E
from fashion_resnet.data import resize as R
from fashion_resnet.data import transforms as T
from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.data.idx_files import parse_idx, read_idx_bytes


def kernel(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


def test_the_tensor_op_resize_is_the_cpu_kernel_bit_for_bit_at_every_size():
    images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))  # fmt: skip
    for size in [*range(8, 130), 160, 224, 256]:  # down, up, and odd ratios
        assert torch.equal(R.resize_exact(images, size), kernel(images, size)), size
    other = torch.randint(0, 256, (2, 3, 31, 45), dtype=torch.uint8)  # not square, 3 channels
    assert torch.equal(R.resize_exact(other, 40), kernel(other, 40))


@pytest.mark.skipif(not REAL_DATA, reason="real FashionMNIST not installed")
def test_the_tensor_op_resize_is_the_cpu_kernel_on_real_images():
    files = FashionMNISTDataModule(download=False).raw_files()
    images = parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:2000].unsqueeze(1)
    for size in (64, 96):
        assert torch.equal(R.resize_exact(images, size), kernel(images, size))


@pytest.mark.parametrize("size,normalize", [(96, False), (64, True), (20, False)])
def test_a_batch_off_the_cpu_sees_what_export_and_predict_see(fake_data_dir, monkeypatch, size,
                                                              normalize):  # fmt: skip
    m = FashionMNISTDataModule(
        str(fake_data_dir),
        system_dir=None,
        download=False,
        verify=False,
        val_size=64,
        image_size=size,
        normalize=normalize,
    )
    m.setup()
    images = m.test_set.tensors[0][:64]
    stats = m.statistics()  # (mean, std) with normalize, else (None, None)
    serving = T.to_model_input(images, size, *stats)  # predict's path (and CPU eval's)
    exported = E.ExactResize(size)(images) if size != 28 else images  # the graph's resize
    assert torch.equal(T.to_model_input(exported, size, *stats), serving)
    # A GPU's batch: the DataModule's transform takes the tensor-op path off the CPU. Without a
    # GPU, the same code runs on CPU tensors (the device test is tests/test_gpu.py's).
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        monkeypatch.setattr(T, "resize", lambda x, s: R.resize_exact(x, s))
    trained = m.transform(images.to(device)).cpu()
    assert torch.equal(trained, serving)


def test_model_input_refuses_float_images():
    with pytest.raises(TypeError, match="images must be uint8"):
        T.to_model_input(make_images(torch.arange(2), 0).float(), 96)
