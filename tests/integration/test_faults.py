"""Faults during a run, in-process: a non-finite loss, a signal mid-epoch (then the resume), and
scripts/fault_drill.sh when its run never checkpoints. The pieces each fault relies on have their
unit tests: unit/test_atomic.py, test_checkpoint_io.py, test_checkpoints.py, test_divergence.py,
test_interrupt.py, test_resume.py."""

import logging
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides

from fashion_resnet.callbacks.divergence import DivergenceError
from fashion_resnet.models.classifier import Classifier
from fashion_resnet.runs import resume
from fashion_resnet.runs.checkpoint_io import AtomicCheckpointIO
from fashion_resnet.train import train


def tiny(fake_data_dir, tmp_path, *extra):
    return [*tiny_overrides(fake_data_dir, tmp_path), *extra]


def test_non_finite_loss_stops_naming_step_and_lr_and_keeps_last_good_checkpoint(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch
):
    step = Classifier._step

    def nan_at_step_2(self, batch):
        loss, preds, y = step(self, batch)
        return (loss * float("nan") if self.trainer.global_step == 2 else loss), preds, y

    monkeypatch.setattr(Classifier, "_step", nan_at_step_2)
    # last.ckpt after every step (shipped: every 5 minutes), so that step 2's save is attempted
    every_step = ["callbacks.last_by_time.minutes=0",
                  "+callbacks.last_by_time.check_every_n_steps=1"]  # fmt: skip
    cfg = compose_cfg("train", tiny(fake_data_dir, tmp_path, "optimizer.lr=0.002", *every_step))
    last = tmp_path / "out" / resume.LAST
    # No check between logging steps (every 20 here): the save after step 2 finds the bad
    # weights and refuses, naming the step where the loss went bad.
    want = r"nan at step 2 \(epoch 0, learning rate 0.002\), found at step 3 .*last good"
    want += f" checkpoint is {last}"
    with pytest.raises(DivergenceError, match=want):
        train(cfg)
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for k, v in ckpt["state_dict"].items() if k[:4] == "net.")
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("log_every,found", [(1, 2), (50, 3)])
def test_divergence_is_found_at_a_logging_step_or_the_epoch_end_before_any_save(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch, log_every, found
):
    step = Classifier._step

    def inf_at_step_1(self, batch):
        loss, preds, y = step(self, batch)
        return (loss + float("inf") if self.trainer.global_step == 1 else loss), preds, y

    monkeypatch.setattr(Classifier, "_step", inf_at_step_1)
    over = tiny(fake_data_dir, tmp_path, f"trainer.log_every_n_steps={log_every}")
    with pytest.raises(DivergenceError, match=rf"train/loss is inf at step 1 \(epoch 0, learning "
                                              rf"rate 0.001\), found at step {found} "
                                              r".*no checkpoint was written yet"):  # fmt: skip
        train(compose_cfg("train", over))
    assert not list((tmp_path / "out").rglob("*.ckpt"))  # the epoch-end save never happened


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_resumable_checkpoint_and_resume_continues_mid_epoch(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch, capsys, caplog, signum
):
    training_step = Classifier.training_step
    seen = {}  # epoch -> the training images of that epoch, as bytes

    def signal_at_step_4(self, batch, batch_idx):
        seen.setdefault(self.current_epoch, []).extend(x.numpy().tobytes() for x in batch[0])
        if self.trainer.global_step == 4 and not self.trainer.ckpt_path:  # 2nd batch, 2nd epoch
            os.kill(os.getpid(), signum)
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(Classifier, "training_step", signal_at_step_4)
    lightning_log = logging.getLogger("pytorch_lightning")  # its own handler, not propagated
    lightning_log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    over = tiny(fake_data_dir, tmp_path, "trainer.max_epochs=3")
    with pytest.raises(SystemExit) as stop:
        train(compose_cfg("train", over))
    assert stop.value.code == 128 + signal.SIGTERM
    out = tmp_path / "out"
    assert f"Resume with: fashion-train ckpt_path={out}" in capsys.readouterr().err
    ckpt = torch.load(out / resume.LAST, weights_only=True)
    assert ckpt["global_step"] == 5  # the batch in flight finished, then the run stopped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after fit

    metrics = train(compose_cfg("train", [*over, "ckpt_path=last"]))
    lightning_log.removeHandler(caplog.handler)
    assert metrics["global_step"] == 9 and metrics["epochs"] == 3  # 3 epochs x 3 batches
    # The interrupted epoch went on where it stopped: no image twice, none left out.
    assert all(len(set(images)) == len(images) == 3 * 32 for images in seen.values()), {
        e: len(set(images)) for e, images in seen.items()
    }
    assert "weights_only" not in caplog.text  # the interrupt's save says what it saves


@pytest.mark.parametrize("body", ["exec sleep 60", "exit 3"])  # hangs; dies at once
def test_fault_drill_gives_up_when_no_checkpoint_comes(tmp_path, body):
    """It waited forever for a checkpoint, with whatever `python` was on PATH."""
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    drill = Path(__file__).resolve().parents[2] / "scripts" / "fault_drill.sh"
    env = {**os.environ, "PY": str(fake), "WAIT_S": "2"}
    out = subprocess.run([str(drill), str(tmp_path / "log")], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1
    assert "no checkpoint from the training run within 2 s" in out.stdout


def record_saves(monkeypatch) -> list[tuple[int, str]]:
    """(global step, file name) of every checkpoint written, in order."""
    saves = []
    save = AtomicCheckpointIO.save_checkpoint

    def recorded(self, ckpt, path, **kw):
        saves.append((ckpt["global_step"], Path(path).name))
        save(self, ckpt, path, **kw)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", recorded)
    return saves



def test_a_run_shorter_than_the_interval_writes_only_its_epoch_end_checkpoints(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch
):
    saves = record_saves(monkeypatch)
    train(compose_cfg("train", tiny(fake_data_dir, tmp_path, "trainer.max_epochs=2")))
    # the shipped callbacks: last.ckpt once at each epoch end (and epochNNN.ckpt when val/acc
    # improved), nothing mid-epoch (every 5 minutes) and no extra copy when training ends
    assert {step for step, _ in saves} == {3, 6}  # 3 batches per epoch
    assert [name for _, name in saves if name == "last.ckpt"] == ["last.ckpt"] * 2
    assert saves[0] == (3, "epoch000.ckpt")



def test_mid_epoch_saves_by_time_read_the_clock_every_n_steps_only(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch
):
    from pytorch_lightning.strategies import SingleDeviceStrategy

    saves, broadcasts = record_saves(monkeypatch), []
    broadcast = SingleDeviceStrategy.broadcast
    monkeypatch.setattr(SingleDeviceStrategy, "broadcast", lambda self, obj, src=0: (
        broadcasts.append(obj), broadcast(self, obj, src))[1])  # fmt: skip
    # ~model_checkpoint: the saves recorded are then the time-based callback's alone
    over = tiny(fake_data_dir, tmp_path, "trainer.max_epochs=2", "~callbacks.model_checkpoint",
                "trainer.limit_train_batches=6", "callbacks.last_by_time.minutes=0",
                "+callbacks.last_by_time.check_every_n_steps=4")  # fmt: skip
    train(compose_cfg("train", over))
    assert saves == [(4, "last.ckpt"), (8, "last.ckpt"), (12, "last.ckpt")]  # steps 4, 8, 12
    # Lightning's rank-0 clock reading (a bool: skip or not), at those steps only
    assert [b for b in broadcasts if isinstance(b, bool)] == [False] * 3

