"""Faults and bad inputs, in-process: interrupted writes, signals, a non-finite loss, corrupt or
mismatched checkpoints, an output folder that cannot be written, resume argument rewriting."""

import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FULL_NET, tiny_overrides

from fashion_resnet import checkpoints, files, resume, rundirs
from fashion_resnet.cli import UserError
from fashion_resnet.divergence import DivergenceError
from fashion_resnet.guards import AtomicCheckpointIO, RngState
from fashion_resnet.model import Classifier
from fashion_resnet.train import train


def half_write_then_fail(f, *args, **kwargs):
    f.write(b"partial" if "b" in getattr(f, "mode", "") else "partial")
    raise OSError(28, "No space left on device")


def test_interrupted_checkpoint_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    monkeypatch.setattr(torch, "save", lambda obj, f: half_write_then_fail(f))
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no half-written temporary left behind


def test_interrupted_metrics_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    files.write_json(path, {"test/acc": 0.9})
    monkeypatch.setattr(json, "dump", lambda data, f, **kw: half_write_then_fail(f))
    with pytest.raises(OSError):
        files.write_json(path, {"test/acc": 0.1})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"test/acc": 0.9}
    assert list(tmp_path.iterdir()) == [path]
    assert path.stat().st_mode & 0o044  # readable by others, like any file (umask permitting)


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    torch.save({"rng": RngState().state_dict()}, tmp_path / "c.ckpt")
    want = torch.rand(3), np.random.rand(3), random.random()
    RngState().load_state_dict(torch.load(tmp_path / "c.ckpt", weights_only=True)["rng"])
    got = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(got[0], want[0]) and (got[1] == want[1]).all() and got[2] == want[2]


def tiny(fake_data_dir, tmp_path, *extra):
    return [*tiny_overrides(fake_data_dir, tmp_path), "callbacks.model_summary=null", *extra]


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
    over = tiny(fake_data_dir, tmp_path, f"trainer.log_every_n_steps={log_every}",
                "~callbacks.last_by_time")  # fmt: skip
    with pytest.raises(DivergenceError, match=rf"train/loss is inf at step 1 \(epoch 0, learning "
                                              rf"rate 0.001\), found at step {found} "
                                              r".*no checkpoint was written yet"):  # fmt: skip
        train(compose_cfg("train", over))
    assert not list((tmp_path / "out").rglob("*.ckpt"))  # the epoch-end save never happened


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_resumable_checkpoint_and_resume_continues_mid_epoch(
    compose_cfg, fake_data_dir, tmp_path, monkeypatch, capsys, signum
):
    training_step = Classifier.training_step

    def signal_at_step_4(self, batch, batch_idx):
        if self.trainer.global_step == 4:  # second batch of the second epoch
            os.kill(os.getpid(), signum)
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(Classifier, "training_step", signal_at_step_4)
    over = tiny(fake_data_dir, tmp_path, "trainer.max_epochs=3")
    with pytest.raises(SystemExit) as stop:
        train(compose_cfg("train", over))
    assert stop.value.code == 128 + signal.SIGTERM
    out = tmp_path / "out"
    assert f"Resume with: fashion-train ckpt_path={out}" in capsys.readouterr().err
    ckpt = torch.load(out / resume.LAST, weights_only=True)
    assert ckpt["global_step"] == 5  # the batch in flight finished, then the run stopped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after fit

    monkeypatch.setattr(Classifier, "training_step", training_step)
    metrics = train(compose_cfg("train", [*over, "ckpt_path=last"]))
    assert metrics["global_step"] == 9 and metrics["epochs"] == 3  # 3 epochs x 3 batches


def save_fake_checkpoint(path, net=FULL_NET, state_net=FULL_NET):
    model = Classifier({k: v for k, v in state_net.items()})
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {"net": net}}, path)


@pytest.mark.parametrize(
    "write,match",
    [
        (lambda p: p.write_bytes(b"\x00" * 100), "is not a readable checkpoint"),
        (lambda p: torch.save({"w": torch.zeros(2)}, p), "is not a fashion_resnet checkpoint"),
        (lambda p: save_fake_checkpoint(p, net={**FULL_NET, "arch": "resnet34"}),
         r"another architecture \(model.net.arch: checkpoint 'resnet34', config 'resnet18'\)"),
    ],
)  # fmt: skip
def test_bad_checkpoint_fails_before_training(compose_cfg, tmp_path, write, match):
    path = tmp_path / "bad.ckpt"
    write(path)
    cfg = compose_cfg("train", [f"ckpt_path={path}", "data.data_dir=/nonexistent"])
    with pytest.raises(checkpoints.CheckpointError, match=match):
        train(cfg)  # raised before the (missing) data is looked for


@pytest.mark.parametrize("content", [torch.zeros(3), [torch.zeros(2)], {"w": torch.zeros(2)}])
def test_a_pt_file_that_is_no_checkpoint_is_named(tmp_path, content):
    """A saved tensor once raised torch's RuntimeError from `"state_dict" in tensor`."""
    path = tmp_path / "weights.pt"
    torch.save(content, path)
    with pytest.raises(checkpoints.CheckpointError, match="is not a fashion_resnet checkpoint"):
        checkpoints.read(path)


def test_truncated_checkpoint_is_reported(tmp_path):
    path = tmp_path / "t.ckpt"
    save_fake_checkpoint(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(checkpoints.CheckpointError, match="is not a readable checkpoint"):
        checkpoints.load_model(path)


def test_weights_of_another_architecture_are_reported(tmp_path):
    path = tmp_path / "m.ckpt"
    save_fake_checkpoint(path, state_net={**FULL_NET, "arch": "resnet34"})
    with pytest.raises(checkpoints.CheckpointError, match="weights do not match the architecture"):
        checkpoints.load_model(path)


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match=f"cannot write to the run folder {blocker}/run"):
        rundirs.check_writable(blocker / "run")


def make_run(folder, overrides):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (folder / "checkpoints").mkdir()
    (folder / resume.LAST).write_bytes(b"")
    return folder


def test_rewrite_args_resumes_a_run_folder_with_its_own_overrides(tmp_path):
    run = make_run(tmp_path / "r", ["data.image_size=28", "+data.verify=false", "ckpt_path=x"])
    args = resume.rewrite_args([f"ckpt_path={run}", "trainer.max_epochs=20", "data.image_size=32"])
    assert args == [
        "+data.verify=false", "trainer.max_epochs=20", "data.image_size=32",
        f"ckpt_path='{run / resume.LAST}'", f"hydra.run.dir='{run}'",
    ]  # fmt: skip


def test_rewrite_args_keeps_flags_in_place_and_ignores_deletions(tmp_path):
    run = make_run(tmp_path / "r", ["seed=1"])
    assert resume.rewrite_args(["~ckpt_path", "seed=2"]) == ["~ckpt_path", "seed=2"]
    args = resume.rewrite_args([f"ckpt_path={run}", "--resolve", "seed=2"])
    assert args[:2] == ["--resolve", "seed=2"]  # the saved seed=1 is replaced by the new seed=2


def test_rewrite_args_last_is_the_newest_run(tmp_path):
    runs_dir = tmp_path / "train" / "runs"
    make_run(runs_dir / "2026-01-01_00-00-00_000001", [])
    newest = make_run(runs_dir / "2026-01-01_00-00-00_000002", [])
    (runs_dir / "2026-01-02_00-00-00_000000").mkdir()  # started, no checkpoint yet
    args = resume.rewrite_args(["ckpt_path=last", f"paths.log_dir={tmp_path}"])
    assert args[-1] == f"hydra.run.dir='{newest}'"
    ckpt = str(tmp_path / "x.ckpt")
    assert resume.rewrite_args([f"ckpt_path={ckpt}"]) == [f"ckpt_path={ckpt}"]  # a file: as is
    with pytest.raises(UserError, match="no run with checkpoints/last.ckpt under"):
        resume.rewrite_args(["ckpt_path=last", f"paths.log_dir={tmp_path / 'empty'}"])


def test_truncated_and_altered_dataset_files_are_named(tmp_path):
    from conftest import write_fake_fashion_mnist

    from fashion_resnet.raw_files import MD5, DataNotFoundError, find_raw_files, read_idx_bytes

    raw = write_fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw", 20, 10)
    md5 = {n: hashlib.md5(read_idx_bytes(raw / f"{n}.gz")).hexdigest() for n in MD5}
    gz = raw / "t10k-images-idx3-ubyte.gz"
    good = gz.read_bytes()
    gz.write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(DataNotFoundError, match=f"{gz} is unreadable"):
        find_raw_files(tmp_path, system_dir=None, download=False, md5=md5)
    altered = bytearray(gzip.decompress(good))
    altered[-1] ^= 0xFF  # one pixel
    gz.write_bytes(gzip.compress(bytes(altered)))
    with pytest.raises(DataNotFoundError, match=f"{gz} has MD5 .*, expected {md5[gz.name[:-3]]}"):
        find_raw_files(tmp_path, system_dir=None, download=False, md5=md5)


@pytest.mark.parametrize("body", ["exec sleep 60", "exit 3"])  # hangs; dies at once
def test_fault_drill_gives_up_when_no_checkpoint_comes(tmp_path, body):
    """It waited forever for a checkpoint, with whatever `python` was on PATH."""
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    drill = Path(__file__).resolve().parents[1] / "scripts" / "fault_drill.sh"
    env = {**os.environ, "PY": str(fake), "WAIT_S": "2"}
    out = subprocess.run([str(drill), str(tmp_path / "log")], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1
    assert "no checkpoint from the training run within 2 s" in out.stdout


def test_divergence_check_runs_once_per_step_reached_under_gradient_accumulation():
    from types import SimpleNamespace

    from fashion_resnet.divergence import DivergenceGuard

    guard, checked = DivergenceGuard(every_n_steps=2), []
    guard.check = lambda trainer: (checked.append(trainer.global_step),
                                   setattr(guard, "last_check", trainer.global_step))  # fmt: skip
    for step in (0, 0, 1, 1, 2, 2, 3, 3, 4, 4):  # accumulate_grad_batches=2
        guard.on_train_batch_end(SimpleNamespace(global_step=step), None, None, None, 0)
    assert checked == [2, 4]  # not at step 0 (nothing stepped), not twice at a step


def test_a_missing_resume_checkpoint_is_a_user_error(tmp_path, compose_cfg):
    cfg = compose_cfg("train", ["ckpt_path=last"])
    with pytest.raises(UserError, match="last.ckpt' does not exist"):
        resume.checkpoint_for(cfg, tmp_path)


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
    over = tiny(fake_data_dir, tmp_path, "trainer.max_epochs=2", "~callbacks.model_checkpoint",
                "trainer.limit_train_batches=6", "callbacks.last_by_time.minutes=0",
                "+callbacks.last_by_time.check_every_n_steps=4")  # fmt: skip
    train(compose_cfg("train", over))
    assert saves == [(4, "last.ckpt"), (8, "last.ckpt"), (12, "last.ckpt")]  # steps 4, 8, 12
    # Lightning's rank-0 clock reading (a bool: skip or not), at those steps only
    assert [b for b in broadcasts if isinstance(b, bool)] == [False] * 3
