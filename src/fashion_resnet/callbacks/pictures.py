"""TensorBoard's pictures (conf/callbacks/): the first training batch, the confusion matrix,
per-class accuracy and the worst mistakes after each validation, the graph, histograms.

Cost model: per training/validation step only cheap tensor bookkeeping on the device (no host
sync, no figure); figures are drawn at most once per validation epoch from accumulated metrics
(by figures.py), in a fit at most once a minute (ValidationFigures.interval_s). Without a
TensorBoardLogger only the per-class accuracy scalars are logged.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from fashion_resnet.callbacks import figures
from fashion_resnet.callbacks.scalars import step, tag, tensorboard


def data_classes(trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[str]:
    """The class names of the data being fit: its DataModule's facts, else the ones the model
    stores (a checkpoint's), else the class indices."""
    facts = getattr(trainer.datamodule, "facts", None)
    if facts is not None:
        return list(facts.classes)
    hparams = getattr(pl_module, "hparams", {})
    if hparams.get("data"):
        return list(hparams["data"]["classes"])
    return [str(i) for i in range(hparams.get("num_classes", 0))]


class AtFirstBatch(pl.Callback):
    """Calls `write(writer, trainer, pl_module, batch)` once, at the first training batch of
    the run, when there is a TensorBoard writer (rank 0)."""

    done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.done:
            return
        writer = tensorboard(trainer)
        if writer is not None:
            self.done = True
            self.write(writer, trainer, pl_module, batch)

    def write(self, writer, trainer: pl.Trainer, pl_module: pl.LightningModule, batch) -> None:
        raise NotImplementedError


class InputGrid(AtFirstBatch):
    """Once, at the first training step: the batch exactly as the model gets it (after resize,
    normalisation and augmentation), with each image's label."""

    def __init__(self, max_images: int = 64, class_names: Sequence[str] | None = None) -> None:
        self.max_images = max_images
        self.class_names = list(class_names) if class_names else None  # None: the data's

    def write(self, writer, trainer, pl_module, batch) -> None:
        self.class_names = self.class_names or data_classes(trainer, pl_module)
        x, y = batch[0][: self.max_images], batch[1][: self.max_images]
        if y.ndim == 2:  # mixup/cutmix: the two classes mixed and the first one's share
            share, k = y.topk(2, dim=1)
            names = self.class_names
            titles = [f"{names[a]} {s:.2f}/{names[b]}" for (a, b), (s, _) in
                      zip(k.tolist(), share.tolist(), strict=True)]  # fmt: skip
        else:
            titles = [self.class_names[i] for i in y.tolist()]
        lo, hi = float(x.min()), float(x.max())
        title = f"model input {tuple(x.shape[1:])}, values in [{lo:.3f}, {hi:.3f}]"
        grid = figures.image_grid(x, titles, (lo, hi), title)
        writer.add_image("inputs/train_batch", grid, step(trainer), dataformats="HWC")


class ValidationFigures(pl.Callback):
    """After a validation epoch: the confusion matrix with class names, per-class accuracy
    (scalars val_class_acc/<class>, every epoch) and the most confidently misclassified images.

    Drawing takes about a second of matplotlib while the device waits: in a fit the figures are
    drawn at the first validation, then at most once per `interval_s` seconds, and always for
    the last validation (drawn when training ends if its turn was skipped). On a CPU, where an
    epoch takes minutes, that is every epoch; a seconds-long GPU epoch draws a few times a run.

    Needs validation_step to return the logits (B, C). Per step: a confusion-matrix update and
    a top-k on the device. Under DDP the confusion matrix covers all ranks; the misclassified
    images are rank 0's shard."""

    def __init__(
        self,
        max_misclassified: int = 25,
        class_names: Sequence[str] | None = None,  # None: the data's
        interval_s: float = 60.0,  # seconds between drawings in a fit; 0: every validation
    ) -> None:
        if interval_s < 0:
            raise ValueError(f"interval_s must be >= 0 (seconds), got {interval_s}")
        self.k = max_misclassified
        self.class_names = list(class_names) if class_names else None
        self.interval_s = interval_s
        self.confmat = MulticlassConfusionMatrix(len(class_names)) if class_names else None
        self.drawn_at: float | None = None  # time.monotonic() of the last drawing
        self.pending = None  # a skipped validation's (counts, worst, step): drawn at the end

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.confmat is None:
            self.class_names = data_classes(trainer, pl_module)
            self.confmat = MulticlassConfusionMatrix(len(self.class_names))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.confmat = self.confmat.to(pl_module.device)
        self.confmat.reset()
        self.worst = None  # (confidence, images, labels, predictions) of the current top-k

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2:
            raise TypeError(
                "ValidationFigures needs validation_step to return the logits (B, C); got "
                f"{type(outputs).__name__}. Remove it with ~callbacks.val_figures"
            )
        x, y = batch
        logits = outputs.detach().float()
        self.confmat.update(logits, y)
        conf, pred = logits.softmax(dim=1).max(dim=1)
        conf = torch.where(pred != y, conf, -1.0)  # right answers never win; no host sync
        candidates = (conf, x.detach(), y, pred)
        if self.worst is not None:
            candidates = tuple(torch.cat(p) for p in zip(self.worst, candidates, strict=True))
        top = candidates[0].topk(min(self.k, len(candidates[0]))).indices
        self.worst = tuple(t[top] for t in candidates)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        counts = self.confmat.compute()  # on every rank: under DDP this is a collective
        if trainer.sanity_checking:
            return
        support = counts.sum(dim=1)
        per_class = (counts.diag() / support.clamp(min=1)).tolist()
        # The counts are already summed over all ranks, so every rank logs the same values:
        # sync_dist tells Lightning so (else it warns once per class under DDP), and "max" of
        # equal values is exact where a mean over 3 ranks might round.
        pl_module.log_dict({
            f"val_class_acc/{tag(name)}": acc
            for name, acc, n in zip(self.class_names, per_class, support.tolist(), strict=True)
            if n > 0  # a class absent from the validation set has no accuracy
        }, sync_dist=True, reduce_fx="max")  # fmt: skip
        if tensorboard(trainer) is None:
            return
        now, fitting = time.monotonic(), trainer.state.fn == "fit"
        due = self.drawn_at is None or now - self.drawn_at >= self.interval_s
        self.pending = (counts, self.worst, step(trainer))
        if due or not fitting:
            self.draw(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.draw(trainer)  # the last validation, if its turn was skipped

    def draw(self, trainer: pl.Trainer) -> None:
        writer = tensorboard(trainer)
        if self.pending is None or writer is None:
            return
        (counts, worst, at), self.pending = self.pending, None
        self.drawn_at = time.monotonic()
        cm = figures.confusion_matrix(counts, self.class_names)
        writer.add_image("val/confusion_matrix", cm, at, dataformats="HWC")
        if worst is None:
            return
        conf, x, y, pred = worst
        wrong = conf >= 0
        if wrong.any():
            rows = zip(y[wrong].tolist(), pred[wrong].tolist(), conf[wrong].tolist(), strict=True)
            titles = [
                f"{self.class_names[t]}\nas {self.class_names[p]} {c:.2f}" for t, p, c in rows
            ]
            title = "most confident mistakes: true class, predicted class, probability"
            grid = figures.image_grid(x[wrong], titles, title=title)
            writer.add_image("val/misclassified", grid, at, dataformats="HWC")


class ModelGraph(AtFirstBatch):
    """Once, at the first training step: the backbone's graph (GRAPHS tab), traced with one
    real input."""

    def write(self, writer, trainer, pl_module, batch) -> None:
        net = getattr(pl_module, "net", pl_module)
        was_training = net.training
        net.eval()  # BatchNorm must not update its running statistics while traced
        with torch.no_grad(), warnings.catch_warnings():
            # add_graph traces with torch.jit.trace, which warns that it is deprecated
            warnings.simplefilter("ignore", FutureWarning)
            writer.add_graph(net, batch[0][:1])
        net.train(was_training)


class Histograms(pl.Callback):
    """Weight and gradient histograms (HISTOGRAMS tab) after the last training batch of every
    `every_n_epochs`-th epoch. Gradients are that batch's, as backward left them (scaled
    when a GradScaler is used, i.e. precision=16-mixed)."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        last = batch_idx + 1 == trainer.num_training_batches
        if not last or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        writer = tensorboard(trainer)
        if writer is None:
            return
        for name, p in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step(trainer))
            if p.grad is not None:
                writer.add_histogram(f"grads/{name}", p.grad.detach().float().cpu(), step(trainer))
