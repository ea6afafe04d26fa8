"""Shared fixtures: small generated data in the exact FashionMNIST IDX format, and Hydra
composition outside @hydra.main."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import read_write

from fashion_resnet.data import MD5, SYSTEM_DIR

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
REAL_DATA = all((Path(SYSTEM_DIR) / f"{n}.gz").is_file() for n in MD5)


def idx_bytes(t: torch.Tensor) -> bytes:
    header = bytes([0, 0, 8, t.ndim]) + b"".join(d.to_bytes(4, "big") for d in t.shape)
    return header + t.contiguous().numpy().tobytes()


def make_images(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Learnable fake images: class k is a bright horizontal band at row 2 + 2k, plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 60, (len(labels), 28, 28), generator=g, dtype=torch.uint8)
    for i, k in enumerate(labels.tolist()):
        x[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 230
    return x


def write_fake_fashion_mnist(folder: Path, n_train: int = 512, n_test: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in [("train", n_train, 0), ("t10k", n_test, 1)]:
        labels = torch.arange(n, dtype=torch.uint8) % 10
        images = make_images(labels, seed)
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory) -> Path:
    """A data_dir whose FashionMNIST/raw holds generated files (MD5 check must be off)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_fashion_mnist(root / "FashionMNIST" / "raw")
    return root


# Overrides that make any train config a seconds-long CPU run on the generated data.
def tiny_overrides(data_dir: Path, out_dir: Path) -> list[str]:
    return [
        f"data.data_dir={data_dir}",
        "+data.verify=false",
        "+data.system_dir=null",
        "data.download=false",
        "data.val_size=64",
        "data.batch_size=32",
        "data.image_size=28",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=2",
        "callbacks.progress_bar=null",
        f"paths.log_dir={out_dir}",
        f"hydra.run.dir={out_dir}/run",
    ]


@pytest.fixture
def compose_cfg(tmp_path):
    """compose(config_name, overrides) -> cfg, with ${hydra:...} resolvable as in a real run."""

    def _compose(config_name: str = "train", overrides: list[str] = ()):
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        with read_write(cfg.hydra.runtime):
            cfg.hydra.runtime.output_dir = str(tmp_path / "out")
        HydraConfig().set_config(cfg)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()
