"""Training options, each off by default: early stopping, ReduceLROnPlateau, warmup, weight EMA,
MixUp/CutMix (see test_data.py for the transform itself), gradient clipping."""

import functools

import pytest
import pytorch_lightning as pl
import torch
from conftest import tiny_overrides
from pytorch_lightning.callbacks import EMAWeightAveraging, ModelCheckpoint
from test_model import NET, fit, loader

from fashion_resnet.config.validate import check_train
from fashion_resnet.models.classifier import Classifier
from fashion_resnet.runs import checkpoints
from fashion_resnet.train import build_model, train

SGD = functools.partial(torch.optim.SGD, lr=0.1)
STEP = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1)


class RecordLR(pl.Callback):
    """The learning rate at the start of every optimizer step."""

    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_early_stopping_stops_when_the_metric_stalls(compose_cfg, fake_data_dir, tmp_path):
    over = tiny_overrides(fake_data_dir, tmp_path) + [
        "callbacks=[default,early_stopping]", "trainer.max_epochs=5", "test=false",
        "callbacks.early_stopping.min_delta=1.0",  # no accuracy gain counts: stop after patience
        "callbacks.early_stopping.patience=1",
    ]  # fmt: skip
    cfg = compose_cfg("train", over)
    assert cfg.callbacks.early_stopping.check_finite
    assert train(cfg)["epochs"] == 2  # first epoch sets the best, the second stalls: stop


def test_default_config_has_no_new_option(compose_cfg):
    cfg = compose_cfg("train")
    assert "early_stopping" not in cfg.callbacks and "ema" not in cfg.callbacks
    assert cfg.data.mixup == cfg.data.cutmix == cfg.data.folds == 0
    assert cfg.scheduler.warmup_epochs == 0


def test_plateau_config_passes_its_monitor(compose_cfg):
    cfg = compose_cfg("train", ["scheduler=plateau", "trainer.accelerator=cpu"])
    check_train(cfg)
    model = build_model(cfg)
    assert model.hparams.scheduler_monitor == "val/acc"
    cfg = compose_cfg("train", ["scheduler=plateau", "scheduler.monitor=val/accuracy"])
    with pytest.raises(ValueError, match="scheduler.monitor='val/accuracy' is not a logged"):
        check_train(cfg)


def test_plateau_cuts_the_lr_when_the_metric_stalls(tmp_path):
    # threshold 10 (absolute): after the first epoch nothing counts as an improvement
    plateau = functools.partial(
        torch.optim.lr_scheduler.ReduceLROnPlateau, mode="max", factor=0.5, patience=0,
        threshold=10.0, threshold_mode="abs",
    )  # fmt: skip
    model = Classifier(NET, SGD, plateau, scheduler_monitor="val/acc")
    rec = RecordLR()
    trainer = fit(model, tmp_path, max_epochs=3, callbacks=[rec])
    assert trainer.lr_scheduler_configs[0].monitor == "val/acc"
    assert rec.lrs[::4] == pytest.approx([0.1, 0.1, 0.05])  # 4 steps per epoch
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs scheduler.monitor"):
        Classifier(NET, SGD, plateau)


def test_warmup_epochs_ramp_linearly_then_the_schedule_runs(tmp_path):
    step = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    model = Classifier(NET, SGD, step, warmup_epochs=2, warmup_start_factor=0.1)
    rec = RecordLR()
    fit(model, tmp_path, max_epochs=4, callbacks=[rec])
    # epochs 0, 1 warm up from 10% to 100% (LinearLR); StepLR then halves from epoch 3
    assert rec.lrs[::4] == pytest.approx([0.01, 0.055, 0.1, 0.05])


def test_warmup_steps_shorten_the_schedule_they_precede(tmp_path):
    cosine = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR)
    model = Classifier(
        NET, SGD, cosine, scheduler_interval="step", warmup_steps=3, warmup_start_factor=0.1
    )
    rec = RecordLR()
    trainer = fit(model, tmp_path, max_epochs=2, callbacks=[rec])  # 8 steps: 3 warmup + 5 cosine
    assert rec.lrs[:4] == pytest.approx([0.01, 0.04, 0.07, 0.1])
    assert trainer.lr_scheduler_configs[0].scheduler._schedulers[1].T_max == 5
    assert rec.lrs[4:] == sorted(rec.lrs[4:], reverse=True) and rec.lrs[-1] < 0.02


def test_warmup_epochs_in_steps_with_a_step_scheduler(tmp_path):
    """warmup_epochs=1 with interval step: one epoch's optimizer steps (4) of ramp."""
    cosine = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR)
    model = Classifier(
        NET, SGD, cosine, scheduler_interval="step", warmup_epochs=1, warmup_start_factor=0.1
    )
    rec = RecordLR()
    trainer = fit(model, tmp_path, max_epochs=2, callbacks=[rec])
    assert rec.lrs[:5] == pytest.approx([0.01, 0.0325, 0.055, 0.0775, 0.1])
    assert trainer.lr_scheduler_configs[0].scheduler._schedulers[1].T_max == 4


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"warmup_steps": 2}, "needs scheduler.interval=step"),
        ({"warmup_epochs": -1}, "warmup must be >= 0"),
    ],
)
def test_bad_warmup_is_rejected_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Classifier(NET, SGD, STEP, **kwargs)


def test_warmup_before_plateau_is_rejected():
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau)
    with pytest.raises(ValueError, match="warmup is not supported with ReduceLROnPlateau"):
        Classifier(NET, SGD, plateau, scheduler_monitor="val/acc", warmup_epochs=1)


def test_ema_weights_are_validated_and_checkpointed(tmp_path):
    ema = EMAWeightAveraging(decay=0.5)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model = Classifier(NET, SGD)
    trainer = fit(model, tmp_path, max_epochs=2, callbacks=[ema, ckpt])
    logged = float(trainer.callback_metrics["val/loss"])
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    # the checkpoint's weights are the average; the raw ones are kept beside them
    average = ema._average_model.module.state_dict()
    assert torch.equal(saved["state_dict"]["net.head.2.weight"], average["net.head.2.weight"])
    raw = saved["current_model_state"]["net.head.2.weight"]
    assert not torch.allclose(saved["state_dict"]["net.head.2.weight"], raw)
    # what fashion-eval and fashion-export load is the average
    loaded, _ = checkpoints.load_model(tmp_path / "ckpt" / "last.ckpt")
    assert torch.equal(loaded.state_dict()["net.head.2.weight"], average["net.head.2.weight"])
    # ... and validating the checkpoint's weights gives the val/loss logged during fit
    reloaded = Classifier.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    check = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)  # a bare one:
    # it only validates the checkpoint's weights, for the number to compare with
    (result,) = check.validate(reloaded, loader(), verbose=False)
    assert result["val/loss"] == pytest.approx(logged, rel=1e-5)


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


def test_soft_targets_give_the_mixed_loss_and_dominant_label_accuracy():
    model = Classifier(NET)
    x = torch.randn(4, 1, 28, 28)
    y = torch.tensor([1, 2, 3, 4])
    soft = 0.7 * torch.nn.functional.one_hot(y, 10) + 0.3 * torch.nn.functional.one_hot(y - 1, 10)
    with torch.no_grad():
        loss, logits, target = model._step((x, soft))
    hard = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    other = torch.nn.functional.cross_entropy(logits, y - 1, reduction="none")
    assert loss == pytest.approx(float((0.7 * hard + 0.3 * other).mean()), rel=1e-5)
    assert torch.equal(target, y)


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_gradient_clipping_bounds_the_update(tmp_path, clip):
    """Plain SGD with lr 1: the step moves the weights by exactly the (clipped) gradient."""
    model = Classifier(NET, functools.partial(torch.optim.SGD, lr=1.0))
    before = [p.detach().clone() for p in model.parameters()]
    fit(model, tmp_path, max_steps=1, limit_val_batches=0, gradient_clip_val=clip)
    after = model.parameters()
    moved = torch.stack([(p.detach() - b).norm() for p, b in zip(after, before, strict=True)])
    if clip:
        assert moved.norm() == pytest.approx(clip, rel=1e-3)
    else:
        assert moved.norm() > 100 * 1e-3
