"""cli/console.py: quiet about what a user cannot act on, a CPU notice before hours of training.
What a whole run prints: integration/test_train_runs.py."""

from __future__ import annotations

import csv
import logging
import re
import statistics
import warnings
from pathlib import Path

import pytest

from fashion_resnet.cli import console

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


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
        for module in (lightning_module, "fashion_resnet.models.classifier"):
            warnings.warn_explicit(message, category, "x.py", 1, module=module)
    assert [w.filename for w in seen] == ["x.py"] and len(seen) == 1  # ours still shows


def test_quiet_ignores_the_pytree_warning_from_lightning_only():
    message = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        console.quiet()
        for module in ("pytorch_lightning.utilities._pytree", "fashion_resnet.models.classifier"):
            warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
    assert [w.filename for w in seen] == ["x.py"] and len(seen) == 1  # ours still shows


def test_cpu_notice_estimates_from_the_recorded_step_and_scales_with_the_run(compose_cfg):
    """The notice's time per step is the record's (docs/results/reference_10_epochs: the median
    of its epochs' training images/s), and its estimate follows the run: twice the training
    images, twice the steps and the minutes."""
    with (RESULTS / "reference_10_epochs" / "metrics.csv").open(newline="") as f:
        rates = [float(r["perf/train_images_per_s"]) for r in csv.DictReader(f)
                 if r.get("perf/train_images_per_s")]  # fmt: skip
    assert len(rates) == 10
    per_step = console.CPU_STEP_IMAGES / statistics.median(rates)
    assert round(per_step, 2) == console.CPU_STEP_S
    cfg = compose_cfg("train", ["trainer.accelerator=cpu"])
    notices = [console.cpu_notice(cfg, train_images=n) for n in (55_000, 110_000)]
    found = [re.search(r"about (\d+) min per epoch of (\d+) steps", n) for n in notices]
    (min1, steps1), (min2, steps2) = [(int(f[1]), int(f[2])) for f in found]
    assert (steps1, steps2) == (55_000 // 256, 110_000 // 256)  # data.batch_size 256
    assert min1 == round(steps1 * console.CPU_STEP_S / 60) and abs(min2 - 2 * min1) <= 1
    assert "10 epochs" in notices[0] and 'make train ARGS="experiment=smoke"' in notices[0]
    smoke = compose_cfg("train", ["trainer.accelerator=cpu", "experiment=smoke"])
    assert console.cpu_notice(smoke, train_images=24_000) is None  # 28 px: minutes
    assert console.cpu_notice(compose_cfg("train", ["trainer=gpu"]), 55_000) is None
    short = compose_cfg("train", ["trainer.accelerator=cpu", "+trainer.limit_train_batches=6"])
    assert "about 12 s per epoch of 6 steps" in console.cpu_notice(short, 55_000)  # not "0 min"
