"""Shared fixtures and constants: small generated data in the exact FashionMNIST IDX format,
Hydra composition the way the entry points compose, and the small network the tests build."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, read_write

from fashion_resnet import CONF_DIR, extras
from fashion_resnet.config import hydra_job
from fashion_resnet.data.idx_files import MD5, SYSTEM_DIR

# The checkout (README, .gitignore, scripts/); the configs are inside the package (CONF_DIR).
ROOT = Path(__file__).resolve().parents[1]
# Where the DataModule looks first (data.data_dir's default, from the repo root); the system copy
# comes next. Real-data tests pass PROJECT_DATA as data_dir and find either.
PROJECT_DATA = ROOT / "data"


def has_raw_files(folder: Path) -> bool:
    """All four IDX files in `folder`, plain or .gz (the MD5 check is the tests' own)."""
    return all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in MD5)


REAL_DATA = has_raw_files(PROJECT_DATA / "FashionMNIST" / "raw") or has_raw_files(Path(SYSTEM_DIR))
NO_REAL_DATA = f"real FashionMNIST neither in {PROJECT_DATA}/FashionMNIST/raw nor in {SYSTEM_DIR}"
# The backbone the model tests build: resnet18 with its cheapest stem (~0.07 GFLOP/image at 28 px).
NET = {"arch": "resnet18", "stem": "imagenet"}
# The same, spelled out as a checkpoint stores it (every argument of nets.resnet).
FULL_NET = {**NET, "residual": True, "in_channels": 1, "num_classes": 10}


def needs_extra(extra: str, *modules: str) -> pytest.MarkDecorator:
    """Skip unless every one of `modules` is installed, naming the extra that installs them.
    (Import such a module inside the test: a module-level import would stop the collection.)"""
    return pytest.mark.skipif(
        not all(extras.installed(m) for m in modules), reason=extras.message("this test", extra)
    )


# Config options whose packages are extras: (group, option) -> [(extra, module), ...].
OPTION_EXTRAS = {
    ("logger", "mlflow"): [("mlflow", "mlflow")],
    ("logger", "wandb"): [("wandb", "wandb")],
    ("logger", "many"): [("mlflow", "mlflow"), ("wandb", "wandb")],
    ("hparams_search", "optuna"): [("optuna", extras.OPTUNA)],
    ("model", "timm"): [("timm", "timm")],
}


def option_param(group: str, option: str) -> pytest.ParameterSet:
    """(group, option) as a test parameter, skipped where the option's extra is missing."""
    marks = [needs_extra(*needed) for needed in OPTION_EXTRAS.get((group, option), [])]
    return pytest.param(group, option, marks=marks, id=f"{group}-{option}")


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


def half_write_then_fail(f, *args, **kwargs):
    """A write that stops half way as on a full disk (monkeypatched over torch.save, json.dump)."""
    f.write(b"partial" if "b" in getattr(f, "mode", "") else "partial")
    raise OSError(28, "No space left on device")


def write_picture_folder(
    root: Path, per_class: int = 20, classes: tuple[str, ...] = ("cats", "dogs"), side: int = 20
) -> Path:
    """root/<class>/*.png|jpg: learnable coloured pictures of varying sizes, both formats.
    Class k is a red (k=0), blue (k=1) or green (k=2) square on noise; sizes and aspect ratios
    vary so that reading must resize and crop."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = side + i % 5, side + 2 * (i % 3)
            x = torch.randint(0, 80, (h, w, 3), generator=g, dtype=torch.uint8)
            x[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4, k % 3] = 230
            suffix = "png" if i % 2 else "jpg"
            Image.fromarray(x.numpy()).save(root / name / f"{i:03d}.{suffix}")
    return root


def pytest_collection_modifyitems(config, items) -> None:
    """The `gpu` tier runs where CUDA is; elsewhere each of its tests is skipped, saying why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory) -> Path:
    """A data_dir whose FashionMNIST/raw holds generated files (MD5 check must be off)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_fashion_mnist(root / "FashionMNIST" / "raw")
    return root


# Overrides that make any train config a seconds-long CPU run on the generated data. Only the
# data, its size, the epochs and batches shrink: the shipped callbacks (progress bar included)
# and loggers stay; a test that changes one says why beside it. (A progress bar switched off
# here once hid a DDP deadlock.)
def tiny_overrides(data_dir: Path, out_dir: Path) -> list[str]:
    return [
        f"data.data_dir={data_dir}",
        "+data.verify=false",  # generated files have no published MD5
        "+data.system_dir=null",
        "data.download=false",
        "data.val_size=64",
        "data.batch_size=32",
        "data.image_size=28",
        "trainer.accelerator=cpu",  # the CPU tier; tests/test_gpu.py runs the GPU's choices
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=2",
        f"paths.log_dir={out_dir}",
        f"hydra.run.dir={out_dir}/run",
    ]


def compose_config(
    config_name: str, overrides: list[str], output_dir: Path, mode: RunMode | None = None
) -> DictConfig:
    """The config an entry point would get for these overrides: resolvers registered, the Hydra
    config set, `${hydra:runtime.output_dir}` pointing at `output_dir`; `mode` as a launcher
    would set it (None: as the config says)."""
    hydra_job.register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with read_write(cfg.hydra):
        cfg.hydra.runtime.output_dir = str(output_dir)
        if mode is not None:
            cfg.hydra.mode = mode
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture
def compose_cfg(tmp_path):
    """compose(config_name, overrides) -> cfg, as compose_config, output in tmp_path/out."""

    def _compose(config_name: str = "train", overrides: list[str] = ()):
        return compose_config(config_name, list(overrides), tmp_path / "out")

    yield _compose
    GlobalHydra.instance().clear()
