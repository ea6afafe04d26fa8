"""data/idx_files.py: the four raw IDX files: read, found in order, MD5-checked, named when bad."""

import gzip
import hashlib

import pytest
from conftest import write_fake_fashion_mnist

from fashion_resnet.data.idx_files import MD5, DataNotFoundError, find_raw_files, read_idx_bytes


def test_truncated_and_altered_dataset_files_are_named(tmp_path):
    raw = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw", 20, 10)
    md5 = {n: hashlib.md5(read_idx_bytes(raw / f"{n}.gz")).hexdigest() for n in MD5}
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
