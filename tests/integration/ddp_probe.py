"""Callbacks the DDP tests load into subprocess runs (PYTHONPATH=tests).

RecordRank: each rank writes the hashes of the training images it saw (per epoch) and its
logged metrics to rank<N>.json, at the end of testing or when the run stops on an exception.
SignalAt: rank `rank` sends itself `signum` at a global step, as `kill <pid>` would."""

import hashlib
import json
import os
from pathlib import Path

import pytorch_lightning as pl


class RecordRank(pl.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir, self.seen, self.fit_metrics = Path(out_dir), {}, {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # After the batch transfer the images are floats; hash each one as bytes.
        hashes = [hashlib.md5(x.cpu().numpy().tobytes()).hexdigest() for x in batch[0]]
        self.seen.setdefault(str(trainer.current_epoch), []).extend(hashes)

    def on_train_end(self, trainer, pl_module) -> None:
        self.fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    def on_test_end(self, trainer, pl_module) -> None:
        self.write(trainer, {**self.fit_metrics, **self.metrics(trainer)})

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.write(trainer, self.metrics(trainer), stopped_by=type(exception).__name__)

    @staticmethod
    def metrics(trainer) -> dict:
        return {k: float(v) for k, v in trainer.callback_metrics.items()}

    def write(self, trainer, metrics: dict, **extra) -> None:
        record = {"seen": self.seen, "metrics": metrics, "world_size": trainer.world_size,
                  "global_step": trainer.global_step, **extra}  # fmt: skip
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class SignalAt(pl.Callback):
    def __init__(self, step: int, signum: int = 15, rank: int = 0) -> None:
        self.step, self.signum, self.rank = step, signum, rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        fresh = trainer.ckpt_path is None  # not again in the resumed run
        if fresh and trainer.global_step == self.step and trainer.global_rank == self.rank:
            os.kill(os.getpid(), self.signum)
