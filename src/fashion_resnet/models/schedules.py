"""The learning-rate schedule around an optimizer: the config's scheduler (conf/scheduler/), its
length filled in from the run when the config leaves it out, a linear warmup before it, and the
checks of settings that would otherwise fail only at the end of the first epoch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch

from fashion_resnet.errors import ConfigError

SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
# Keys of a scheduler config (conf/scheduler/) that are Classifier arguments, not the torch
# scheduler's: when and on what Lightning steps it, and the warmup before it.
SCHEDULE_KEYS = {"interval": "scheduler_interval", "monitor": "scheduler_monitor",
                 "warmup_epochs": "warmup_epochs", "warmup_steps": "warmup_steps",
                 "warmup_start_factor": "warmup_start_factor"}  # fmt: skip


def check(
    factory: SchedulerFactory | None,
    interval: str,
    monitor: str | None,
    warmup_epochs: int,
    warmup_steps: int,
) -> None:
    """Scheduler settings that would fail only at the end of the first epoch, rejected now."""
    if interval not in ("epoch", "step"):
        raise ConfigError(f"scheduler_interval must be 'epoch' or 'step', got {interval!r}")
    if warmup_epochs < 0 or warmup_steps < 0:
        raise ConfigError(f"warmup must be >= 0, got {warmup_epochs=} {warmup_steps=}")
    if warmup_steps and interval == "epoch":
        raise ConfigError(
            f"scheduler.warmup_steps={warmup_steps} needs scheduler.interval=step; "
            "with an epoch-wise scheduler use scheduler.warmup_epochs"
        )
    cls = getattr(factory, "func", factory)
    plateau = isinstance(cls, type) and issubclass(cls, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau and not monitor:
        raise ConfigError("ReduceLROnPlateau needs scheduler.monitor (a logged metric: val/acc)")
    if plateau and (warmup_epochs or warmup_steps):
        raise ConfigError(
            "warmup is not supported with ReduceLROnPlateau (torch's SequentialLR cannot pass "
            "it the metric): set scheduler.warmup_epochs=0 or choose another scheduler"
        )


def warmup_length(trainer: pl.Trainer, interval: str, warmup_epochs: int, warmup_steps: int) -> int:
    """Warmup in the scheduler's own interval (epochs, or optimizer steps)."""
    if interval == "epoch":
        return warmup_epochs
    if not warmup_epochs:
        return warmup_steps
    trainer.estimated_stepping_batches  # noqa: B018 - sets up the loader: num_training_batches
    steps_per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
    return warmup_steps + warmup_epochs * steps_per_epoch


def filled_length(
    factory: SchedulerFactory, trainer: pl.Trainer, interval: str, warmup: int = 0
) -> dict[str, int]:
    """A schedule's length (OneCycleLR's total_steps, CosineAnnealingLR's T_max) when the config
    leaves it out: the rest of the run after warmup, in the scheduler's own interval."""
    given = getattr(factory, "keywords", {})
    params = inspect.signature(getattr(factory, "func", factory)).parameters
    if interval == "step":
        length = int(trainer.estimated_stepping_batches)
    else:
        length = int(trainer.max_epochs)
    length = max(length - warmup, 1)
    return {k: length for k in ("total_steps", "T_max") if k in params and given.get(k) is None}


def build(
    factory: SchedulerFactory,
    optimizer: torch.optim.Optimizer,
    trainer: pl.Trainer,
    interval: str = "epoch",
    monitor: str | None = None,
    warmup_epochs: int = 0,
    warmup_steps: int = 0,
    warmup_start_factor: float = 0.01,
) -> dict[str, Any]:
    """Lightning's lr_scheduler config: the schedule, after `warmup_*` of linear warmup from
    `warmup_start_factor` of the lr (torch's own chaining: LinearLR, then the schedule)."""
    warmup = warmup_length(trainer, interval, warmup_epochs, warmup_steps)
    scheduler = factory(optimizer=optimizer, **filled_length(factory, trainer, interval, warmup))
    if warmup:
        ramp = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=warmup_start_factor, total_iters=warmup
        )
        scheduler = torch.optim.lr_scheduler.SequentialLR(
            optimizer, [ramp, scheduler], milestones=[warmup]
        )
    config = {"scheduler": scheduler, "interval": interval}
    if monitor:
        config["monitor"] = monitor
    return config
