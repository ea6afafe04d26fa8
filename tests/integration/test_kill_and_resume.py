"""Kill and resume, in real subprocesses: SIGKILL after the first epoch's checkpoint, resume with
`ckpt_path=<run folder>`, and end with exactly the weights and metrics of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import tiny_overrides

from fashion_resnet.runs import resume


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fashion_resnet.train", *args]


def deterministic(fake_data_dir, out_dir):
    return [
        *tiny_overrides(fake_data_dir, out_dir), "trainer.max_epochs=2",
        "trainer.deterministic=true", "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
    ]  # fmt: skip


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(fake_data_dir, tmp_path):
    ref_dir, run_dir = tmp_path / "ref" / "run", tmp_path / "killed" / "run"
    ref = subprocess.Popen(
        cli(*deterministic(fake_data_dir, tmp_path / "ref")), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    killed = subprocess.Popen(
        cli(*deterministic(fake_data_dir, tmp_path / "killed")), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    last = run_dir / resume.LAST
    deadline = time.time() + 180
    while not last.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert last.exists(), "the run ended before its first checkpoint"
    assert weights(last)["epoch"] == 0, "killed too late: the second epoch had already ended"
    assert not (run_dir / "metrics.json").exists()

    proc = subprocess.run(cli(f"ckpt_path={run_dir}"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ref.wait(timeout=300) == 0, ref.stderr.read()[-3000:]

    # Same folder, same config (the run's own overrides), same TensorBoard run.
    assert not (tmp_path / "killed" / "train").exists(), "the resume made a new run folder"
    events = (run_dir / "tensorboard").glob("events.out.tfevents.*")
    assert len({e.name.split(".")[-2] for e in events}) == 2  # written by two processes (pids)
    got, want = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, ref_dir))
    for name in ["test/acc", "test/loss", "val/acc_best", "val/acc", "train/loss", "global_step"]:
        assert got[name] == want[name], name
    a, b = weights(run_dir / resume.LAST), weights(ref_dir / resume.LAST)
    assert a["global_step"] == b["global_step"] == 4
    for k, v in b["state_dict"].items():
        assert torch.equal(a["state_dict"][k], v), k


def test_two_runs_started_together_get_different_folders(tmp_path):
    # data.image_size=12 fails our check right after Hydra made the run folder: a cheap run.
    args = cli("data.image_size=12", f"paths.log_dir={tmp_path}")
    procs = [subprocess.Popen(args, stderr=subprocess.DEVNULL) for _ in range(2)]
    assert all(p.wait(timeout=120) != 0 for p in procs)
    folders = list((tmp_path / "train" / "runs").iterdir())
    assert len(folders) == 2, folders


def test_resume_of_a_folder_without_checkpoint_says_so(tmp_path):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run(
        cli(f"ckpt_path={tmp_path}"), capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 2  # a user's mistake: one line, no traceback
    missing = f"cannot resume {tmp_path}: {tmp_path / resume.LAST} does not exist"
    assert proc.stderr.strip().splitlines()[-1].startswith(f"fashion-train: error: {missing}")
    assert "Traceback" not in proc.stderr
