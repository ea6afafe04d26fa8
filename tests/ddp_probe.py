"""A callback the DDP tests load into subprocess runs (PYTHONPATH=tests): each rank writes the
hashes of the training images it saw and its final logged metrics to rank<N>.json."""

import hashlib
import json
from pathlib import Path

import pytorch_lightning as pl


class RecordRank(pl.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir, self.seen = Path(out_dir), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # After the batch transfer the images are floats; hash each one as bytes.
        self.seen += [hashlib.md5(x.cpu().numpy().tobytes()).hexdigest() for x in batch[0]]

    def on_train_end(self, trainer, pl_module) -> None:
        self.fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    def on_test_end(self, trainer, pl_module) -> None:
        metrics = {**self.fit_metrics, **{k: float(v) for k, v in trainer.callback_metrics.items()}}
        record = {"seen": self.seen, "metrics": metrics, "world_size": trainer.world_size}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
