"""The GPU path: its defaults, its CPU stand-ins, and the `gpu` tier.

On every machine: the device-dependent defaults (devices.py) as a GPU machine would choose
them, bf16-mixed steps through the shipped callbacks, a compiled forward and backward.
Marked `gpu` (skipped, with the reason, where CUDA is absent; conftest.py): fit + test with
trainer=gpu, model.compile, the sync-free step under torch.cuda.set_sync_debug_mode("error"),
DDP on one device, export of a GPU-trained checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from conftest import tiny_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from fashion_resnet import devices, nets
from fashion_resnet.train import train


@pytest.fixture
def gpu_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    # its CPU without native bf16, so that trainer=cpu is all off (both CPUs: test_devices.py)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)


ALL_ON = {"cuda": True, "precision": "bf16-mixed", "channels_last": True, "benchmark": True,
          "tf32": True}  # fmt: skip
ALL_OFF = {"cuda": False, "precision": "32-true", "channels_last": False, "benchmark": False,
           "tf32": False}  # fmt: skip


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"accelerator": "auto"}, ALL_ON),
        ({"accelerator": "gpu"}, ALL_ON),
        ({"accelerator": "cpu"}, ALL_OFF),  # trainer=cpu
        ({"accelerator": "auto", "precision": "32-true"},  # full fp32: no TF32 either
         {**ALL_ON, "precision": "32-true", "tf32": False}),
        ({"accelerator": "auto", "deterministic": True}, {**ALL_ON, "benchmark": False}),
        ({"accelerator": "auto", "channels_last": False, "tf32": False},
         {**ALL_ON, "channels_last": False, "tf32": False}),
    ],
)  # fmt: skip
def test_defaults_on_a_gpu_machine(gpu_machine, kwargs, expected):
    assert devices.choose(**kwargs) == expected


def test_sixteen_bit_mixed_where_the_gpu_has_no_bf16(gpu_machine, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert devices.choose("auto")["precision"] == "16-mixed"


def test_gpu_defaults_fill_the_config_and_reach_the_trainer(compose_cfg, gpu_machine):
    from fashion_resnet.train import device_defaults

    cfg = compose_cfg("train", ["tf32=false"])
    chosen = device_defaults(cfg)  # the entry point's step; TF32 off here: nothing set globally
    assert chosen == {**ALL_ON, "tf32": False}
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.benchmark is True
    assert cfg.model.channels_last is True
    cpu = compose_cfg("train", ["trainer=cpu"])
    assert device_defaults(cpu) == ALL_OFF and cpu.model.channels_last is False


def test_bf16_mixed_steps_on_cpu_through_the_shipped_callbacks(
    compose_cfg, fake_data_dir, tmp_path
):
    over = [*tiny_overrides(fake_data_dir, tmp_path), "trainer.precision=bf16-mixed"]
    metrics = train(compose_cfg("train", over))
    out = tmp_path / "out"
    for name in ("train/loss", "val/acc", "test/acc", "test/loss"):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    chosen = json.loads((out / "run.json").read_text())["device"]["chosen"]
    assert chosen == {**ALL_OFF, "precision": "bf16-mixed"}
    ea = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    ea.Reload()
    images = set(ea.Tags()["images"])
    assert {"inputs/train_batch", "val/confusion_matrix", "val/misclassified"} <= images
    start = HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    )
    assert start.session_start_info.hparams["trainer.precision"].string_value == "bf16-mixed"


@pytest.mark.slow  # ~20 s on 2 busy cores: inductor compiles C++ kernels
def test_compiled_forward_and_backward_match_eager_on_cpu():
    # A small net of the project's own blocks, compiled in place as Classifier(compile=True)
    # does (nn.Module.compile): inductor's forward and backward code, in seconds not minutes.
    def small() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(
            nets.BasicBlock(1, 8, stride=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(8, 10),
        )  # fmt: skip

    eager, compiled = small(), small()
    compiled.compile()
    x, y = torch.rand(4, 1, 16, 16), torch.arange(4)
    grads = []
    for model in (eager, compiled):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads.append([p.grad for p in model.parameters()])
    assert compiled._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no _orig_mod. prefix
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)


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
    made = entry.hydra_glue.instantiate_all
    monkeypatch.setattr(entry.hydra_glue, "instantiate_all",
                        lambda node: [off, *made(node), on] if node and "divergence" in node
                        else made(node))  # fmt: skip
    over = gpu_run(fake_data_dir, tmp_path, "trainer.limit_train_batches=6",
                   "trainer.log_every_n_steps=1000")  # fmt: skip
    try:
        train(compose_cfg("train", over))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert off.batches == 4

    from fashion_resnet.data import FashionMNISTDataModule

    dm = FashionMNISTDataModule(str(fake_data_dir), None, False, False, 64, batch_size=32)
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
