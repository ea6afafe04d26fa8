"""The switchable speed work: compiled nets keep their checkpoints, the CPU resize is PIL's,
the benchmark's variant names parse. Nothing here is timed (scripts/bench.py measures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import NET, make_images

from fashion_resnet import transforms as T
from fashion_resnet.model import Classifier

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def _pil_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    from PIL import Image
    from torchvision import transforms as tvt

    pipeline = tvt.Compose([tvt.Resize(size), tvt.ToTensor()])
    return torch.stack([pipeline(Image.fromarray(i.numpy())) for i in images])


def test_compile_keeps_state_dict_keys():
    torch.manual_seed(0)
    eager = Classifier(NET)
    torch.manual_seed(0)
    compiled = Classifier(NET, compile=True)
    # nn.Module.compile() in place: no "_orig_mod." prefix, so checkpoints load either way.
    assert compiled.net._compiled_call_impl is not None
    assert eager.net._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    eager.load_state_dict(compiled.state_dict())


def test_uint8_cpu_resize_is_bit_exact_with_pil():
    images = make_images(torch.arange(64) % 10, seed=5)
    out = T.to_model_input(images, 96, normalize=False)
    assert out.dtype == torch.float32 and out.shape == (64, 1, 96, 96)
    assert torch.equal(out, _pil_resize(images, 96))


def test_float_resize_path_stays_close_to_pil():
    # The path taken on a GPU (uint8 antialiased resize is CPU-only), exercised on CPU.
    images = make_images(torch.arange(64) % 10, seed=6)
    out = T.to_model_input(images.float(), 96, normalize=False)
    assert (out - _pil_resize(images, 96)).abs().mean() < 1e-3


def test_bench_rejects_unknown_variant():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--variants", "fp32,fp8"], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "fp8" in out.stderr and "compile" in out.stderr


@pytest.mark.parametrize(
    "variant,expected",
    [
        ("fp32", {"precision": "32-true", "channels_last": False, "compile": False}),
        ("bf16+cl+compile", {"precision": "bf16-mixed", "channels_last": True, "compile": True}),
    ],
)
def test_bench_variant_parsing(variant, expected):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_variant(variant) == expected
