"""data/idx_files.py: the four raw IDX files: read, found in order, MD5-checked, named when bad."""

import gzip
import hashlib
import shutil

import pytest
import torch
from conftest import make_images, write_fake_fashion_mnist

from fashion_resnet.data.idx_files import (
    MD5,
    DataNotFoundError,
    find_raw_files,
    parse_idx,
    read_idx_bytes,
)


def fake_md5(folder):
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


def test_truncated_and_altered_dataset_files_are_named(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw", 20, 10)
    md5 = fake_md5(raw)
    gz = raw / "t10k-images-idx3-ubyte.gz"
    good = gz.read_bytes()
    gz.write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(DataNotFoundError, match=f"{gz} is unreadable"):
        find_raw_files(tmp_path, system_dir=None, download=False, md5=md5)
    altered = bytearray(gzip.decompress(good))
    altered[-1] ^= 0xFF  # one pixel
    gz.write_bytes(gzip.compress(bytes(altered)))
    with pytest.raises(DataNotFoundError, match=f"{gz} has MD5 .*, expected {md5[gz.name[:-3]]}"):
        find_raw_files(tmp_path, system_dir=None, download=False, md5=md5)
