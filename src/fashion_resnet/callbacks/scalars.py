"""TensorBoard's numbers: throughput and epoch time (SCALARS) and the run's resolved config
against its final metrics (HPARAMS); the helpers views.py shares to find TensorBoard's writer.

Everything is written to the first TensorBoardLogger of the trainer; without one these
callbacks only log scalars (EpochPerf) or do nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams as hparams_summaries

HParam = bool | int | float | str


def tensorboard(trainer: pl.Trainer):
    """The SummaryWriter of the first TensorBoardLogger, on global rank 0 only; else None."""
    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def step(trainer: pl.Trainer) -> int:
    """The step Lightning's loggers use for scalars logged now (the index of the last optimizer
    step, not global_step), so images line up with the scalars of the same epoch."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """{"optimizer": {"lr": 0.1}} -> {"optimizer.lr": 0.1}; None and lists become strings
    (TensorBoard's HPARAMS table takes numbers, strings and booleans only)."""
    flat: dict[str, HParam] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, bool):
            flat[name] = str(value)  # the table would show a bool as 1/0
        elif isinstance(value, int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def tag(name: str) -> str:
    """A class name as a TensorBoard tag part: "T-shirt/top" -> "T-shirt_top"."""
    return re.sub(r"[^\w-]+", "_", name)


class EpochPerf(pl.Callback):
    """perf/train_images_per_s (training images over the training loop's wall time, all ranks)
    and perf/epoch_time_s (training plus validation, seconds)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = self.train_end = time.perf_counter()
        self.images = 0

    # A run resumed mid-epoch starts without on_train_epoch_start: count from the resume.
    on_train_start = on_train_epoch_start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.images += len(batch[1])
        if batch_idx + 1 == trainer.num_training_batches and torch.cuda.is_available():
            torch.cuda.synchronize()  # once per epoch: the queued kernels belong to this epoch
        self.train_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        train_s = max(self.train_end - self.start, 1e-9)
        # Under DDP each rank counts its own shard: the run's throughput is the sum of the ranks'
        # and its epoch lasts as long as the slowest rank's (one value is no warning either).
        pl_module.log("perf/train_images_per_s", self.images / train_s, sync_dist=True,
                      reduce_fx="sum")  # fmt: skip
        pl_module.log("perf/epoch_time_s", time.perf_counter() - self.start, sync_dist=True,
                      reduce_fx="max")  # fmt: skip


class HParamsSummary(pl.Callback):
    """The HPARAMS tab: the run's hyperparameters, and the metrics the table shows beside them.

    Written once when fit starts (so running and crashed runs appear too); TensorBoard fills the
    metric columns with the last value of the scalar of that name, i.e. the final
    `val/acc_best` and the `test/*` of the tested checkpoint. `params` is set by the entry point
    (the resolved, flattened config); without it, the model's and datamodule's hparams."""

    def __init__(self, metrics: Sequence[str] = ("val/acc_best", "test/acc", "test/loss")):
        self.metrics = list(metrics)
        self.params: dict[str, HParam] | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = tensorboard(trainer)
        if writer is None:
            return
        params = self.params
        if params is None:
            datamodule = getattr(trainer, "datamodule", None)
            params = flatten({**pl_module.hparams, **(datamodule.hparams if datamodule else {})})
        experiment, start, _ = hparams_summaries(params, dict.fromkeys(self.metrics, 0.0))
        file_writer = writer._get_file_writer()  # as Lightning's log_hyperparams does
        file_writer.add_summary(experiment)
        file_writer.add_summary(start)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = tensorboard(trainer)
        if writer is not None:  # the session's status: finished
            writer._get_file_writer().add_summary(hparams_summaries({}, {})[2])
