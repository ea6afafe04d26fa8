"""DDP and the submitit launcher in real processes: two CPU ranks share one run folder, their
own shards and synced metrics; a multirun of DDP jobs is refused before training."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import needs_extra, tiny_overrides
from hydra.types import RunMode
from omegaconf import read_write

from fashion_resnet.extras import SUBMITIT
from fashion_resnet.train import train

TESTS = Path(__file__).parent


def test_multirun_with_ddp_stops_before_training(compose_cfg, fake_data_dir, tmp_path):
    cfg = compose_cfg("train", [*tiny_overrides(fake_data_dir, tmp_path), "trainer=ddp_cpu"])
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
    from hydra.core.hydra_config import HydraConfig

    HydraConfig().set_config(cfg)
    with pytest.raises(RuntimeError, match="trainer.strategy=ddp_spawn"):
        train(cfg)
    assert not (tmp_path / "out" / "checkpoints").exists()


def run_train(args: list[str], tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "fashion_resnet.train", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
    )  # fmt: skip


def cli_overrides(data_dir: Path, tmp_path: Path) -> list[str]:
    # The conftest overrides minus the hydra.run.dir pin: these tests check the folder logic.
    return [o for o in tiny_overrides(data_dir, tmp_path) if not o.startswith("hydra.run.dir")]


def run_bounded(args: list[str], cwd: Path, timeout: float = 240) -> tuple[int, str]:
    """fashion-train in its own process group, every rank of it bounded in time: on a timeout
    (a deadlock) the whole group is killed and the test fails with the console's tail. Returns
    the status and the console (stdout + stderr) once every rank has exited."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "fashion_resnet.train", *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        out, _ = proc.communicate(timeout=timeout)
        while time.monotonic() < deadline:  # rank 1 may outlive rank 0 by a moment
            if not group_alive(proc.pid):
                return proc.returncode, out
            time.sleep(0.2)
    except subprocess.TimeoutExpired:
        out = ""
    os.killpg(proc.pid, signal.SIGKILL)
    out += proc.communicate()[0] or ""
    pytest.fail(f"fashion-train {' '.join(args[-3:])} ran past {timeout} s:\n{out[-3000:]}")


def group_alive(pgid: int) -> bool:
    """A process of this group is running (zombies, exited but not yet reaped, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)"
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def ranks(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_ddp_default_config_stopped_and_resumed_matches_one_process(fake_data_dir, tmp_path):
    """trainer=ddp_cpu with the shipped callbacks (progress bar on) for 2 epochs: SIGTERM to rank
    0 in the second epoch, then a resume in the run's folder. No deadlock, one run folder, every
    image of an epoch once, and per-class accuracies equal to one process on the same checkpoint
    and data; no warning on the console that a user could not act on."""
    probe = tmp_path / "probe"
    args = [*cli_overrides(fake_data_dir, tmp_path), "trainer=ddp_cpu", "trainer.max_epochs=2",
            "trainer.log_every_n_steps=2",  # below the 3 batches of an epoch (else a warning)
            "+callbacks.probe._target_=ddp_probe.RecordRank", f"+callbacks.probe.out_dir={probe}/1",
            "+callbacks.stop._target_=ddp_probe.SignalAt", "+callbacks.stop.step=4"]  # fmt: skip
    status, first = run_bounded(args, tmp_path)
    assert status == 128 + signal.SIGTERM, first[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()  # both ranks wrote into one run folder
    assert f"Resume with: fashion-train ckpt_path={run}" in first
    stopped = ranks(probe / "1")
    assert [r["global_step"] for r in stopped] == [5, 5]  # both ranks stopped after one batch
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5

    status, resumed = run_bounded([f"ckpt_path={run}", f"+callbacks.probe.out_dir={probe}/2"],
                                  tmp_path)  # fmt: skip
    assert status == 0, resumed[-3000:]
    assert list((tmp_path / "train" / "runs").iterdir()) == [run]
    assert len(list(tmp_path.rglob("metrics.json"))) == 1  # written by rank 0 only
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["epochs"] == 2 and saved["global_step"] == 6
    done = ranks(probe / "2")
    for r in (0, 1):  # each epoch: 3 batches of 16 per rank, each image once, as uninterrupted
        for epoch in ("0", "1"):
            images = stopped[r]["seen"].get(epoch, []) + done[r]["seen"].get(epoch, [])
            assert len(images) == len(set(images)) == 3 * 16, (r, epoch)
    for epoch in ("0", "1"):  # each rank its own shard
        assert not set(stopped[0]["seen"][epoch]) & set(stopped[1]["seen"][epoch])

    # The last validation (after epoch 2, whose weights last.ckpt holds) against one process.
    # in the precision the run chose for this CPU (bf16-mixed where it has native bf16)
    precision = json.loads((run / "run.json").read_text())["device"]["precision"]
    one = one_process_metrics(run / "checkpoints" / "last.ckpt", fake_data_dir, precision)
    per_class = sorted(k for k in one if k.startswith("val_class_acc/"))
    assert len(per_class) == 10
    for name in (*per_class, "val/acc"):
        assert done[0]["metrics"][name] == done[1]["metrics"][name] == one[name], name
    assert done[0]["metrics"]["val/loss"] == pytest.approx(one["val/loss"], rel=1e-5)
    assert saved["val_class_acc/Shirt"] == one["val_class_acc/Shirt"]

    console = first + resumed
    assert not re.search(r"(?i)warn|deprecat|weights_only|not resumable|not empty", console), (
        "\n".join(line for line in console.splitlines() if re.search(r"(?i)warn", line))
    )


def one_process_metrics(ckpt: Path, data_dir: Path, precision: str) -> dict[str, float]:
    """Validation of a checkpoint in this process, on one CPU, with the shipped per-class view."""
    from fashion_resnet.callbacks.pictures import ValidationFigures
    from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
    from fashion_resnet.runs.checkpoints import load_model

    model, data_args = load_model(ckpt)
    datamodule = FashionMNISTDataModule(**data_args)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, limit_val_batches=2,
                         precision=precision, callbacks=[ValidationFigures()],
                         enable_model_summary=False)  # fmt: skip
    trainer.validate(model, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_multirun_with_ddp_cli_fails_with_a_clear_message(fake_data_dir, tmp_path):
    proc = run_train(
        [
            "-m",
            *cli_overrides(fake_data_dir, tmp_path),
            "trainer=ddp_cpu",
            "optimizer.lr=1e-3,3e-4",
        ],
        tmp_path,
    )
    assert proc.returncode != 0
    assert "would re-run the whole sweep in every extra rank" in proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


@needs_extra("slurm", SUBMITIT)
def test_submitit_local_sweep_runs_two_jobs(fake_data_dir, tmp_path):
    proc = run_train(
        ["-m", *cli_overrides(fake_data_dir, tmp_path), "hydra/launcher=submitit_local",
         "hydra.launcher.timeout_min=5", "optimizer.lr=1e-3,3e-4"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((tmp_path / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1
    results = sorted(sweeps[0].glob("*/metrics.json"))
    assert [p.parent.name for p in results] == ["0", "1"]
    lrs = [json.loads(p.read_text())["overrides"] for p in results]
    assert "optimizer.lr=0.001" in lrs[0] and "optimizer.lr=0.0003" in lrs[1]
