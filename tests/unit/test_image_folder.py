"""image_folder.py: class folders (or train/ and test/) become a DataModule whose facts come
from the folders, in memory or streamed, grey or colour, at the size asked for."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import write_picture_folder
from torch.utils.data import Subset, TensorDataset

from fashion_resnet.data.image_folder import ImageFolderDataModule
from fashion_resnet.errors import ConfigError


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return write_picture_folder(tmp_path_factory.mktemp("if") / "pics", per_class=10,
                                classes=("apple", "pear", "plum"))  # fmt: skip


def folder(root, **kw) -> ImageFolderDataModule:
    return ImageFolderDataModule(root=str(root), **{"image_size": 12, "batch_size": 4, **kw})


def test_facts_come_from_the_folders(pictures):
    facts = folder(pictures).facts
    assert facts.classes == ("apple", "pear", "plum") and facts.image_shape == (3, 12, 12)
    assert (facts.train_images, facts.test_images) == (24, 6)  # 20% of each class tests
    assert facts.mean is None  # measured only for normalize=true


def test_every_class_is_tested_and_the_split_is_seeded(pictures):
    classes, files = folder(pictures).listing()
    test = files["test"]
    assert sorted(label for _, label in test) == [0, 0, 1, 1, 2, 2]
    assert not {p for p, _ in test} & {p for p, _ in files["train"]}
    assert folder(pictures).listing()[1]["test"] == test
    assert folder(pictures, split_seed=1).listing()[1]["test"] != test


def test_a_given_split_is_used_as_it_is(pictures, tmp_path):
    for split in ("train", "test"):
        shutil.copytree(pictures, tmp_path / "given" / split)
    facts = folder(tmp_path / "given").facts
    assert (facts.train_images, facts.test_images) == (30, 30)
    shutil.rmtree(tmp_path / "given" / "test" / "plum")
    with pytest.raises(ConfigError, match=r"train/ and test/ hold different classes .*plum"):
        _ = folder(tmp_path / "given").facts


def test_grey_pictures_have_one_channel(pictures):
    m = folder(pictures, channels=1, val_size=0.25)
    m.setup("fit")
    assert m.train_set.tensors[0].shape == (18, 1, 12, 12)
    with pytest.raises(ConfigError, match=r"data.channels=2: expected 1 \(grey\) or 3 \(colour\)"):
        folder(pictures, channels=2)


def test_above_the_memory_limit_the_same_pictures_stream(pictures):
    held = folder(pictures, val_size=4)
    streamed = folder(pictures, val_size=4, memory_limit_mb=0)
    assert held.in_memory() and not streamed.in_memory()
    for m in (held, streamed):
        m.setup("fit")
    assert isinstance(held.train_set, TensorDataset) and isinstance(streamed.train_set, Subset)
    for i in (0, 7, 19):
        assert torch.equal(held.train_set[i][0], streamed.train_set[i][0])
        assert int(held.train_set[i][1]) == streamed.train_set[i][1]


def test_normalisation_statistics_are_measured_on_the_training_pictures(pictures):
    m = folder(pictures, normalize=True, val_size=0)
    m.setup("fit")
    x = m.train_set.tensors[0].float().div(255).transpose(0, 1).flatten(1)  # (C, pixels)
    assert torch.allclose(torch.tensor(m.facts.mean), x.mean(1), atol=1e-5)
    assert torch.allclose(torch.tensor(m.facts.std), x.std(1), atol=1e-5)


def test_a_class_without_a_readable_training_picture_is_an_error(tmp_path):
    root = write_picture_folder(tmp_path / "pics", per_class=3, classes=("a", "b"))
    for f in (root / "b").iterdir():
        f.write_bytes(b"broken")
    m = folder(root, val_size=0)
    with pytest.raises(ConfigError, match=r"no readable picture of class\(es\) b in the train"):
        m.setup("fit")


@pytest.mark.parametrize(
    "kwargs,match",
    [({"test_size": 1.0}, r"data.test_size=1.0: expected a share in \(0, 1\)"),
     ({"memory_limit_mb": -1}, r"data.memory_limit_mb=-1: expected an integer >= 0")],
)  # fmt: skip
def test_bad_values_are_named(pictures, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        folder(pictures, **kwargs)
