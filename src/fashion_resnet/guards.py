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
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from fashion_resnet import cli, console
from fashion_resnet.cli import UserError
from fashion_resnet.files import atomic_write

say = rank_zero_only(console.say)  # not logging: must show whatever the log level


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
