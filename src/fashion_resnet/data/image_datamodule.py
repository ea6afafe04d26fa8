"""What every image DataModule here shares: uint8 images held whole in memory (on the training
device when `device_resident`) or streamed from files, a seeded validation split or K folds,
batches drawn whole (batches.py), and the batched on-device transform (transforms.py), for any
number of channels.

A dataset is a subclass with two methods: `describe()`, its facts (DataFacts: class names, image
shape as stored, mean/std, sizes), and `load(split)`, its "train" or "test" images as a
TensorDataset (uint8 images, int64 labels), or as any Dataset of (image, label) pairs, which then
streams through a DataLoader. The model head, the views, predict and export read the facts from
here (or from the checkpoint, which stores `checkpoint_facts()`), never a constant of their own.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from fashion_resnet.data import transforms as T
from fashion_resnet.data.batches import BatchIndexSampler, DeviceBatches, per_rank_batch_size
from fashion_resnet.data.facts import DataFacts
from fashion_resnet.data.picture_files import read_picture
from fashion_resnet.data.splits import check_sizes, check_split, held_out, split_indices
from fashion_resnet.errors import ConfigError, check_bool, check_int, check_number


class ImageDataModule(pl.LightningDataModule):
    PICTURES = "uint8 images, 0..255, channels first"  # what one stored image is (export's note)
    INVERT = "false"  # predict: invert a picture's brightness ("auto": when its border is light)

    def __init__(
        self,
        val_size: int | float = 5000,  # images held out of the train set (a float: that share);
        # 0 = validate on the test set
        train_subset: int | None = None,  # use only this many training images (quick runs)
        split_seed: int = 0,  # fixes the train/val split independently of the run's seed
        folds: int = 0,  # K >= 2: K seeded folds of the training set, replacing val_size
        fold: int = 0,  # which fold (0..K-1) is the validation set
        batch_size: int = 256,
        eval_batch_size: int | None = None,  # default: 2x batch_size (no gradients to keep)
        device_resident: bool = True,  # in-memory data on the training device, one gather a batch
        seed: int = 0,  # shuffle order of epoch e: a function of (seed, e) only
        num_workers: int = 0,  # DataLoader worker processes (not device-resident data only)
        pin_memory: bool = True,  # DataLoader only
        image_size: int = 96,  # side in px of the model's input
        normalize: bool = False,  # (x - mean) / std per channel
        mean: list[float] | None = None,  # None: the dataset's own (its facts)
        std: list[float] | None = None,
        crop_padding: int = 0,  # random crop after zero padding, in stored pixels
        hflip: float = 0.0,  # probability of a horizontal flip
        erase: float = 0.0,  # probability of random erasing
        mixup: float = 0.0,  # MixUp's Beta(alpha, alpha) concentration per sample; 0 = off
        cutmix: float = 0.0,  # CutMix's Beta(alpha, alpha) concentration per sample; 0 = off
    ) -> None:
        super().__init__()
        check_split(val_size, train_subset, folds, fold)
        check_int("data.batch_size", batch_size, 1, unit="images per step")
        check_int("data.eval_batch_size", eval_batch_size, 1, optional=True)
        check_int("data.num_workers", num_workers, 0)
        check_int("data.image_size", image_size, 8, unit="px")
        check_int("data.crop_padding", crop_padding, 0, unit="px")
        for name, p in [("hflip", hflip), ("erase", erase)]:
            check_number(f"data.{name}", p, 0.0, 1.0, unit="a probability")
        for name, alpha in [("mixup", mixup), ("cutmix", cutmix)]:
            check_number(f"data.{name}", alpha, 0.0, unit="a Beta concentration, 0 = off")
        for name, flag in [("normalize", normalize), ("device_resident", device_resident),
                           ("pin_memory", pin_memory)]:  # fmt: skip
            check_bool(f"data.{name}", flag)
        if (mean is None) != (std is None):
            raise ConfigError("data.mean and data.std go together: give both or neither")
        self.save_hyperparameters()
        self.train_set = self.val_set = self.test_set = None
        self._facts: DataFacts | None = None

    # --- what a dataset provides ---------------------------------------------------------------
    def describe(self) -> DataFacts:
        raise NotImplementedError

    def load(self, split: str) -> Dataset:
        """ "train" or "test": a TensorDataset of uint8 images and int64 labels on the CPU, or a
        Dataset of (uint8 image, label) pairs read from files (streamed by a DataLoader)."""
        raise NotImplementedError

    @classmethod
    def read_picture(cls, img, image_shape, invert: str | None = None) -> torch.Tensor:
        """A picture (PIL image of any size and mode) as this dataset stores its images."""
        return read_picture(img, image_shape, invert or cls.INVERT)

    # --- facts ----------------------------------------------------------------------------------
    @property
    def facts(self) -> DataFacts:
        """The dataset's facts, found once; the split sizes are checked against them here."""
        if self._facts is None:
            facts = self.describe()
            self._check_sizes(facts.train_images)
            self._facts = facts
        return self._facts

    def statistics(self) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
        """(mean, std) the model input is normalised with; (None, None) without normalize."""
        hp = self.hparams
        if not hp.normalize:
            return None, None
        if hp.mean is not None:
            return tuple(hp.mean), tuple(hp.std)
        return self.facts.mean, self.facts.std

    def checkpoint_facts(self) -> dict[str, Any]:
        """What a checkpoint stores (plain values: it loads with weights_only=True) so that
        predict and export use the model without this DataModule: classes, stored image shape
        and channels, the input side, and the normalisation."""
        f, (mean, std) = self.facts, self.statistics()
        return {"datamodule": f"{type(self).__module__}.{type(self).__qualname__}",
                "classes": list(f.classes), "image_shape": list(f.image_shape),
                "channels": f.channels, "image_size": self.hparams.image_size,
                "mean": list(mean) if mean else None, "std": list(std) if std else None,
                "pictures": self.PICTURES}  # fmt: skip

    def split_sizes(self) -> dict[str, int]:
        """Images in each split, as the facts predict them."""
        n, hp = self.facts.train_images, self.hparams
        val = held_out(hp.val_size, n, hp.folds, hp.fold)
        train = min(hp.train_subset or n, n - val)
        return {"train": train, "val": val or self.facts.test_images,
                "test": self.facts.test_images}  # fmt: skip

    def _check_sizes(self, n: int) -> None:
        hp = self.hparams
        check_sizes(n, hp.val_size, hp.train_subset, hp.folds, hp.fold)

    # --- splits ---------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        fitting = stage in (None, "fit", "validate")
        if fitting and self.train_set is None:
            train = self.load("train")
            self._check_sizes(len(train))  # unreadable files may have been skipped
            hp = self.hparams
            val_idx, train_idx = split_indices(len(train), hp.val_size, hp.folds, hp.fold,
                                               hp.split_seed)  # fmt: skip
            if hp.train_subset is not None:
                train_idx = train_idx[: hp.train_subset]
            self.train_set = self._part(train, train_idx)
            self.val_set = self._part(train, val_idx) if len(val_idx) else None
        testing = stage is None or not fitting or self.val_set is None  # None: every split
        if testing and self.test_set is None:
            self.test_set = self._part(self.load("test"))
        if fitting and self.val_set is None:  # val_size=0: validate on the test set
            self.val_set = self.test_set

    def _part(self, ds: Dataset, idx: torch.Tensor | None = None) -> Dataset:
        """The images at `idx` (all: None); in-memory ones on the device they will be used on."""
        if isinstance(ds, TensorDataset):
            tensors = ds.tensors if idx is None else [t[idx] for t in ds.tensors]
            return TensorDataset(*(t.to(self._device()) for t in tensors))
        return ds if idx is None else Subset(ds, idx.tolist())

    def _device(self) -> torch.device:
        """Where in-memory tensors live: the training device when device_resident and attached
        to a Trainer (its strategy knows the device, per rank, before setup), else the CPU."""
        if self.hparams.device_resident and self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cpu")

    def test_images(self, n: int) -> torch.Tensor:
        """The first n test images (uint8, CPU): what export verifies its files on."""
        self.setup("test")
        if isinstance(self.test_set, TensorDataset):
            return self.test_set.tensors[0][:n].cpu().contiguous()
        return torch.stack([self.test_set[i][0] for i in range(min(n, len(self.test_set)))])

    # --- loaders --------------------------------------------------------------------------------
    def train_dataloader(self) -> DeviceBatches | DataLoader:
        # drop_last: static batch shapes (no recompiles, no tiny final batch for BatchNorm)
        return self._loader(self.train_set, self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DeviceBatches | DataLoader:
        return self._loader(self.val_set, self._eval_batch_size())

    def test_dataloader(self) -> DeviceBatches | DataLoader:
        return self._loader(self.test_set, self._eval_batch_size())

    def _eval_batch_size(self) -> int:
        return self.hparams.eval_batch_size or 2 * self.hparams.batch_size

    def _loader(
        self, ds: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False
    ) -> DeviceBatches | DataLoader:
        hp = self.hparams
        # batch_size is global: under DDP each rank takes its share.
        trainer = self.trainer
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        batch_size = min(per_rank_batch_size(batch_size, world_size), len(ds))
        if hp.device_resident and isinstance(ds, TensorDataset):
            # each rank draws its own disjoint share (as DistributedSampler)
            sampler = BatchIndexSampler(len(ds), batch_size, shuffle, drop_last, hp.seed, rank,
                                        world_size, ds.tensors[0].device)  # fmt: skip
            return DeviceBatches(ds, sampler)
        # The classic path (and files streamed from disk): Lightning adds a DistributedSampler.
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
        )

    # --- model input ----------------------------------------------------------------------------
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # images alone: the model summary's example input
            return self.transform(batch)
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        x = self.transform(images, training)
        hp = self.hparams
        if training and (hp.mixup or hp.cutmix):  # labels become (B, C)
            x, labels = T.mix(x, labels, self.facts.num_classes, hp.mixup, hp.cutmix)
        return x, labels

    def transform(self, images: torch.Tensor, training: bool = False) -> torch.Tensor:
        """uint8 (B, H, W) or (B, C, H, W) -> float (B, C, S, S); augmentation only when
        `training`."""
        hp = self.hparams
        x = images.unsqueeze(1) if images.ndim == 3 else images
        if training and hp.crop_padding:
            x = T.random_crop(x, hp.crop_padding)
        if training and hp.hflip:
            x = T.random_hflip(x, hp.hflip)
        x = T.to_model_input(x, hp.image_size, *self.statistics())
        if training and hp.erase:
            x = T.random_erase(x, hp.erase)
        return x
