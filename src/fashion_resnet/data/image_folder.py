"""Your own pictures as a DataModule: `data=image_folder data.root=DIR`.

DIR/<class>/*.png|jpg (at any depth below the class folder), or DIR/train/<class>/... and
DIR/test/<class>/... when the split is given; without it a seeded share of each class
(`test_size`) is the test set. Class names are the folder names, sorted. Pictures of any size
and mode are read once, as `channels` (1 grey, 3 colour), the shorter side resized to
`image_size` and the centre cut out, and kept as uint8 (N, C, S, S): in memory (on the training
device) when they take at most `memory_limit_mb`, else read from disk as each batch needs them
(DataLoader workers: `num_workers`). Splits, batches, augmentation and the model input are
ImageDataModule's, as for FashionMNIST."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from fashion_resnet.data.facts import DataFacts
from fashion_resnet.data.image_datamodule import ImageDataModule
from fashion_resnet.data.picture_files import (
    Files,
    PictureFiles,
    class_folders,
    read_all,
    with_headers,
)
from fashion_resnet.errors import ConfigError, check_int

STATISTICS_SAMPLE = 512  # training pictures (seeded) that mean/std are measured on, when needed


class ImageFolderDataModule(ImageDataModule):
    PICTURES = "pictures at image_size (shorter side resized, centre cut out), 0..255, (C, S, S)"

    def __init__(
        self,
        root: str,  # the folder of class folders (or of train/ and test/)
        channels: int = 3,  # 1: grey, 3: colour (RGB); pictures are converted as they are read
        image_size: int = 64,  # px: pictures are stored at this side, so no resize per step
        val_size: int | float = 0.1,  # a share (float) or a count of the training pictures
        test_size: float = 0.2,  # without train/ and test/: this share of each class tests
        memory_limit_mb: int = 2048,  # decoded pictures up to this size stay in (GPU) memory
        **kwargs: Any,  # ImageDataModule's: splits, batches, augmentation
    ) -> None:
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ConfigError(f"data.channels={channels!r}: expected 1 (grey) or 3 (colour)")
        if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
            raise ConfigError(f"data.test_size={test_size!r}: expected a share in (0, 1)")
        check_int("data.memory_limit_mb", memory_limit_mb, 0, unit="MB")
        super().__init__(image_size=image_size, val_size=val_size, **kwargs)
        self._listing: tuple[tuple[str, ...], dict[str, Files]] | None = None

    def listing(self) -> tuple[tuple[str, ...], dict[str, Files]]:
        """(class names, {"train": files, "test": files}), listed once (no picture is read)."""
        if self._listing is None:
            root = Path(self.hparams.root).expanduser()
            if (root / "train").is_dir() and (root / "test").is_dir():
                self._listing = given_split(root)
            else:
                self._listing = carved_split(root, self.hparams.test_size, self.hparams.split_seed)
        return self._listing

    def describe(self) -> DataFacts:
        classes, files = self.listing()
        hp = self.hparams
        shape = (hp.channels, hp.image_size, hp.image_size)
        mean = std = None
        if hp.normalize and hp.mean is None:  # measured only when the model input needs it
            g = torch.Generator().manual_seed(hp.split_seed)
            pick = torch.randperm(len(files["train"]), generator=g)[:STATISTICS_SAMPLE]
            images, _ = read_all([files["train"][i] for i in pick.tolist()], self._reader(shape))
            x = images.float().div_(255).transpose(0, 1).flatten(1)  # (C, pixels)
            mean, std = tuple(x.mean(1).tolist()), tuple(x.std(1).tolist())
        return DataFacts(classes, shape, mean, std, len(files["train"]), len(files["test"]))

    def in_memory(self) -> bool:
        """Whether every picture, decoded at image_size, fits in memory_limit_mb."""
        _, files = self.listing()
        c, s = self.hparams.channels, self.hparams.image_size
        return sum(map(len, files.values())) * c * s * s <= self.hparams.memory_limit_mb * 2**20

    def load(self, split: str) -> Dataset:
        classes, files = self.listing()
        read = self._reader(self.facts.image_shape)
        show = self.trainer is None or self.trainer.is_global_zero  # one bar, not one per rank
        if not self.in_memory():  # headers checked now: a file that is no picture is named once
            return PictureFiles(with_headers(files[split], show), read)
        images, labels = read_all(files[split], read, show)
        missing = [c for c, n in zip(classes, labels.bincount(minlength=len(classes)).tolist(),
                                     strict=True) if n == 0]  # fmt: skip
        if missing:
            raise ConfigError(f"data.root={self.hparams.root!r}: no readable picture of class(es) "
                              f"{', '.join(missing)} in the {split} set")  # fmt: skip
        return TensorDataset(images, labels)

    def _reader(self, shape: tuple[int, ...]):
        return functools.partial(type(self).read_picture, image_shape=shape)


def labelled(found: dict[str, list[Path]], classes: tuple[str, ...]) -> Files:
    return [(f, i) for i, name in enumerate(classes) for f in found[name]]


def given_split(root: Path) -> tuple[tuple[str, ...], dict[str, Files]]:
    """root/train/<class> and root/test/<class>: the same classes in both."""
    train = class_folders(root / "train", "data.root (train/)")
    test = class_folders(root / "test", "data.root (test/)")
    if set(train) != set(test):
        raise ConfigError(f"data.root={str(root)!r}: train/ and test/ hold different classes "
                          f"(only in train/: {sorted(set(train) - set(test))}; only in test/: "
                          f"{sorted(set(test) - set(train))})")  # fmt: skip
    classes = tuple(sorted(train))
    return classes, {"train": labelled(train, classes), "test": labelled(test, classes)}


def carved_split(
    root: Path, test_size: float, seed: int
) -> tuple[tuple[str, ...], dict[str, Files]]:
    """root/<class>: a seeded `test_size` share of each class (at least one picture of a class
    with two or more) is the test set, so every class is tested."""
    found = class_folders(root)
    classes = tuple(sorted(found))
    g = torch.Generator().manual_seed(seed)
    split: dict[str, Files] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        files = found[name]
        k = max(1, round(test_size * len(files))) if len(files) > 1 else 0
        perm = torch.randperm(len(files), generator=g).tolist()
        split["test"] += [(files[i], label) for i in sorted(perm[:k])]
        split["train"] += [(files[i], label) for i in sorted(perm[k:])]
    return classes, split
