"""data/fashion_mnist.py: the DataModule: seeded splits and folds, uint8 loaders, the batched
transform for training batches only, the real files' sizes and statistics."""

import pytest
import torch
from conftest import (
    NO_REAL_DATA,
    PROJECT_DATA,
    REAL_DATA,
    has_raw_files,
    make_images,
    write_fake_fashion_mnist,
)

from fashion_resnet.data import transforms as T
from fashion_resnet.data.fashion_mnist import FACTS, FashionMNISTDataModule


def dm(data_dir, **kw):
    args = dict(data_dir=str(data_dir), system_dir=None, download=False, verify=False)
    return FashionMNISTDataModule(**{**args, **kw})


def test_split_is_seeded_and_disjoint(fake_data_dir):
    a, b, c = (
        dm(fake_data_dir, val_size=100),
        dm(fake_data_dir, val_size=100),
        dm(fake_data_dir, val_size=100, split_seed=1),
    )
    for m in (a, b, c):
        m.setup()
    assert len(a.train_set) == 412 and len(a.val_set) == 100 and len(a.test_set) == 128
    assert torch.equal(a.val_set.tensors[0], b.val_set.tensors[0])
    assert not torch.equal(a.val_set.tensors[0], c.val_set.tensors[0])
    train_rows = {t.numpy().tobytes() for t in a.train_set.tensors[0]}
    assert not any(v.numpy().tobytes() in train_rows for v in a.val_set.tensors[0])


def test_val_size_zero_validates_on_test_set_and_subset(fake_data_dir):
    m = dm(fake_data_dir, val_size=0, train_subset=50)
    m.setup()
    assert m.val_set is m.test_set and len(m.train_set) == 50


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "data.batch_size=0: expected an integer >= 1"),
        ({"hflip": 1.5}, r"data.hflip=1.5: expected a number in \[0, 1\] \(a probability\)"),
        ({"image_size": 4}, "data.image_size=4: expected an integer >= 8"),
    ],
)
def test_bad_values_are_rejected_at_construction(fake_data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm(fake_data_dir, **kwargs)


def test_val_size_must_leave_training_images(fake_data_dir):
    with pytest.raises(ValueError, match=r"data.val_size=512: expected an integer in \[0, 511\]"):
        dm(fake_data_dir, val_size=512).setup()


def test_loaders_hand_out_uint8_and_transform_makes_model_input(fake_data_dir):
    m = dm(fake_data_dir, val_size=100, batch_size=32, image_size=64, normalize=True)
    m.setup()
    images, labels = next(iter(m.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (32, 28, 28)
    x = m.transform(images)
    assert x.shape == (32, 1, 64, 64) and x.dtype == torch.float32
    raw = T.to_model_input(images, 64)
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    assert torch.allclose(x, (raw - FACTS.mean[0]) / FACTS.std[0])
    assert len(m.train_dataloader()) == 412 // 32  # drop_last: static shapes


def test_augmentation_is_per_sample_and_training_only(fake_data_dir):
    m = dm(fake_data_dir, image_size=28, crop_padding=3, hflip=0.5, erase=0.5)
    images = make_images(torch.zeros(256, dtype=torch.long), seed=0)
    images[:] = images[0]  # 256 copies of one image
    torch.manual_seed(0)
    out = m.transform(images, training=True)
    distinct = {o.numpy().tobytes() for o in out}
    assert len(distinct) > 100  # each copy got its own crop/flip/erase
    assert torch.equal(m.transform(images), m.transform(images))  # eval: deterministic


def test_real_data_tests_look_in_the_project_data_folder_too(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw")
    assert has_raw_files(raw)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    assert not has_raw_files(raw)


@pytest.mark.skipif(not REAL_DATA, reason=NO_REAL_DATA)
def test_real_data_verifies_and_normalisation_constants_match():
    m = FashionMNISTDataModule(data_dir=str(PROJECT_DATA), download=False)
    m.prepare_data()
    m.setup()
    assert len(m.train_set) == 55000 and len(m.val_set) == 5000 and len(m.test_set) == 10000
    train = torch.cat([m.train_set.tensors[0], m.val_set.tensors[0]]).float() / 255
    assert abs(train.mean().item() - FACTS.mean[0]) < 1e-3
    assert abs(train.std().item() - FACTS.std[0]) < 1e-3


def test_mixing_applies_to_training_batches_only(fake_data_dir):
    m = dm(fake_data_dir, image_size=28, mixup=0.2, cutmix=1.0)
    m.trainer = type("T", (), {"training": True, "world_size": 1})()
    images, labels = torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8)
    x, t = m.on_after_batch_transfer((images, labels), 0)
    assert x.shape == (8, 1, 28, 28) and t.shape == (8, 10)
    m.trainer.training = False
    assert torch.equal(m.on_after_batch_transfer((images, labels), 0)[1], labels)


def test_k_folds_partition_the_training_set(fake_data_dir):
    vals, trains = [], []
    for fold in range(4):
        m = dm(fake_data_dir, folds=4, fold=fold, split_seed=3)
        m.setup()
        vals.append(m.val_set.tensors[0]), trains.append(m.train_set.tensors[0])
        assert len(m.val_set) + len(m.train_set) == 512 and len(m.val_set) == 128
    key = lambda t: {r.numpy().tobytes() for r in t}  # noqa: E731 - images as hashable rows
    for fold in range(4):
        assert not key(vals[fold]) & key(trains[fold])
    assert sum(len(key(v)) for v in vals) == len(key(torch.cat(vals))) == 512  # once each
    assert len(key(torch.cat(vals))) == len(key(torch.cat([vals[0], trains[0]])))
    again = dm(fake_data_dir, folds=4, fold=2, split_seed=3)
    again.setup()
    assert torch.equal(again.val_set.tensors[0], vals[2])  # seeded


@pytest.mark.parametrize(
    "kwargs,match",
    [({"folds": 1}, "data.folds=1: expected 0 .* or an integer >= 2"),
     ({"folds": 3, "fold": 3}, r"data.fold=3: expected an integer in \[0, 2\]"),
     ({"mixup": -1.0}, r"data.mixup=-1.0: expected a number >= 0 \(a Beta concentration")],
)  # fmt: skip
def test_bad_fold_and_mix_values(fake_data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm(fake_data_dir, **kwargs)
