"""Making Lightning's DDP and Hydra's launchers work together; no distributed machinery of our
own. Three rules:

1. All ranks of one job write into one run folder: the folder name comes from an id every rank
   shares (torchrun's run id, SLURM's job id) instead of each rank's own clock
   (`runs.folders.run_stamp`).
2. `data.batch_size` is the global batch: each of the world's ranks gets an equal share.
3. Lightning's `ddp` re-launches ranks >= 1 with the original command line. Inside a Hydra
   multirun (`-m`) that replays the WHOLE sweep in every rank, each rank training with other
   hyperparameters, silently. We refuse that launch before training starts.
"""

from __future__ import annotations

import pytorch_lightning as pl


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
