"""schedules.py through the Classifier that uses it: the config's scheduler stepped per epoch or
per step, its length filled from the run, a linear warmup before it, and the settings rejected
at construction (before a first epoch could end in an error)."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
from conftest import NET
from test_classifier import SGD, fit

from fashion_resnet.models.classifier import Classifier

STEP = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1)


class RecordLR(pl.Callback):
    """The learning rate at the start of every optimizer step."""

    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


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
        ({"scheduler_interval": "batch"}, "scheduler_interval must be 'epoch' or 'step'"),
        ({"warmup_steps": 2}, "needs scheduler.interval=step"),
        ({"warmup_epochs": -1}, "warmup must be >= 0"),
    ],
)
def test_bad_schedule_is_rejected_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Classifier(NET, SGD, STEP, **kwargs)


def test_warmup_before_plateau_is_rejected():
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau)
    with pytest.raises(ValueError, match="warmup is not supported with ReduceLROnPlateau"):
        Classifier(NET, SGD, plateau, scheduler_monitor="val/acc", warmup_epochs=1)
