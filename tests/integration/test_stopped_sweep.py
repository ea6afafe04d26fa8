"""A sweep stopped half way, re-run into its own folder: finished jobs are skipped untouched,
a stopped one continues from its own last.ckpt, and the report has every job."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import tiny_overrides

from fashion_resnet import report
from fashion_resnet.runs import folders, history

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STEPS = 10  # 5 epochs of 2 batches


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fashion_resnet.train", *args]


def val_epochs(event_files) -> list[int]:
    """The epochs (1-based) whose val/acc these TensorBoard files hold."""
    values = history.tensorboard_values(sorted(event_files), ["val/acc"])
    return [epoch for epoch, _ in values["val/acc"]]


@pytest.mark.slow
def test_stopped_sweep_finishes_without_redoing_a_finished_job(fake_data_dir, tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        *tiny_overrides(fake_data_dir, tmp_path), "trainer.max_epochs=5",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        # one checkpoint file, last.ckpt, at each epoch end (half the writes): the time-based
        # one, checked every 2 steps with no minimum time
        "~callbacks.model_checkpoint", "callbacks.last_by_time.minutes=0",
        "+callbacks.last_by_time.check_every_n_steps=2",
        f"hydra.sweep.dir={sweep}", "seed=1,2",
    ]  # fmt: skip
    first = subprocess.Popen(cli("-m", *args), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    # Stop the sweep (SIGTERM, as a scheduler's preemption) once job 1 has a checkpoint.
    ckpt = sweep / "1" / folders.LAST
    deadline = time.time() + 300
    while not ckpt.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert not (sweep / "1" / "metrics.json").exists(), "stopped too late: job 1 had finished"
    stopped_at = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
    assert 2 <= stopped_at < STEPS

    done = sweep / "0" / "metrics.json"
    before = done.read_bytes(), done.stat().st_mtime_ns
    events0 = set((sweep / "0" / "tensorboard").rglob("events.out.tfevents.*"))
    events1 = set((sweep / "1" / "tensorboard").rglob("events.out.tfevents.*"))

    # The short form: the sweep's own command line, from its multirun.yaml.
    proc = subprocess.run(cli("-m", f"ckpt_path={sweep}"), capture_output=True, text=True,
                          timeout=300, env=ENV)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{sweep / '0'} finished before" in proc.stdout + proc.stderr

    assert (done.read_bytes(), done.stat().st_mtime_ns) == before  # not retrained, untouched
    assert set((sweep / "0" / "tensorboard").rglob("events.out.tfevents.*")) == events0
    resumed = json.loads((sweep / "1" / "metrics.json").read_text())
    assert resumed["global_step"] == STEPS and "seed=2" in resumed["overrides"]
    new = set((sweep / "1" / "tensorboard").rglob("events.out.tfevents.*")) - events1
    # Continued, not restarted: the re-run validated only the epochs the first run had not.
    assert sorted(val_epochs(events1) + val_epochs(new)) == [1, 2, 3, 4, 5]
    assert 1 not in val_epochs(new)
    assert not list(tmp_path.glob("train/multiruns/*")), "the re-run made a new sweep folder"

    assert report.main([str(sweep)]) == 0
    rows = (sweep / "report.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", "ok"], ["1", "ok"]]
