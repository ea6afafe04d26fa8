"""launch/devices.py: the device-dependent defaults (bf16, channels-last, cuDNN autotuning,
TF32), as a GPU machine would choose them (torch.cuda stood in for), and as train.py fills
them into the config."""

import pytest
import torch

from fashion_resnet.launch import devices


@pytest.fixture
def gpu_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


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
