"""The LightningModule ("the system"): a classifier around any backbone (backbones.py).

It owns the loss, the metrics and their names, and the optimizer/scheduler wiring (optimizers.py,
schedules.py). The backbone is described by plain values (`net={"arch": "resnet18", ...}`), its
class count and input channels are values the entry point takes from the data, and `data` holds
the data's facts (class names, image shape, mean/std): checkpoints hold no pickled modules,
reload with torch's default `weights_only=True`, and say what their model takes and what its
outputs mean.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.plugins.precision import MixedPrecision
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from fashion_resnet.errors import ConfigError
from fashion_resnet.models import backbones, optimizers, schedules

OptimizerFactory = optimizers.OptimizerFactory
SchedulerFactory = schedules.SchedulerFactory

# The names Classifier logs: a contract that callbacks, sweeps and reports refer to (README.md,
# "Logged metric names"; tests/test_train.py checks that they are logged).
FIT_METRICS = ("train/loss", "train/loss_step", "train/acc", "val/loss", "val/acc", "val/acc_best")
TEST_METRICS = ("test/loss", "test/acc")
# torch.compile's modes; the CUDA-graph ones replay each step's kernels as one graph launch.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


class WeightedMean(MeanMetric):
    """sum(value * weight) / sum(weight), with no host sync per update.

    MeanMetric's default NaN check reads a tensor as a Python bool on every update (a host sync
    per step); with that check off (nan_strategy="disable") torchmetrics 1.9 replaces the weights
    by ones, which makes a mean of batch means. A non-finite loss is DivergenceGuard's business."""

    def __init__(self) -> None:
        super().__init__(nan_strategy="disable")

    def update(self, value: torch.Tensor, weight: torch.Tensor) -> None:
        value, weight = value.to(self.dtype), weight.to(self.dtype)
        self.mean_value += (value * weight).sum()
        self.weight += weight.sum()


class Classifier(pl.LightningModule):
    def __init__(
        self,
        net: dict[str, Any],
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",  # "epoch" or "step": when the scheduler steps
        scheduler_monitor: str | None = None,  # the metric ReduceLROnPlateau watches
        warmup_epochs: int = 0,  # linear warmup before the scheduler, in epochs
        warmup_steps: int = 0,  # ... or in optimizer steps (scheduler_interval "step" only)
        warmup_start_factor: float = 0.01,  # warmup starts at this fraction of the lr
        label_smoothing: float = 0.0,
        channels_last: bool | None = False,  # NHWC memory format (None: off; train.py decides)
        compile: bool = False,  # torch.compile the net: slow first steps, faster after (GPU)
        compile_mode: str | None = None,  # torch.compile's mode (None: its default); see above
        num_classes: int = 10,  # the head's outputs: the data's class count (train.py passes it)
        in_channels: int = 1,  # the data's channels
        data: dict[str, Any] | None = None,  # the data's facts, for whoever uses the checkpoint
    ) -> None:
        super().__init__()
        schedules.check(
            scheduler, scheduler_interval, scheduler_monitor, warmup_epochs, warmup_steps
        )
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ConfigError(f"Unknown model.compile_mode={compile_mode!r}; choose one of: "
                              f"{', '.join(COMPILE_MODES)}")  # fmt: skip
        # The factories are functools.partials: keep them out of the checkpoint. `compile` and
        # `compile_mode` are how this run trains, not what the checkpoint is: eval, predict and
        # export of it (and a resume, which takes the run's config) must not compile unless asked.
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "compile", "compile_mode"])
        self.net = backbones.build(net, in_channels, num_classes)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile:
            # In place (nn.Module.compile), not torch.compile(net): the state_dict keeps its
            # keys, so checkpoints move freely between compiled and eager models.
            self.net.compile(mode=compile_mode)
        self.graph_steps = compile and compile_mode in CUDA_GRAPH_MODES
        self.epoch_logged = False  # train/loss and train/acc registered for this epoch
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro") for _ in range(3)
        )
        # Means over images, not over batches: a short last batch counts for its images.
        self.train_loss, self.val_loss, self.test_loss = (WeightedMean() for _ in range(3))
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # in checkpoints: a resumed run keeps its best so far

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        if self.graph_steps:  # a new step: CUDA-graph outputs of the last one may be reused
            torch.compiler.cudagraph_mark_step_begin()
        logits = self(x)
        # y: class indices (B,), or class probabilities (B, C) from mixup/cutmix
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        if y.ndim == 2:  # accuracy against the dominant label of each mixed image
            y = y.argmax(dim=1)
        return loss, logits, y

    @staticmethod
    def _count(loss: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # The batch size as a device tensor made by a fill kernel: a Python int weight would be
        # copied to the GPU with a blocking host-to-device copy, once per update.
        return torch.full_like(loss, len(y), dtype=torch.float32)

    def on_train_epoch_start(self) -> None:
        self.epoch_logged = False

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, logits, y = self._step(batch)
        # update(), not __call__: no per-step metric value computed (only epoch values are
        # logged). Tensors, not .item(): Lightning moves them to the host every log_every_n_steps.
        self.train_loss.update(loss, weight=self._count(loss, y))
        self.train_acc.update(logits, y)
        # Each self.log is Python bookkeeping on the host, a share of a launch-bound GPU step:
        # log only what is written. The metric objects
        # once per epoch (they accumulate every update; Lightning computes them at the epoch's
        # end), the step loss at the trainer's logging steps.
        if not self.epoch_logged:
            self.log("train/loss", self.train_loss, on_step=False, on_epoch=True)
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
            self.epoch_logged = True
        if self.trainer._logger_connector.should_update_logs:  # Lightning's own test
            self.log("train/loss_step", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, logits, y = self._step(batch)
        self.val_loss.update(loss, weight=self._count(loss, y))
        self.val_acc.update(logits, y)
        self.log("val/loss", self.val_loss, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)
        return logits  # for callbacks (confusion matrix, misclassified images)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # not a real result: keep it out of the best
            return
        self.val_acc_best(self.val_acc.compute())  # val_acc is synced: the same on every rank
        # A tensor, not the metric object: Lightning would reset the running max every epoch.
        # sync_dist: equal on all ranks already (no warning under DDP); "max" of them is exact.
        best = self.val_acc_best.compute()
        self.log("val/acc_best", best, prog_bar=True, sync_dist=True, reduce_fx="max")

    def test_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self._step(batch)
        self.test_loss.update(loss, weight=self._count(loss, y))
        self.test_acc.update(logits, y)
        self.log("test/loss", self.test_loss, on_epoch=True)
        self.log("test/acc", self.test_acc, on_epoch=True)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).softmax(dim=1)

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise RuntimeError("Classifier needs an optimizer factory to train (optimizer=...)")
        trainer, hp = self.trainer, self.hparams
        mixed = isinstance(trainer.precision_plugin, MixedPrecision)
        clipping = mixed and bool(trainer.gradient_clip_val)
        params, device = self.parameters(), self.device
        optimizer = optimizers.build(self.optimizer_factory, params, device, clipping)
        if self.scheduler_factory is None:
            return optimizer
        schedule = schedules.build(
            self.scheduler_factory, optimizer, trainer, hp.scheduler_interval,
            hp.scheduler_monitor, hp.warmup_epochs, hp.warmup_steps, hp.warmup_start_factor,
        )  # fmt: skip
        return {"optimizer": optimizer, "lr_scheduler": schedule}
