"""FashionMNIST as a LightningDataModule: load the verified raw files (raw_files.py) into
memory as uint8, split off a seeded validation set, and turn batches into model input on the
training device (resize, scale, normalise, per-sample augmentation).

With `device_resident` (the default) the uint8 tensors live on the training device (55 MB on a
GPU) and each batch is one gather by an index tensor (batches.py): no per-image `__getitem__`,
no collate, no host-to-device copy per step. `device_resident=false` is the classic path
(TensorDataset + DataLoader, optional workers, pinned host-to-device copies), kept to compare."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fashion_resnet.data import transforms as T
from fashion_resnet.data.batches import BatchDraw, DeviceBatches, per_rank_batch_size
from fashion_resnet.data.idx_files import MD5, SYSTEM_DIR, find_raw_files, parse_idx, read_idx_bytes
from fashion_resnet.errors import ConfigError

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


class FashionMNISTDataModule(pl.LightningDataModule):
    def __init__(
        self,
        data_dir: str = "data",
        system_dir: str | None = SYSTEM_DIR,
        download: bool = True,
        verify: bool = True,  # check MD5s; only tests on generated files turn this off
        val_size: int = 5000,  # images held out of the train set; 0 = validate on the test set
        train_subset: int | None = None,  # use only this many training images (quick runs)
        split_seed: int = 0,  # fixes the train/val split independently of the run's seed
        folds: int = 0,  # K >= 2: K seeded folds of the training set, replacing val_size
        fold: int = 0,  # which fold (0..K-1) is the validation set
        batch_size: int = 256,
        eval_batch_size: int | None = None,  # default: 2x batch_size (no gradients to keep)
        device_resident: bool = True,  # data on the training device, one gather per batch
        seed: int = 0,  # shuffle order of epoch e: a function of (seed, e) only
        num_workers: int = 0,  # device_resident=false only: DataLoader worker processes
        pin_memory: bool = True,  # device_resident=false only
        image_size: int = 96,  # side in px the 28x28 images are resized to
        normalize: bool = False,
        crop_padding: int = 0,  # random crop after zero padding, in 28-px source pixels
        hflip: float = 0.0,  # probability of a horizontal flip
        erase: float = 0.0,  # probability of random erasing
        mixup: float = 0.0,  # MixUp's Beta(alpha, alpha) concentration per sample; 0 = off
        cutmix: float = 0.0,  # CutMix's Beta(alpha, alpha) concentration per sample; 0 = off
    ) -> None:
        super().__init__()
        for name, value, low in [
            ("batch_size", batch_size, 1), ("image_size", image_size, 8),
            ("val_size", val_size, 0), ("num_workers", num_workers, 0),
            ("crop_padding", crop_padding, 0), ("train_subset", train_subset or 1, 1),
        ]:  # fmt: skip
            if value < low:
                raise ConfigError(f"data.{name} must be >= {low}, got {value}")
        for name, p in [("hflip", hflip), ("erase", erase)]:
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"data.{name} is a probability in [0, 1], got {p}")
        for name, alpha in [("mixup", mixup), ("cutmix", cutmix)]:
            if alpha < 0:
                raise ConfigError(
                    f"data.{name} is a Beta concentration >= 0 (0 = off), got {alpha}"
                )
        if folds == 1 or folds < 0:
            raise ConfigError(f"data.folds must be 0 (no folds) or >= 2, got {folds}")
        if folds and not 0 <= fold < folds:
            raise ConfigError(f"data.fold={fold} must be in 0..{folds - 1} (data.folds={folds})")
        self.save_hyperparameters()
        self.train_set = self.val_set = self.test_set = None
        self._files: dict[str, Path] | None = None

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

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp = self.hparams
        files = self.raw_files()
        x_train, y_train, x_test, y_test = (parse_idx(read_idx_bytes(files[n])) for n in MD5)
        val_idx, train_idx = self._split(len(x_train))
        if hp.train_subset is not None:
            if hp.train_subset > len(train_idx):
                raise ConfigError(
                    f"data.train_subset={hp.train_subset} exceeds the {len(train_idx)} training "
                    "images left after the validation split"
                )
            train_idx = train_idx[: hp.train_subset]
        dev = self._device()  # 47 + 8 MB of uint8 images, a few kB of int64 labels

        def tensors(x: torch.Tensor, y: torch.Tensor) -> TensorDataset:
            return TensorDataset(x.to(dev), y.long().to(dev))

        self.train_set = tensors(x_train[train_idx], y_train[train_idx])
        self.test_set = tensors(x_test, y_test)
        has_val = len(val_idx) > 0  # else validate on the test set
        self.val_set = tensors(x_train[val_idx], y_train[val_idx]) if has_val else self.test_set

    def _split(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(validation, training) indices of the n training images: the first val_size of a
        seeded permutation, or with `folds` the fold-th of its K near-equal parts."""
        hp = self.hparams
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(hp.split_seed))
        if hp.folds:
            if hp.folds > n:
                raise ConfigError(f"data.folds={hp.folds} exceeds the {n} training images")
            parts = perm.tensor_split(hp.folds)
            return parts[hp.fold], torch.cat([p for i, p in enumerate(parts) if i != hp.fold])
        if hp.val_size >= n:
            raise ConfigError(f"data.val_size={hp.val_size} must be below the {n} training images")
        return perm[: hp.val_size], perm[hp.val_size :]

    def _device(self) -> torch.device:
        """Where the tensors live: the training device when device_resident and attached to a
        Trainer (its strategy knows the device, per rank, before setup), else the CPU."""
        if self.hparams.device_resident and self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cpu")

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
        self, ds: TensorDataset, batch_size: int, shuffle: bool = False, drop_last: bool = False
    ) -> DeviceBatches | DataLoader:
        hp = self.hparams
        # batch_size is global: under DDP each rank takes its share.
        trainer = self.trainer
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        batch_size = min(per_rank_batch_size(batch_size, world_size), len(ds))
        if hp.device_resident:  # each rank draws its own disjoint share (as DistributedSampler)
            device = ds.tensors[0].device
            draw = BatchDraw(len(ds), batch_size, shuffle, drop_last, hp.seed, rank, world_size,
                             device)  # fmt: skip
            return DeviceBatches(ds, draw)
        # The classic path: Lightning adds a DistributedSampler under DDP.
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor):  # images alone: the model summary's example input
            return self.transform(batch)
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        x = self.transform(images, training)
        if training and (self.hparams.mixup or self.hparams.cutmix):  # labels become (B, C)
            x, labels = T.mix(x, labels, len(CLASSES), self.hparams.mixup, self.hparams.cutmix)
        return x, labels

    def transform(self, images: torch.Tensor, training: bool = False) -> torch.Tensor:
        """uint8 (B, 28, 28) -> float (B, 1, S, S); augmentation only when `training`."""
        hp = self.hparams
        x = images.unsqueeze(1)
        if training and hp.crop_padding:
            x = T.random_crop(x, hp.crop_padding)
        if training and hp.hflip:
            x = T.random_hflip(x, hp.hflip)
        x = T.to_model_input(x, hp.image_size, hp.normalize)
        if training and hp.erase:
            x = T.random_erase(x, hp.erase)
        return x
