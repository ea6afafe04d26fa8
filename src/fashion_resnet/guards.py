"""What keeps a run's work safe: atomic checkpoint files, a checkpoint and a resume hint on
SIGTERM/SIGINT, RNG state in every checkpoint (exact resumes), and a stop on a non-finite loss
that never lets non-finite weights into a checkpoint."""

from __future__ import annotations

import random
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from fashion_resnet import cli
from fashion_resnet.cli import UserError
from fashion_resnet.files import atomic_write


class DivergenceError(UserError, FloatingPointError):
    """Training diverged: the message names the step window, the learning rate and the last good
    checkpoint, which is all a user needs (lower the learning rate, resume): one line, exit 2."""


@rank_zero_only
def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # not logging: must show whatever the log level


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a hidden file beside the target, fsync, then rename over it: a kill or a
    full disk mid-write leaves the previous checkpoint in place. (Lightning's own save writes to
    the system temp folder and moves the file: a copy, not a rename, when that is another disk.)"""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path):  # remote storage: fsspec's transaction is the best on offer
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        try:
            atomic_write(path, lambda f: torch.save(checkpoint, f), mode="wb")
        except (OSError, RuntimeError) as e:
            if not cli.disk_full(e):
                raise
            raise DiskFullError(disk_full_message(path)) from e


class DiskFullError(UserError, OSError):
    pass


def disk_full_message(path: Path) -> str:
    """Which folder is full, which checkpoint is still good, and how to go on."""
    folder = path.parent
    kept = [p for p in folder.glob("*.ckpt") if p.is_file()]  # hidden partial files excluded
    intact = max(kept, key=lambda p: p.stat().st_mtime) if kept else None
    message = f"No space left on the device of {folder}: {path.name} was not written"
    if intact is None:
        return message + "; there is no earlier checkpoint. Free some space and start again"
    resume = folder.parent if (folder.name == "checkpoints" and (folder / "last.ckpt").is_file()) \
        else intact  # fmt: skip
    return (
        f"{message}; the previous checkpoint {intact} is intact. Free some space, then resume "
        f"with: fashion-train ckpt_path={resume}"
    )


class RngState(pl.Callback):
    """Store the torch/CUDA/numpy/python RNG states in each checkpoint and restore them on resume,
    so that the data order and augmentation after an epoch-end resume are those of an
    uninterrupted run. Plain tensors and ints only: the checkpoint still loads weights_only."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        version, py_state, py_gauss = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": [version, list(py_state), py_gauss],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, py_state, py_gauss = state["python"]
        random.setstate((version, tuple(py_state), py_gauss))


class InterruptCheckpoint(pl.Callback):
    """SIGTERM (and SIGINT, routed to Lightning's SIGTERM handling) stops training after the
    current batch; then write `run_dir/checkpoints/last.ckpt` and say how to resume. A second
    Ctrl-C aborts at once, keeping the previous checkpoint."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        on_sigterm = signal.getsignal(signal.SIGTERM)  # Lightning's, set for the duration of fit
        if not callable(on_sigterm):
            return

        def on_sigint(signum, frame) -> None:
            if trainer.received_sigterm:
                raise KeyboardInterrupt
            say("\nInterrupt: stopping after this batch (Ctrl-C again to abort)")
            on_sigterm(signum, frame)

        # Lightning's signal connector restores the original SIGINT handler after fit.
        signal.signal(signal.SIGINT, on_sigint)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException):
            return  # a crash or a divergence: the last good checkpoint stays as it is
        path = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path)
        say(
            f"\nStopped by a signal at step {trainer.global_step} (epoch {trainer.current_epoch})."
            f"\nSaved {path}\nResume with: fashion-train ckpt_path={self.run_dir}"
        )


class DivergenceGuard(pl.Callback):
    """Stop a run whose training loss went non-finite, naming the step, its epoch and learning
    rate, and never let non-finite weights into a checkpoint.

    No host sync per step: each step's loss is checked on the device (the first non-finite
    step and its loss are kept in two device tensors). The host reads them only where Lightning
    syncs anyway: every `every_n_steps` steps (default: the trainer's log_every_n_steps), at the
    end of each epoch, before validation and at the end of training. Before every checkpoint
    save the weights about to be written are checked themselves, so a divergence between two
    checks never reaches a file: the last checkpoint on disk stays the last good one."""

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
        every = self.every_n_steps or trainer.log_every_n_steps
        if every and trainer.global_step % every == 0:
            self.check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
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
