"""The `gpu` tier, marked `gpu` (skipped, with the reason, where CUDA is absent; conftest.py): fit
+ test with trainer=gpu, model.compile, the sync-free step under
torch.cuda.set_sync_debug_mode("error"), DDP on one device, export of a GPU-trained checkpoint.
Its CPU stand-ins run everywhere: unit/test_devices.py (the defaults a GPU machine chooses),
integration/test_train_runs.py (bf16-mixed steps), unit/test_classifier.py (a compiled step).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from conftest import needs_extra, tiny_overrides

from fashion_resnet.export import EXPORT_MODULES
from fashion_resnet.train import train


# --------------------------------------------------------------------------- the gpu tier
def gpu_run(fake_data_dir, tmp_path, *extra: str, trainer: str = "gpu") -> list[str]:
    over = [o for o in tiny_overrides(fake_data_dir, tmp_path) if "accelerator" not in o]
    return [*over, f"trainer={trainer}", *extra]


@pytest.mark.gpu
def test_fit_and_test_on_the_gpu_with_its_defaults(compose_cfg, fake_data_dir, tmp_path):
    metrics = train(compose_cfg("train", gpu_run(fake_data_dir, tmp_path)))
    assert 0.0 <= metrics["test/acc"] <= 1.0
    chosen = json.loads((tmp_path / "out" / "run.json").read_text())["device"]["chosen"]
    assert chosen["cuda"] and chosen["channels_last"] and chosen["precision"] == "bf16-mixed"


@pytest.mark.gpu
def test_compiled_model_trains_on_the_gpu(compose_cfg, fake_data_dir, tmp_path):
    metrics = train(compose_cfg("train", gpu_run(fake_data_dir, tmp_path, "model.compile=true")))
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


class SyncDebug(pl.Callback):
    """set_sync_debug_mode("error") from the start to the end of each training batch (except
    the first and last: once-per-run views, the per-epoch synchronize): a host sync raises."""

    def __init__(self, on: bool) -> None:
        self.on, self.batches = on, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.on and 0 < batch_idx < trainer.num_training_batches - 1:
            torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not self.on and torch.cuda.get_sync_debug_mode():
            torch.cuda.set_sync_debug_mode("default")
            self.batches += 1


@pytest.mark.gpu
def test_training_steps_do_not_sync_under_sync_debug_mode(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch
):
    import fashion_resnet.train as entry

    off, on = SyncDebug(False), SyncDebug(True)  # off first, on last: the step in between
    made = entry.hydra_job.instantiate_all
    monkeypatch.setattr(entry.hydra_job, "instantiate_all",
                        lambda node: [off, *made(node), on] if node and "divergence" in node
                        else made(node))  # fmt: skip
    over = gpu_run(fake_data_dir, tmp_path, "trainer.limit_train_batches=6",
                   "trainer.log_every_n_steps=1000")  # fmt: skip
    try:
        train(compose_cfg("train", over))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert off.batches == 4

    from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule

    dm = FashionMNISTDataModule(str(fake_data_dir), None, False, False, val_size=64, batch_size=32)
    dm.setup()
    for name in ("train_set", "val_set"):
        setattr(dm, name, type(getattr(dm, name))(*(t.cuda() for t in getattr(dm, name).tensors)))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:  # the draws and the batched transform, on the device
        for images, _ in dm.train_dataloader():
            dm.transform(images, training=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
@needs_extra("export", *EXPORT_MODULES)
def test_ddp_on_one_gpu_then_export_the_checkpoint(compose_cfg, fake_data_dir, tmp_path):
    for extra in ("onnx", "onnxscript", "onnxruntime"):  # the export extra: skipped without it
        pytest.importorskip(extra, reason="fashion-export needs the export extra")
    over = gpu_run(fake_data_dir, tmp_path, "trainer.devices=1", trainer="ddp")
    metrics = train(compose_cfg("train", over))
    assert metrics["best_ckpt"]
    out = tmp_path / "export"
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_resnet.export", f"ckpt_path={metrics['best_ckpt']}",
         f"output_dir={out}", "n_verify=16", f"data.data_dir={fake_data_dir}",
         f"hydra.run.dir={tmp_path / 'export_run'}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
