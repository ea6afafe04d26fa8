"""A sweep re-run into its own folder finishes what is missing.

Hydra's basic sweeper numbers a sweep's jobs in the same order for the same command line, so job
N of a re-run lands in folder N again. Each job looks at its own folder before training:
- `metrics.json` with the same overrides: the job finished; return its saved metrics (the
  sweeper gets the saved metric back) and train nothing;
- `checkpoints/last.ckpt` (stopped, killed, preempted) written by a job with the same
  overrides: resume from it (`ckpt_path=last`), in the same folder and TensorBoard run;
- neither: train from the start.
A folder left by a job with *other* overrides (the sweep changed, or a sweeper that numbers its
jobs anew on each call, such as Optuna) is refused, never overwritten.

`fashion-train -m ckpt_path=<sweep folder>` is the short form: the sweep's own command line
(saved in its multirun.yaml) with `hydra.sweep.dir=<sweep folder>`; new overrides win (`-m` is
added when missing: the folder says it is a sweep).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fashion_resnet.config.hydra_job import overrides, parse_overrides
from fashion_resnet.errors import UserError
from fashion_resnet.runs.folders import LAST

SAVED = "multirun.yaml"  # written into the sweep folder by Hydra's sweepers
log = logging.getLogger(__name__)


class SweepFolderError(RuntimeError):
    pass


def _saved_overrides(path: Path) -> list[str] | None:
    """The `overrides` a job recorded in metrics.json or run.json; None: no such record."""
    if not path.is_file():
        return None
    return list(json.loads(path.read_text()).get("overrides", []))


def _check_same_job(job_dir: Path, record: Path, mine: list[str]) -> None:
    theirs = _saved_overrides(record)
    if theirs is not None and sorted(theirs) != sorted(mine):
        only_theirs = sorted(set(theirs) - set(mine))
        only_mine = sorted(set(mine) - set(theirs))
        raise SweepFolderError(
            f"{job_dir} holds another job ({record.name}: {' '.join(only_theirs) or '-'}; this "
            f"job: {' '.join(only_mine) or '-'}). Re-run a sweep with its own command line "
            "(fashion-train -m ckpt_path=<sweep folder>), or give a changed sweep (or each "
            "Optuna call) a new hydra.sweep.dir"
        )


def skip_or_resume(cfg: DictConfig) -> dict[str, Any] | None:
    """For a multirun job: its saved metrics if it already finished (skip it), else None, with
    `cfg.ckpt_path` set to `last` when its folder holds a checkpoint to resume from."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    job_dir, mine = Path(hc.runtime.output_dir), overrides()
    metrics = job_dir / "metrics.json"
    if metrics.is_file():
        _check_same_job(job_dir, metrics, mine)
        log.info(f"{job_dir} finished before (metrics.json): not trained again")
        return json.loads(metrics.read_text())
    if (job_dir / LAST).is_file():  # its own progress, also over a ckpt_path it started from
        _check_same_job(job_dir, job_dir / "run.json", mine)
        log.info(f"{job_dir} resumes from {job_dir / LAST}")
        cfg.ckpt_path = "last"  # resume.checkpoint_for: <job folder>/checkpoints/last.ckpt
    return None


def rewrite_args(args: list[str], sweep: Path) -> list[str]:
    """`-m ckpt_path=<sweep> [overrides]` -> the sweep's saved overrides (task and hydra ones),
    the new overrides (they win), and `hydra.sweep.dir=<sweep>`."""
    saved = sweep / SAVED
    if not saved.is_file():
        raise UserError(
            f"cannot resume the sweep {sweep}: no {SAVED} in it (is it a sweep folder? sweeps "
            "are under logs/train/multiruns)"
        )
    hydra_overrides = OmegaConf.load(saved).hydra.overrides
    old = [*hydra_overrides.hydra, *hydra_overrides.task]
    given = [o for o in parse_overrides(args) if o.key_or_group != "ckpt_path"]
    replaced = {o.key_or_group for o in given} | {"hydra.sweep.dir", "hydra.mode"}
    kept = [o.input_line for o in parse_overrides(old) if o.key_or_group not in replaced]
    flags = [a for a in args if a.startswith("-")]
    if not {"-m", "--multirun"} & set(flags):  # a sweep folder is re-run as a sweep
        flags.insert(0, "-m")
    return [*flags, *kept, *(o.input_line for o in given), f"hydra.sweep.dir='{sweep}'"]
