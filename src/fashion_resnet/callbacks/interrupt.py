"""What keeps a run's work safe: atomic checkpoint files (a full disk named in one line), a
mid-epoch checkpoint every few minutes, a checkpoint and a resume hint on SIGTERM/SIGINT, RNG
state in every checkpoint (exact resumes).
The stop on a non-finite loss is divergence.py's."""

from __future__ import annotations

import random
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from fashion_resnet.cli import console

say = rank_zero_only(console.say)  # not logging: must show whatever the log level


class LastByTime(ModelCheckpoint):
    """last.ckpt mid-epoch every `minutes` of training (ModelCheckpoint's train_time_interval):
    a kill loses minutes at most, and a run shorter than that writes nothing extra. The clock
    is read every `check_every_n_steps` optimizer steps (null: log_every_n_steps), not every
    batch: Lightning broadcasts rank 0's reading at each check, a collective under DDP."""

    def __init__(self, minutes: float = 5.0, check_every_n_steps: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        if minutes < 0 or (check_every_n_steps is not None and check_every_n_steps < 1):
            raise ValueError(f"LastByTime needs minutes >= 0 and check_every_n_steps >= 1 (or "
                             f"null), got {minutes} and {check_every_n_steps}")  # fmt: skip
        super().__init__(train_time_interval=timedelta(minutes=minutes), **kwargs)
        self.check_every_n_steps = check_every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        every = self.check_every_n_steps or trainer.log_every_n_steps or 1
        if trainer.global_step % every == 0:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


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
    """SIGTERM or SIGINT stops training after the current batch; then write
    `run_dir/checkpoints/last.ckpt` and say how to resume. A second Ctrl-C aborts at once,
    keeping the previous checkpoint.

    The handler only notes the signal. Every rank then learns of it at the same batch end, where
    they agree (one collective under DDP) and each sets the flag Lightning's own handler would
    have set, so all ranks stop after the same batch and save together. Lightning's handler is
    not used: under DDP it forwards the signal to the other ranks (a terminal's Ctrl-C reaches
    them already: twice is an abort) and starts a collective from inside the handler, at
    whatever point each rank has reached (a deadlock)."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)
        self.signalled = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.signalled = False

        def on_signal(signum, frame) -> None:
            if self.signalled and signum == signal.SIGINT:
                raise KeyboardInterrupt
            if not self.signalled:
                say("\nInterrupt: stopping after this batch (Ctrl-C again to abort)")
            self.signalled = True

        # Lightning's signal connector restores the previous handlers after fit.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.agree(trainer)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:  # fmt: skip
        if not trainer.sanity_checking:  # (Lightning stops mid-validation too)
            self.agree(trainer)

    def agree(self, trainer: pl.Trainer) -> None:
        """Stop on every rank if any rank was signalled. Every rank reaches this at the same
        batch; the collective's cost is a scalar per batch, beside DDP's gradient all-reduce
        (and Lightning 2.6 broadcasts and reads a stop flag of its own every step under DDP)."""
        stop = self.signalled
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:  # Lightning raises SIGTERMException at this batch's end, on every rank
            trainer._signal_connector.received_sigterm = True

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException):
            return  # a crash or a divergence: the last good checkpoint stays as it is
        path = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # all of it: a resume needs it
        say(
            f"\nStopped by a signal at step {trainer.global_step} (epoch {trainer.current_epoch})."
            f"\nSaved {path}\nResume with: fashion-train ckpt_path={self.run_dir}"
        )
