"""The stop on a non-finite loss, without a host sync per step, that never lets non-finite
weights into a checkpoint."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from fashion_resnet.errors import UserError


class DivergenceError(UserError, FloatingPointError):
    """Training diverged: the message names the step window, the learning rate and the last good
    checkpoint, which is all a user needs (lower the learning rate, resume): one line, exit 2."""


class DivergenceGuard(pl.Callback):
    """Stop a run whose training loss went non-finite, naming the step, its epoch and learning
    rate, and never let non-finite weights into a checkpoint.

    No host sync per step: each step's loss is checked on the device (the first non-finite
    step and its loss are kept in two device tensors). The host reads them only where Lightning
    syncs anyway: every `every_n_steps` steps (default: the trainer's log_every_n_steps), at the
    start of each epoch (the steps of the one before), before validation and at the end of
    training. Before every checkpoint save the weights about to be written are checked
    themselves, so a divergence between two checks never reaches a file: the last checkpoint
    on disk stays the last good one.

    Under DDP a check is a collective (any rank's loss counts), so it runs only in hooks where
    every rank has made the same collectives before it. Not in on_train_epoch_end: there rank 0's
    progress bar reads the epoch's metrics, and so syncs them (all_gather), before this hook,
    while the other ranks sync them only after it: the two ranks would wait on different
    collectives forever."""

    def __init__(self, every_n_steps: int | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1 (or null: log_every_n_steps), got "
                             f"{every_n_steps}")  # fmt: skip
        self.every_n_steps = every_n_steps
        self.first_bad: torch.Tensor | None = None  # () int64 on the device: step, -1 = none
        self.bad_loss: torch.Tensor | None = None  # () float32 on the device
        self.history: dict[int, tuple[int, list[float]]] = {}  # step -> (epoch, lrs) since check
        self.last_check = 0  # global step of the last check that passed

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # torch.full is a fill kernel on the device: no host-to-device copy
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=pl_module.device)
        self.bad_loss = torch.zeros((), device=pl_module.device)
        self.history, self.last_check = {}, trainer.global_step

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        if self.first_bad is None:  # a loop without on_train_start (not Trainer.fit)
            self.on_train_start(trainer, pl_module)
        step = trainer.global_step
        lrs = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]
        self.history[step] = (trainer.current_epoch, lrs)  # host values only: no sync
        new = (self.first_bad < 0) & ~torch.isfinite(loss.detach()).all()
        self.first_bad = torch.where(new, step, self.first_bad)
        self.bad_loss = torch.where(new, loss.detach().float(), self.bad_loss)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        every, step = self.every_n_steps or trainer.log_every_n_steps, trainer.global_step
        # step != last_check: with gradient accumulation the step stays put for several batches
        # (and is 0 before the first optimizer step): one sync per step reached, not per batch.
        if every and step % every == 0 and step != self.last_check:
            self.check(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self.last_check:  # the previous epoch's unchecked steps
            self.check(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":  # not the sanity check (before on_train_start)
            self.check(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Raising here stops Trainer.save_checkpoint before anything is written. Weights and
        # buffers only: metric states may be infinite (MaxMetric starts at -inf).
        names = [n for n, _ in (*pl_module.named_parameters(), *pl_module.named_buffers())]
        state = checkpoint.get("state_dict", {})
        floats = [state[n] for n in names if n in state and state[n].is_floating_point()]
        if floats and not bool(torch.stack([torch.isfinite(v).all() for v in floats]).all()):
            self.check(trainer, weights_bad=True)

    def check(self, trainer: pl.Trainer, weights_bad: bool = False) -> None:
        """Read the device flag (one host sync); raise DivergenceError if it is set."""
        if self.first_bad is None:
            return
        if weights_bad:  # the same weights on every rank: no collective needed (or safe)
            raise DivergenceError(self.message(trainer))
        # Any rank's loss: these checks run at the same steps on every rank (collective).
        if not trainer.strategy.reduce_boolean_decision(bool(self.first_bad >= 0), all=False):
            self.history = {}
            self.last_check = trainer.global_step
            return
        raise DivergenceError(self.message(trainer))

    def message(self, trainer: pl.Trainer) -> str:
        step, now = int(self.first_bad), trainer.global_step
        current = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]
        if step >= 0:
            what = f"train/loss is {float(self.bad_loss)} at step {step}"
            epoch, lrs = self.history.get(step, (trainer.current_epoch, current))
        else:  # finite loss here: another rank's loss went bad first (DDP)
            what = f"the weights became non-finite between steps {self.last_check} and {now}"
            epoch, lrs = trainer.current_epoch, current
        last = next((c.last_model_path for c in trainer.checkpoint_callbacks if c.last_model_path),
                    None)  # fmt: skip
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        return (
            f"{what} (epoch {epoch}, learning rate {', '.join(f'{lr:g}' for lr in lrs)}), found "
            f"at step {now} (the check at step {self.last_check} had passed): the run diverged; "
            f"{kept}. Lower optimizer.lr or clip gradients (trainer.gradient_clip_val=1.0) and "
            "start again."
        )
