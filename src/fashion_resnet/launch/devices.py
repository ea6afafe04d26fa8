"""What training gets without flags on the device it runs on: the switches left `null` in the
config are chosen here from where the run trains.

| switch                | null means, on a CUDA GPU              | on the CPU                  |
| `trainer.precision`   | bf16-mixed (16-mixed without bf16)     | bf16-mixed with native bf16 |
|                       |                                        | (AVX512-BF16 or AMX), else  |
|                       |                                        | 32-true                     |
| `model.channels_last` | true (NHWC convolutions)               | true with bf16 on a CPU     |
|                       |                                        | with AMX, else false        |
| `trainer.benchmark`   | true (cuDNN autotuning), false when    | false                       |
|                       | deterministic                          |                             |
| `tf32`                | true unless trainer.precision=32-true  | false                       |

Set any of them to override the choice (`trainer.precision=32-true`: full fp32 anywhere). On the
dev CPU (AMX) bf16 trains both the 96 px reference recipe and the 28 px smoke run faster than
fp32 (docs/results/bench_cpu, docs/results/smoke_speed_bf16), and channels-last makes bf16
faster still there: oneDNN's AMX kernels take NHWC (docs/results/cpu_channels_last). In fp32
it is no faster there; without AMX (the AMD EPYC: AVX512-BF16 only) issue 22 found it slower
with bf16.
"""

from __future__ import annotations

from typing import Any

import torch

CUDA_ACCELERATORS = ("auto", "gpu", "cuda")
FULL_FP32 = ("32-true", "32", 32)


def on_cuda(accelerator: str | None) -> bool:
    """Whether a Trainer with this accelerator trains on a CUDA GPU here."""
    return (accelerator or "auto") in CUDA_ACCELERATORS and torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX (torch's own CPU checks): bf16 arithmetic in hardware, which oneDNN's
    convolutions use. Without either, oneDNN emulates bf16 in fp32 arithmetic: nothing to gain."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_has_amx() -> bool:
    """AMX tiles (Intel Sapphire Rapids and later): bf16 matrix units, fed in NHWC."""
    return getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()


def choose(
    accelerator: str | None,
    precision: str | int | None = None,
    channels_last: bool | None = None,
    benchmark: bool | None = None,
    tf32: bool | None = None,
    deterministic: bool | str | None = None,
) -> dict[str, Any]:
    """The value of each switch (see the table above): the given one, or the device's default."""
    cuda = on_cuda(accelerator)
    if precision is None and cuda:
        precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    elif precision is None:
        precision = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    return {
        "cuda": cuda,
        "precision": precision,
        "channels_last": (cuda or (str(precision).startswith("bf16") and cpu_has_amx()))
        if channels_last is None
        else bool(channels_last),
        "benchmark": (cuda and not deterministic) if benchmark is None else bool(benchmark),
        "tf32": (cuda and precision not in FULL_FP32) if tf32 is None else bool(tf32),
    }


def apply_tf32(enabled: bool) -> None:
    """TF32 tensor cores for fp32 matmuls and cuDNN convolutions (about 10 mantissa bits
    instead of 23), or full fp32. Process-wide; touched only when training on a GPU."""
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled
