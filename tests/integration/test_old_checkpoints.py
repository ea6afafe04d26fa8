"""Run folders and checkpoints from before the data's facts were stored still resume and load.

Such a checkpoint holds the class count and channels inside `net` ({arch, stem, residual,
in_channels, num_classes}), no `num_classes`, `in_channels` or `data` beside it, and a
DataModule without `mean`/`std` arguments; it was trained on FashionMNIST. The test trains a
tiny run with today's code, rewrites its checkpoints into that layout, then resumes the run
folder through the real entry point and uses the checkpoint with eval, predict and export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import compose_config, make_images, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from fashion_resnet import export as E
from fashion_resnet.data.fashion_mnist import CLASSES
from fashion_resnet.eval import evaluate
from fashion_resnet.predict import predict
from fashion_resnet.runs import checkpoints


def to_old_layout(path) -> None:
    ckpt = torch.load(path, weights_only=True)
    hp = ckpt["hyper_parameters"]
    net = {**hp["net"], "in_channels": hp.pop("in_channels"), "num_classes": hp.pop("num_classes")}
    hp["net"] = net
    del hp["data"]
    for key in ("mean", "std"):  # DataModule arguments that did not exist
        del ckpt["datamodule_hyper_parameters"][key]
    torch.save(ckpt, path)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashion_resnet.train", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def old_run(fake_data_dir, tmp_path_factory):
    """A finished one-epoch run folder whose checkpoints are all in the old layout."""
    out = tmp_path_factory.mktemp("old")
    proc = cli(*tiny_overrides(fake_data_dir, out), "data.normalize=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = out / "run"
    for path in (run / "checkpoints").glob("*.ckpt"):
        to_old_layout(path)
    old = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert set(old["net"]) == {"arch", "stem", "residual", "in_channels", "num_classes"}
    assert "data" not in old and "num_classes" not in old
    shutil.copy(run / "checkpoints" / "last.ckpt", out / "old.ckpt")  # kept through the resume
    return run


def test_an_old_run_folder_resumes(old_run, fake_data_dir):
    proc = cli(f"ckpt_path={old_run}", "trainer.max_epochs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((old_run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["global_step"] == 6  # 3 batches an epoch
    new = torch.load(old_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert new["hyper_parameters"]["data"]["classes"] == list(CLASSES)  # today's layout again


def test_an_old_checkpoint_loads_as_fashion_mnist(old_run, fake_data_dir, tmp_path):
    ckpt = old_run.parent / "old.ckpt"
    model, data_hparams = checkpoints.load_model(ckpt)
    data = model.hparams.data
    assert data["classes"] == list(CLASSES) and data["image_shape"] == [28, 28]
    assert data["mean"] == [0.2860] and data_hparams["normalize"]
    assert model.hparams.num_classes == 10 and model.hparams.in_channels == 1

    picture = tmp_path / "item.png"
    Image.fromarray(make_images(torch.tensor([3]), seed=0)[0].numpy()).save(picture)
    rows, _ = predict(str(ckpt), str(picture))
    assert rows[0]["label"] in CLASSES

    over = [f"ckpt_path={ckpt}", f"data.data_dir={fake_data_dir}", "trainer.accelerator=cpu",
            "+data.verify=false", "+data.system_dir=null"]  # fmt: skip
    result = evaluate(compose_config("eval", over, tmp_path / "eval"))
    GlobalHydra.instance().clear()
    assert 0.0 <= result["test/acc"] <= 1.0

    where = {"data_dir": str(fake_data_dir), "verify": False, "system_dir": None}
    meta = E.export(ckpt, tmp_path / "export", where, n_verify=16)
    assert meta["classes"] == list(CLASSES) and meta["input"]["shape"] == ["batch", 28, 28]
