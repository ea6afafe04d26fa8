"""FashionMNIST as a LightningDataModule: its facts, and its verified raw files (idx_files.py)
loaded into memory as uint8 (N, 28, 28). Splits, batches and the model input on the training
device come from image_datamodule.ImageDataModule, as for every dataset here.

With `device_resident` (the default) the uint8 tensors live on the training device (55 MB on a
GPU) and each batch is one gather by an index tensor (batches.py): no per-image `__getitem__`,
no collate, no host-to-device copy per step. `device_resident=false` is the classic path
(TensorDataset + DataLoader, optional workers, pinned host-to-device copies), kept to compare."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import TensorDataset

from fashion_resnet.data.facts import DataFacts
from fashion_resnet.data.idx_files import MD5, SYSTEM_DIR, find_raw_files, parse_idx, read_idx_bytes
from fashion_resnet.data.image_datamodule import ImageDataModule

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FACTS = DataFacts(
    classes=CLASSES,
    image_shape=(28, 28),
    # training-set pixel statistics after scaling to [0, 1] (a real-data test checks them)
    mean=(0.2860,),
    std=(0.3530,),
    train_images=60_000,  # fixed by the published files (idx_files.MD5)
    test_images=10_000,
)


class FashionMNISTDataModule(ImageDataModule):
    PICTURES = "grey, light item on a dark background, 0..255, as FashionMNIST"
    INVERT = "auto"  # photos of clothes are mostly dark items on a light background

    def __init__(
        self,
        data_dir: str = "data",
        system_dir: str | None = SYSTEM_DIR,
        download: bool = True,
        verify: bool = True,  # check MD5s; only tests on generated files turn this off
        **kwargs: Any,  # ImageDataModule's: splits, batches, image size, augmentation
    ) -> None:
        super().__init__(**kwargs)
        self._files: dict[str, Path] | None = None

    def describe(self) -> DataFacts:
        return FACTS

    def raw_files(self, download: bool = False) -> dict[str, Path]:
        """The four IDX files, found and MD5-checked once per process (each check decompresses
        ~30 MB): prepare_data and setup share the result."""
        if self._files is None:
            hp = self.hparams
            md5 = MD5 if hp.verify else None
            self._files = find_raw_files(hp.data_dir, hp.system_dir, download, md5)
        return self._files

    def prepare_data(self) -> None:
        self.raw_files(download=self.hparams.download)

    def load(self, split: str) -> TensorDataset:
        prefix = {"train": "train", "test": "t10k"}[split]
        files = self.raw_files()
        images, labels = (parse_idx(read_idx_bytes(files[f"{prefix}-{kind}-idx{d}-ubyte"]))
                          for kind, d in (("images", 3), ("labels", 1)))  # fmt: skip
        return TensorDataset(images, labels.long())

    @classmethod
    def read_picture(cls, img, image_shape: Sequence[int] = (28, 28), invert=None) -> torch.Tensor:
        return to_fashion_mnist(img, invert or cls.INVERT)


def to_fashion_mnist(img: Image.Image, invert: str = "auto") -> torch.Tensor:
    """Any picture -> uint8 (28, 28): grey, padded to a square with its border colour,
    light-on-dark (inverted when the background is light, or when told to)."""
    grey = ImageOps.exif_transpose(img).convert("L")
    t = torch.from_numpy(np.asarray(grey, dtype="uint8").copy())
    border = torch.cat([t[0], t[-1], t[:, 0], t[:, -1]]).float().mean().item()
    if invert == "true" or (invert == "auto" and border > 127):
        grey, border = ImageOps.invert(grey), 255 - border
    side = max(grey.size)
    square = Image.new("L", (side, side), int(border))
    square.paste(grey, ((side - grey.width) // 2, (side - grey.height) // 2))
    small = square.resize((28, 28), Image.Resampling.BILINEAR, reducing_gap=None)
    return torch.from_numpy(np.asarray(small, dtype="uint8").copy())
