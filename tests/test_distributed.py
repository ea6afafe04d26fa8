import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import pytorch_lightning as pl
from conftest import needs_extra, tiny_overrides
from hydra.types import RunMode
from omegaconf import read_write

from fashion_resnet.distributed import check_launch, per_rank_batch_size
from fashion_resnet.extras import SUBMITIT
from fashion_resnet.rundirs import run_stamp
from fashion_resnet.train import train

TESTS = Path(__file__).parent


def test_ranks_with_different_clocks_share_one_run_folder():
    t0, t1 = datetime(2026, 1, 1, 12, 0, 0, 999_999), datetime(2026, 1, 1, 12, 0, 1, 3)
    srun = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"}
    for env in ({"TORCHELASTIC_RUN_ID": "abc"}, srun, {"FASHION_RESNET_RUN_ID": "x"}):
        assert run_stamp(env, t0) == run_stamp(env, t1)
    assert run_stamp({**srun, "SLURM_ARRAY_TASK_ID": "3"}) == "slurm_7_3_0"
    assert run_stamp({**srun, "SLURM_STEP_ID": "1"}) != run_stamp(srun)  # 2nd srun, own folder
    # A single-task SLURM job (two runs in one allocation) falls back to the clock.
    single = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}
    assert run_stamp(single, t0) == "2026-01-01_12-00-00_999999"
    assert run_stamp({"TORCHELASTIC_RUN_ID": "none"}, t0) == "2026-01-01_12-00-00_999999"
    # Without a shared id, two processes a microsecond apart still get different folders.
    assert run_stamp({}, t0) != run_stamp({}, t0.replace(microsecond=0))


def test_global_batch_is_split_evenly():
    assert per_rank_batch_size(256, 4) == 64
    with pytest.raises(ValueError, match="data.batch_size=30 is the global batch.*multiple of 4"):
        per_rank_batch_size(30, 4)


@pytest.mark.parametrize(
    "strategy,multirun,refused",
    [("ddp", True, True), ("ddp", False, False), ("ddp_spawn", True, False)],
)
def test_guard_refuses_ddp_relaunch_inside_multirun(strategy, multirun, refused):
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)
    if refused:
        with pytest.raises(RuntimeError, match="would re-run the whole sweep in every extra rank"):
            check_launch(trainer, multirun)
    else:
        check_launch(trainer, multirun)


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


def test_ddp_cpu_two_processes_one_folder_synced_metrics(fake_data_dir, tmp_path):
    probe = tmp_path / "probe"
    proc = run_train(
        [*cli_overrides(fake_data_dir, tmp_path), "trainer=ddp_cpu",
         "+callbacks.probe._target_=ddp_probe.RecordRank", f"+callbacks.probe.out_dir={probe}"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 1, runs  # both ranks wrote into one run folder
    assert len(list(tmp_path.rglob("metrics.json"))) == 1  # written by rank 0 only
    r0, r1 = (json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert len(r0["seen"]) == len(r1["seen"]) == 3 * 16  # 3 batches of the global 32 / 2 ranks
    assert not set(r0["seen"]) & set(r1["seen"])  # each rank its own shard
    for name in ("val/acc", "val/loss", "test/acc", "test/loss"):
        assert r0["metrics"][name] == pytest.approx(r1["metrics"][name]), name  # synced
    saved = json.loads((runs[0] / "metrics.json").read_text())
    assert saved["test/acc"] == pytest.approx(r0["metrics"]["test/acc"])


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
