"""Training options from the command line, each off by default: early stopping, weight EMA with
MixUp/CutMix. The options themselves: unit/test_classifier.py (plateau, warmup, EMA, soft targets,
clipping), unit/test_transforms.py (MixUp/CutMix), unit/test_configs.py (their config files)."""

import torch
from conftest import tiny_overrides

from fashion_resnet.train import train


def test_early_stopping_stops_when_the_metric_stalls(compose_cfg, fake_data_dir, tmp_path):
    over = tiny_overrides(fake_data_dir, tmp_path) + [
        "callbacks=[default,early_stopping]", "trainer.max_epochs=5", "test=false",
        "callbacks.early_stopping.min_delta=1.0",  # no accuracy gain counts: stop after patience
        "callbacks.early_stopping.patience=1",
    ]  # fmt: skip
    cfg = compose_cfg("train", over)
    assert cfg.callbacks.early_stopping.check_finite
    assert train(cfg)["epochs"] == 2  # first epoch sets the best, the second stalls: stop


def test_ema_mixup_cutmix_from_the_command_line(compose_cfg, fake_data_dir, tmp_path):
    over = tiny_overrides(fake_data_dir, tmp_path) + [
        "callbacks=[default,ema]", "data.mixup=0.2", "data.cutmix=1.0",
    ]  # fmt: skip
    metrics = train(compose_cfg("train", over))
    saved = torch.load(metrics["best_ckpt"], weights_only=True)
    assert "current_model_state" in saved  # averaged weights in state_dict: tested, exported
    assert "── optimizer" in (tmp_path / "out" / "config_tree.txt").read_text()  # printed at start
    # soft targets reach the loss; train/acc is against the dominant label, so in [0, 1]
    assert 0.0 <= metrics["train/acc"] <= 1.0 and metrics["train/loss"] > 0
