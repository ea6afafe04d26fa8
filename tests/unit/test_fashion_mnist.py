import gzip
import shutil

import pytest
import torch
import torch.nn.functional as F
from conftest import PROJECT_DATA, REAL_DATA, has_raw_files, make_images, write_fake_fashion_mnist

from fashion_resnet.data import transforms as T
from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.data.idx_files import (
    MD5,
    SYSTEM_DIR,
    DataNotFoundError,
    find_raw_files,
    parse_idx,
    read_idx_bytes,
)


def fake_md5(folder):
    import hashlib

    return {n: hashlib.md5(read_idx_bytes(folder / f"{n}.gz")).hexdigest() for n in MD5}


def test_idx_roundtrip(tmp_path):
    folder = write_fake_fashion_mnist(tmp_path / "raw", n_train=20, n_test=10)
    images = parse_idx(read_idx_bytes(folder / "train-images-idx3-ubyte.gz"))
    labels = parse_idx(read_idx_bytes(folder / "train-labels-idx1-ubyte.gz"))
    assert images.shape == (20, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [i % 10 for i in range(20)]
    assert torch.equal(images, make_images(labels, seed=0))


def test_truncated_idx_is_rejected(tmp_path):
    folder = write_fake_fashion_mnist(tmp_path / "raw", n_train=20, n_test=10)
    data = read_idx_bytes(folder / "train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match=r"shape \[20, 28, 28\] but the file holds"):
        parse_idx(data[:-100])


def test_resolution_order_prefers_data_dir_then_system(tmp_path):
    local = write_fake_fashion_mnist(tmp_path / "d" / "FashionMNIST" / "raw", 20, 10)
    system = write_fake_fashion_mnist(tmp_path / "sys", 30, 10)
    md5 = {**fake_md5(local)}
    files = find_raw_files(tmp_path / "d", system, download=False, md5=md5)
    assert all(p.parent == local for p in files.values())
    # Without a local copy the (verified) system copy is used.
    shutil.rmtree(local)
    files = find_raw_files(tmp_path / "d", system, download=False, md5=None)
    assert all(p.parent == system for p in files.values())


def test_checksum_error_names_file_and_expected_md5(tmp_path):
    local = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw", 20, 10)
    with pytest.raises(DataNotFoundError) as err:
        find_raw_files(tmp_path, system_dir=None, download=False)
    msg = str(err.value)
    assert f"{local}/train-images-idx3-ubyte.gz has MD5" in msg
    assert f"expected {MD5['train-images-idx3-ubyte']}" in msg
    assert "download: disabled" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_missing_everywhere_lists_every_place(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        find_raw_files(tmp_path / "nothing", tmp_path / "nosys", download=False)
    msg = str(err.value)
    assert str(tmp_path / "nothing" / "FashionMNIST" / "raw") in msg
    assert str(tmp_path / "nosys") in msg


def test_plain_and_gz_files_are_both_accepted(tmp_path):
    folder = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw", 20, 10)
    gz = folder / "t10k-labels-idx1-ubyte.gz"
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    files = find_raw_files(tmp_path, None, download=False, md5=None)
    assert files["t10k-labels-idx1-ubyte"].suffix == ""


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
        ({"batch_size": 0}, "data.batch_size must be >= 1, got 0"),
        ({"hflip": 1.5}, r"data.hflip is a probability in \[0, 1\], got 1.5"),
        ({"image_size": 4}, "data.image_size must be >= 8, got 4"),
    ],
)
def test_bad_values_are_rejected_at_construction(fake_data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm(fake_data_dir, **kwargs)


def test_val_size_must_leave_training_images(fake_data_dir):
    with pytest.raises(ValueError, match="data.val_size=512 must be below the 512 training"):
        dm(fake_data_dir, val_size=512).setup()


def test_loaders_hand_out_uint8_and_transform_makes_model_input(fake_data_dir):
    m = dm(fake_data_dir, val_size=100, batch_size=32, image_size=64, normalize=True)
    m.setup()
    images, labels = next(iter(m.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (32, 28, 28)
    x = m.transform(images)
    assert x.shape == (32, 1, 64, 64) and x.dtype == torch.float32
    raw = T.to_model_input(images, 64, normalize=False)
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    assert torch.allclose(x, (raw - T.MEAN) / T.STD)
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


def test_hflip_flips_about_half_of_the_batch():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(1000, 1, 1, 1)
    torch.manual_seed(0)
    out = T.random_hflip(x, 0.5)
    flipped = (out[:, 0, 0, 0] == 3).float().mean().item()
    assert 0.4 < flipped < 0.6
    assert torch.equal(T.random_hflip(x, 1.0), x.flip(-1))


def test_random_crop_is_a_shift_of_at_most_padding_px():
    """Each output is its input shifted by (sy, sx), |sy|, |sx| <= padding, zero-filled; the
    shifts vary over the batch (an identity, a transpose or a larger shift fails)."""
    p, h, w = 2, 5, 7  # not square: a transpose cannot pass
    x = torch.arange(1.0, h * w + 1).view(1, 1, h, w).repeat(300, 1, 1, 1)
    torch.manual_seed(0)
    out = T.random_crop(x, p)
    assert out.shape == x.shape
    padded = F.pad(x[0], (p,) * 4)
    shifted = {
        (sy, sx): padded[:, p + sy : p + sy + h, p + sx : p + sx + w]
        for sy in range(-p, p + 1)
        for sx in range(-p, p + 1)
    }
    seen = set()
    for o in out:
        match = [s for s, ref in shifted.items() if torch.equal(o, ref)]
        assert match, f"not a shift of at most {p} px:\n{o}"
        seen.add(match[0])
    assert len(seen) == (2 * p + 1) ** 2  # 300 draws reach all 25 shifts


def test_random_erase_area_within_scale():
    x = torch.ones(500, 1, 40, 40)
    out = T.random_erase(x, p=1.0, scale=(0.1, 0.2))
    frac = (out == 0).float().mean(dim=(1, 2, 3))
    assert (frac > 0.05).all() and (frac < 0.3).all()


def _pil_reference(images, size):
    from PIL import Image
    from torchvision import transforms as tvt

    pipeline = tvt.Compose([tvt.Resize(size), tvt.ToTensor()])
    return torch.stack([pipeline(Image.fromarray(i.numpy())) for i in images])


def test_batched_resize_matches_pil_pipeline_on_generated_images():
    images = make_images(torch.arange(200) % 10, seed=3)
    for size in (32, 96):
        diff = (T.to_model_input(images, size, False) - _pil_reference(images, size)).abs()
        assert diff.mean() < 1e-3


NO_REAL_DATA = f"real FashionMNIST neither in {PROJECT_DATA}/FashionMNIST/raw nor in {SYSTEM_DIR}"


def test_real_data_tests_look_in_the_project_data_folder_too(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw")
    assert has_raw_files(raw)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    assert not has_raw_files(raw)


@pytest.mark.skipif(not REAL_DATA, reason=NO_REAL_DATA)
def test_batched_resize_matches_pil_pipeline_on_real_images():
    files = find_raw_files(PROJECT_DATA, SYSTEM_DIR, download=False)
    images = parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:1000]
    diff = (T.to_model_input(images, 96, False) - _pil_reference(images, 96)).abs()
    assert diff.mean() < 1e-3


@pytest.mark.skipif(not REAL_DATA, reason=NO_REAL_DATA)
def test_real_data_verifies_and_normalisation_constants_match():
    m = FashionMNISTDataModule(data_dir=str(PROJECT_DATA), download=False)
    m.prepare_data()
    m.setup()
    assert len(m.train_set) == 55000 and len(m.val_set) == 5000 and len(m.test_set) == 10000
    train = torch.cat([m.train_set.tensors[0], m.val_set.tensors[0]]).float() / 255
    assert abs(train.mean().item() - T.MEAN) < 1e-3
    assert abs(train.std().item() - T.STD) < 1e-3


def two_tone_batch(b: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is constant i+1 (so a pixel says whose it is); labels alternate 0, 1."""
    x = torch.arange(1.0, b + 1).view(b, 1, 1, 1).expand(b, 1, 8, 8).clone()
    return x, torch.arange(b) % 2


def test_mixup_blends_each_image_with_its_own_weight():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, t = T.mix(x, y, num_classes=10, mixup=0.4)
    partner = x.roll(1, dims=0)
    lam = t[:, :2].max(dim=1).values  # y and its partner's label differ: lam or 1 - lam
    lam = torch.where(t[torch.arange(len(y)), y] == lam, lam, 1 - lam)
    assert torch.allclose(out, lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * partner)
    assert torch.allclose(t.sum(dim=1), torch.ones(len(y)))
    assert len(lam.unique()) > 300  # drawn per sample, not one weight for the batch
    assert 0.4 < (lam > 0.5).float().mean() < 0.6  # Beta(a, a) is symmetric


def test_cutmix_label_weight_is_the_area_kept():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, t = T.mix(x, y, num_classes=10, cutmix=1.0)
    kept = (out == x).flatten(1).float().mean(dim=1)  # the rest is the partner's box
    assert torch.allclose(t[torch.arange(len(y)), y], kept)
    assert ((out == x) | (out == x.roll(1, dims=0))).all()  # pasted, not blended
    assert len(kept.unique()) > 20


def test_mixup_and_cutmix_together_pick_one_per_sample():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, _ = T.mix(x, y, num_classes=10, mixup=1.0, cutmix=1.0)
    pasted = ((out == x) | (out == x.roll(1, dims=0))).flatten(1).all(dim=1)
    assert 0.35 < pasted.float().mean() < 0.65


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
    [({"folds": 1}, "data.folds must be 0 .* or >= 2, got 1"),
     ({"folds": 3, "fold": 3}, r"data.fold=3 must be in 0..2"),
     ({"mixup": -1.0}, "data.mixup is a Beta concentration")],
)  # fmt: skip
def test_bad_fold_and_mix_values(fake_data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm(fake_data_dir, **kwargs)
