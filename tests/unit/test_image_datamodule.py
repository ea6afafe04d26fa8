"""image_datamodule.py: a new dataset is a subclass with `describe()` and `load()`; the base
gives it checked splits, loaders (in memory or streamed), and the channel-agnostic transform."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from fashion_resnet.data.batches import DeviceBatches
from fashion_resnet.data.facts import DataFacts
from fashion_resnet.data.image_datamodule import ImageDataModule
from fashion_resnet.errors import ConfigError

MEAN, STD = (0.1, 0.5, 0.9), (0.2, 0.25, 0.5)


class Tiles(ImageDataModule):
    """A dataset in a dozen lines: 60 training and 12 test 8x8 colour tiles of 3 classes, image
    i of class i % 3 filled with 10 * i + c in channel c."""

    def __init__(self, stream: bool = False, val_size: int | float = 12, **kwargs) -> None:
        super().__init__(val_size=val_size, **kwargs)
        self.loaded: list[str] = []

    def describe(self) -> DataFacts:
        return DataFacts(("a", "b", "c"), (3, 8, 8), MEAN, STD, 60, 12)

    def load(self, split: str) -> Dataset:
        self.loaded.append(split)
        n = 60 if split == "train" else 12
        x = (torch.arange(n).view(n, 1, 1, 1) * 10 + torch.arange(3).view(1, 3, 1, 1)) % 256
        data = TensorDataset(x.expand(n, 3, 8, 8).to(torch.uint8).clone(), torch.arange(n) % 3)
        return Streamed(data) if self.hparams.stream else data


class Streamed(Dataset):
    """The same images one (image, label) pair at a time, as files read from disk would be."""

    def __init__(self, data: TensorDataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        x, y = self.data[i]
        return x, int(y)


def test_sizes_are_checked_against_the_facts_before_any_data_is_loaded():
    m = Tiles(val_size=60)
    with pytest.raises(ConfigError, match=r"data.val_size=60: expected an integer in \[0, 59\]"):
        _ = m.facts
    assert m.loaded == []
    assert Tiles(val_size=0.25, train_subset=20).split_sizes() == {"train": 20, "val": 15,
                                                                   "test": 12}  # fmt: skip


def test_setup_loads_only_the_splits_a_stage_needs():
    m = Tiles(val_size=0.2)
    m.setup("fit")
    assert m.loaded == ["train"] and (len(m.train_set), len(m.val_set)) == (48, 12)
    m.setup("test")
    m.setup("fit")  # again: nothing more
    assert m.loaded == ["train", "test"] and len(m.test_set) == 12
    on_test = Tiles(val_size=0)
    on_test.setup("fit")
    assert on_test.loaded == ["train", "test"] and on_test.val_set is on_test.test_set


def test_checkpoint_facts_are_plain_values_naming_the_class(tmp_path):
    facts = Tiles(normalize=True).checkpoint_facts()
    torch.save({"data": facts}, tmp_path / "f.pt")
    assert torch.load(tmp_path / "f.pt", weights_only=True)["data"] == facts
    assert facts["datamodule"].endswith("test_image_datamodule.Tiles")
    assert facts["classes"] == ["a", "b", "c"] and facts["image_shape"] == [3, 8, 8]
    assert facts["mean"] == list(MEAN) and facts["std"] == list(STD)
    assert Tiles().checkpoint_facts()["mean"] is None  # not normalised: no statistics used


def test_normalisation_is_per_channel_and_given_statistics_win():
    x = torch.full((2, 3, 8, 8), 51, dtype=torch.uint8)  # 0.2 in every channel
    out = Tiles(image_size=8, normalize=True).transform(x)
    for c in range(3):
        assert torch.allclose(out[:, c], torch.full((2, 8, 8), (0.2 - MEAN[c]) / STD[c]))
    given = Tiles(image_size=8, normalize=True, mean=[0.2], std=[1.0]).transform(x)
    assert torch.allclose(given, torch.zeros_like(given), atol=1e-6)
    with pytest.raises(ConfigError, match="data.mean and data.std go together"):
        Tiles(mean=[0.1])


def test_augmentation_moves_each_sample_and_all_its_channels_alike():
    m = Tiles(image_size=8, crop_padding=2, hflip=0.5)
    one = torch.arange(1, 65, dtype=torch.uint8).view(1, 1, 8, 8)  # no 0: only padding is
    x = torch.cat([one, one + 50, one + 100], dim=1).repeat(200, 1, 1, 1)  # channel c: +50c
    torch.manual_seed(0)
    out = (m.transform(x, training=True) * 255).round()
    assert len({o.numpy().tobytes() for o in out}) > 20  # per sample, not one draw a batch
    padded = out[:, 0] == 0  # zero padding is zero in every channel
    for c in (1, 2):
        assert torch.equal(out[:, c][padded], torch.zeros_like(out[:, c][padded]))
        assert torch.equal(
            (out[:, c] - out[:, 0])[~padded], torch.full_like(out[:, 0][~padded], 50 * c)
        )


@pytest.mark.parametrize("stream", [False, True])
def test_in_memory_data_is_gathered_and_other_datasets_stream(stream):
    m = Tiles(stream=stream, batch_size=8, val_size=12, image_size=16)
    m.setup("fit")
    loader = m.train_dataloader()
    assert isinstance(loader, DataLoader if stream else DeviceBatches)
    images, labels = next(iter(loader))
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 8, 8)
    assert m.transform(images).shape == (8, 3, 16, 16) and len(loader) == 48 // 8


def test_mixing_has_as_many_classes_as_the_facts():
    m = Tiles(image_size=8, mixup=0.2)
    m.trainer = type("T", (), {"training": True, "world_size": 1})()
    x, targets = m.on_after_batch_transfer((torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
                                            torch.tensor([0, 1, 2, 0])), 0)  # fmt: skip
    assert x.shape == (4, 3, 8, 8) and targets.shape == (4, 3)
