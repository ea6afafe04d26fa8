"""No host sync per training step with the shipped config, proved on the CPU: every call that
would read a tensor back to the host on a GPU (`.item()`, `bool()`, `float()`, `int()`,
`.cpu()`, `.tolist()`, `.numpy()`) or whose output size depends on the data (`unique`,
`nonzero`, `bincount`, `masked_select`, indexing by a boolean mask: the GPU must report the
size first) or that makes a tensor from host values (`torch.tensor`, `torch.as_tensor`: a
blocking host-to-device copy on a GPU) is recorded, with the training batch it happened in,
across a few steps of `fashion-train`'s default config (callbacks, logger, guards) on tiny
data.
Allowed: the first batch of the run (once-per-run views) and Lightning's logging steps, where
the logger and the divergence check read their values."""

from __future__ import annotations

import traceback
from collections import defaultdict

import pytest
import pytorch_lightning as pl
import torch
from conftest import tiny_overrides

from fashion_resnet.train import train

READS = ("item", "__bool__", "__float__", "__int__", "cpu", "tolist", "numpy")
SIZED = ("unique", "nonzero", "bincount", "masked_select")  # also torch.<name>
MADE = ("tensor", "as_tensor")  # host values made into a tensor: a host-to-device copy on a GPU
EVERY = 4  # trainer.log_every_n_steps and the progress bar's refresh rate in this test
STEPS = 3 * EVERY


class Bucket(pl.Callback):
    """Which training batch is running: from its on_train_batch_start to the next batch's
    (so the next batch's fetch and transfer count too) or the end of the training epoch."""

    batch: int | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.batch = batch_idx

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.batch = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self.batch = None


@pytest.fixture
def recorded_reads(monkeypatch):
    bucket, reads = Bucket(), defaultdict(list)

    def wrap(name, owner=torch.Tensor):
        original = getattr(owner, name)

        def read(self, *args, **kwargs):
            if name == "__getitem__" and not (
                isinstance(args[0], torch.Tensor) and args[0].dtype == torch.bool
            ):
                return original(self, *args, **kwargs)  # only x[mask] has a data-dependent size
            if name in MADE and isinstance(self, torch.Tensor):
                return original(self, *args, **kwargs)  # already a tensor: no copy from the host
            if bucket.batch is not None:
                stack = traceback.extract_stack()[:-1]
                # torch's single-tensor Adam reads its step counter, a CPU tensor on a GPU
                # run too (unless capturable): not a device sync.
                if not stack[-1].filename.endswith("torch/optim/optimizer.py"):
                    where = [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in stack]
                    call = f"{owner.__name__}.{name} from "
                    reads[bucket.batch].append(call + " <- ".join(where[-4:]))
            return original(self, *args, **kwargs)

        return read

    for name in (*READS, *SIZED, "__getitem__"):
        monkeypatch.setattr(torch.Tensor, name, wrap(name))
    for name in (*SIZED, *MADE):
        monkeypatch.setattr(torch, name, wrap(name, torch))
    return bucket, reads


def test_shipped_config_reads_nothing_back_between_logging_steps(
    compose_cfg, fake_data_dir, tmp_path, recorded_reads, monkeypatch
):
    bucket, reads = recorded_reads
    over = [
        *tiny_overrides(fake_data_dir, tmp_path),
        # the shipped callbacks, progress bar included, at this test's interval
        f"callbacks.progress_bar={{_target_: pytorch_lightning.callbacks.TQDMProgressBar, "
        f"refresh_rate: {EVERY}}}",
        f"trainer.log_every_n_steps={EVERY}",
        f"trainer.limit_train_batches={STEPS}",
        "data.batch_size=16",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
    ]
    cfg = compose_cfg("train", over)
    import fashion_resnet.train as entry

    instantiate_all = entry.hydra_job.instantiate_all

    def with_bucket(node):
        made = instantiate_all(node)
        return [*made, bucket] if node is cfg.get("callbacks") else made

    monkeypatch.setattr(entry.hydra_job, "instantiate_all", with_bucket)
    metrics = train(cfg)
    assert metrics["global_step"] == STEPS
    # Lightning logs when (steps done) % EVERY == 0: after batches EVERY-1, 2*EVERY-1, ...
    logging = {b for b in range(STEPS) if (b + 1) % EVERY == 0}
    assert logging <= set(reads), "the logging steps read nothing: is the recording working?"
    others = {b: calls for b, calls in reads.items() if b not in logging | {0}}
    assert not others, "host reads in training steps:\n" + "\n".join(
        f"batch {b}: {c}" for b, calls in sorted(others.items()) for c in sorted(set(calls))
    )
