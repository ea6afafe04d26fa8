"""cli/console.py: quiet about what a user cannot act on, a CPU notice before hours of training.
What a whole run prints: integration/test_train_runs.py."""

from __future__ import annotations

import logging
import warnings

from fashion_resnet.cli import console


def test_quiet_drops_only_the_named_lightning_lines(caplog):
    console.quiet()
    log = logging.getLogger(console.LIGHTNING_LOGGER)
    with caplog.at_level(logging.INFO, logger=console.LIGHTNING_LOGGER):
        log.info("💡 Tip: For seamless cloud logging, try installing [litlogger](...)")
        log.info("Trainer already configured with model summary callbacks: [...]")
        log.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


def test_quiet_ignores_the_pytree_warning_from_lightning_only():
    message = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        console.quiet()
        for module in ("pytorch_lightning.utilities._pytree", "fashion_resnet.models.classifier"):
            warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
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
