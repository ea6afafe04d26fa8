"""The console: quiet about what a user cannot act on, clear about where results are."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest
from conftest import tiny_overrides

from fashion_resnet import console


def test_quiet_drops_only_the_named_lightning_lines(caplog):
    console.quiet()
    log = logging.getLogger(console.LIGHTNING_LOGGER)
    with caplog.at_level(logging.INFO, logger=console.LIGHTNING_LOGGER):
        log.info("💡 Tip: For seamless cloud logging, try installing [litlogger](...)")
        log.info("Trainer already configured with model summary callbacks: [...]")
        log.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


@pytest.mark.parametrize(
    "message,category,lightning_module",
    [
        ("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning,
         "pytorch_lightning.utilities._pytree"),
        ("Precision bf16-mixed is not supported by the model summary.  Estimated model size in MB "
         "will not be accurate. Using 32 bits instead.", UserWarning,
         "pytorch_lightning.utilities.model_summary.model_summary"),
    ],
)  # fmt: skip
def test_quiet_ignores_lightnings_own_warnings_from_lightning_only(
    message, category, lightning_module
):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        console.quiet()
        for module in (lightning_module, "fashion_resnet.model"):
            warnings.warn_explicit(message, category, "x.py", 1, module=module)
    assert [w.filename for w in seen] == ["x.py"] and len(seen) == 1  # ours still shows


def test_cpu_notice_for_the_reference_recipe_only(compose_cfg):
    cfg = compose_cfg("train", ["trainer.accelerator=cpu"])
    notice = console.cpu_notice(cfg, train_images=55_000)
    # 55,000 images / 256 = 214 steps x 2.23 s (docs/results/cpu_step) = 8.0 min
    assert "about 8 min per epoch of 214 steps" in notice and "10 epochs" in notice
    assert 'make train ARGS="experiment=smoke"' in notice
    smoke = compose_cfg("train", ["trainer.accelerator=cpu", "experiment=smoke"])
    assert console.cpu_notice(smoke, train_images=24_000) is None  # 28 px: minutes
    assert console.cpu_notice(compose_cfg("train", ["trainer=gpu"]), 55_000) is None


def test_a_run_ends_with_where_its_results_are_and_no_noise(fake_data_dir, tmp_path):
    """A real (tiny) run in its own process, its whole console read."""
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_resnet.train", *tiny_overrides(fake_data_dir, tmp_path)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "default"},  # show every warning once
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    console_text = proc.stdout + proc.stderr
    for noise in ("litlogger", "LeafSpec", "already configured with model summary"):
        assert noise not in console_text, noise
    run = tmp_path / "run"
    assert proc.stdout.strip().splitlines()[-3:] == [
        f"Run folder:  {run}",
        f"Metrics:     {run / 'metrics.json'}",
        f"TensorBoard: tensorboard --logdir {run}",
    ]
