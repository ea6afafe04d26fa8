"""launch/devices.py: the device-dependent defaults (bf16, channels-last, cuDNN autotuning,
TF32), as a GPU machine would choose them (torch.cuda stood in for), and as train.py fills
them into the config."""

import json

import pytest
import torch
from conftest import tiny_overrides

from fashion_resnet.launch import devices
from fashion_resnet.train import device_defaults, train


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
    amx = torch.cpu._is_amx_tile_supported()  # the stand-in's, not devices.py's reading
    for accelerator in ("auto", "cpu", None):  # auto on a machine without CUDA is the CPU
        chosen = devices.choose(accelerator)
        assert chosen == {"cuda": False, "precision": want, "channels_last": amx,
                          "benchmark": False, "tf32": False}  # fmt: skip
    full = devices.choose("cpu", precision="32-true")  # given wins; NHWC only with bf16
    assert full["precision"] == "32-true" and full["channels_last"] is False
    assert devices.choose("cpu", channels_last=False)["channels_last"] is False
    assert devices.choose("cpu", precision="bf16-true")["channels_last"] is amx  # any bf16



def test_the_cpu_choice_fills_the_config(cpu, compose_cfg):
    cfg = compose_cfg("train", ["trainer=cpu"])
    assert cfg.trainer.precision is None  # null in the shipped config: the device decides
    device_defaults(cfg)
    assert cfg.trainer.precision == ("bf16-mixed" if cpu else "32-true")
    # NHWC with bf16 on AMX only: faster there, slower or no faster elsewhere (devices.py)
    assert cfg.model.channels_last is torch.cpu._is_amx_tile_supported()  # the stand-in's



def test_run_json_records_the_cpu_choice_and_why(cpu, compose_cfg, fake_data_dir, tmp_path):
    # One batch each and no test pass: run.json is written before training; on a CPU without
    # native bf16 the stand-ins' bf16 steps are emulated (74-92 s a run at 3+2+2 batches)
    train(compose_cfg("train", [*tiny_overrides(fake_data_dir, tmp_path), "test=false",
                                "trainer.limit_train_batches=1", "trainer.limit_val_batches=1"]))
    device = json.loads((tmp_path / "out" / "run.json").read_text())["device"]
    want = "bf16-mixed" if cpu else "32-true"
    assert device["chosen"]["precision"] == want and device["precision"] == want  # the Trainer's
    assert device["chosen"]["channels_last"] is torch.cpu._is_amx_tile_supported()
    assert device["cpu_native_bf16"] is cpu



def test_cpu_check_is_false_where_torch_lacks_it(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name)
    assert devices.cpu_has_native_bf16() is False and devices.cpu_has_amx() is False

