"""Making Lightning's DDP and Hydra's launchers work together; no distributed machinery of our
own. Three rules:

1. All ranks of one job write into one run folder: the folder name comes from an id every rank
   shares (torchrun's run id, SLURM's job id) instead of each rank's own clock.
2. `data.batch_size` is the global batch: each of the world's ranks gets an equal share.
3. Lightning's `ddp` re-launches ranks >= 1 with the original command line. Inside a Hydra
   multirun (`-m`) that replays the WHOLE sweep in every rank, each rank training with other
   hyperparameters, silently. We refuse that launch before training starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

import pytorch_lightning as pl
from omegaconf import OmegaConf


def run_stamp(env: Mapping[str, str] | None = None, now: datetime | None = None) -> str:
    """Run-folder name shared by every rank of a job.

    FASHION_RESNET_RUN_ID (set it yourself to pick the folder); torchrun's TORCHELASTIC_RUN_ID;
    for a multi-task SLURM step (srun), job id + array task + step id: the ranks of one step
    share it, two steps of one allocation do not, and a requeued job gets its folder back.
    Otherwise (one process) the local time to the microsecond.
    """
    env = os.environ if env is None else env
    if env.get("FASHION_RESNET_RUN_ID"):
        return env["FASHION_RESNET_RUN_ID"]
    if env.get("TORCHELASTIC_RUN_ID", "none") != "none":
        return f"torchrun_{env['TORCHELASTIC_RUN_ID']}"
    if env.get("SLURM_JOB_ID") and int(env.get("SLURM_NTASKS", "1")) > 1:
        parts = [env["SLURM_JOB_ID"], env.get("SLURM_ARRAY_TASK_ID"), env.get("SLURM_STEP_ID")]
        return "slurm_" + "_".join(p for p in parts if p)
    return (now or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S_%f")


# Resolved once per process and cached (use_cache) so every reference agrees.
if not OmegaConf.has_resolver("run_stamp"):
    OmegaConf.register_new_resolver("run_stamp", lambda: run_stamp(), use_cache=True)


def per_rank_batch_size(global_batch: int, world_size: int) -> int:
    if global_batch % world_size:
        raise ValueError(
            f"data.batch_size={global_batch} is the global batch and must divide evenly over "
            f"the {world_size} processes (devices x nodes); use a multiple of {world_size}"
        )
    return global_batch // world_size


def check_launch(trainer: pl.Trainer, multirun: bool) -> None:
    """Refuse a DDP launch that would replay a multirun in every rank (rule 3 above)."""
    # Private class, public behaviour: the launcher that re-runs sys.argv for ranks >= 1.
    from pytorch_lightning.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    launcher = getattr(trainer.strategy, "launcher", None)
    if multirun and isinstance(launcher, _SubprocessScriptLauncher) and trainer.world_size > 1:
        raise RuntimeError(
            "trainer.strategy=ddp inside a multirun (-m) would re-run the whole sweep in every "
            "extra rank, each training with different hyperparameters. Use "
            "trainer.strategy=ddp_spawn for sweeps on one machine, or one launcher job per DDP "
            "run (hydra/launcher=slurm: srun starts the ranks)."
        )
