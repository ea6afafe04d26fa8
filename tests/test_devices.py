"""devices.py on the CPU: bf16-mixed where the CPU has native bf16 (AVX512-BF16 or AMX), 32-true
elsewhere, channels-last off; the choice in run.json. Both kinds of CPU are stand-ins (torch's
own capability checks patched), so every machine tests both. The GPU side is in test_gpu.py."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_overrides

from fashion_resnet import devices
from fashion_resnet.train import device_defaults, train

CPUS = {  # stand-in -> (AVX512-BF16, AMX tiles)
    "avx512-bf16": (True, False),  # e.g. AMD Zen 4, Intel Cooper Lake
    "amx": (False, True),  # e.g. Intel Sapphire Rapids (AMX-BF16 comes with the tiles)
    "plain": (False, False),  # AVX2-only or AVX-512 without BF16: bf16 would be emulated
}


@pytest.fixture(params=list(CPUS))
def cpu(request, monkeypatch) -> bool:
    """A machine without CUDA whose CPU is the stand-in; returns whether it has native bf16."""
    avx512_bf16, amx = CPUS[request.param]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    return avx512_bf16 or amx


def test_null_precision_is_bf16_mixed_on_a_native_bf16_cpu_else_32_true(cpu):
    assert devices.cpu_has_native_bf16() is cpu
    want = "bf16-mixed" if cpu else "32-true"
    for accelerator in ("auto", "cpu", None):  # auto on a machine without CUDA is the CPU
        chosen = devices.choose(accelerator)
        assert chosen == {"cuda": False, "precision": want, "channels_last": False,
                          "benchmark": False, "tf32": False}  # fmt: skip
    assert devices.choose("cpu", precision="32-true")["precision"] == "32-true"  # given wins


def test_the_cpu_choice_fills_the_config(cpu, compose_cfg):
    cfg = compose_cfg("train", ["trainer=cpu"])
    assert cfg.trainer.precision is None  # null in the shipped config: the device decides
    device_defaults(cfg)
    assert cfg.trainer.precision == ("bf16-mixed" if cpu else "32-true")
    assert cfg.model.channels_last is False  # measured no faster on a CPU (docs/RESULTS.md)


def test_run_json_records_the_cpu_choice_and_why(cpu, compose_cfg, fake_data_dir, tmp_path):
    train(compose_cfg("train", tiny_overrides(fake_data_dir, tmp_path)))
    device = json.loads((tmp_path / "out" / "run.json").read_text())["device"]
    want = "bf16-mixed" if cpu else "32-true"
    assert device["chosen"]["precision"] == want and device["precision"] == want  # the Trainer's
    assert device["cpu_native_bf16"] is cpu


def test_cpu_check_is_false_where_torch_lacks_it(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name)
    assert devices.cpu_has_native_bf16() is False
