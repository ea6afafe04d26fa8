"""Run folders: how they are named, which is the newest, and what a finished run holds
(`checkpoints/`, `metrics.json`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fashion_resnet.errors import UserError

LAST = Path("checkpoints") / "last.ckpt"


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


def runs_dir(log_dir: str | None = None, root_dir: str | None = None) -> Path:
    """Where `fashion-train` puts single runs (mirrors conf/paths and conf/hydra)."""
    if log_dir is None:
        log_dir = f"{root_dir or os.environ.get('FASHION_RESNET_ROOT', '.')}/logs"
    return Path(log_dir) / "train" / "runs"


def newest_run(folder: Path) -> Path:
    """The newest run under `folder` that has a last.ckpt."""
    runs = sorted(p.parent.parent for p in folder.glob(f"*/{LAST}"))
    if not runs:
        raise UserError(f"ckpt_path=last: no run with {LAST} under {folder}")
    return runs[-1]  # folder names start with the date and time: the last sorts newest


class FolderError(UserError, PermissionError):
    """An output folder that cannot be made or written: one line, exit status 2."""


RUN_FOLDER = "paths.log_dir=<folder> or hydra.run.dir=<folder>"


def check_writable(folder: Path, what: str = "the run folder", key: str = RUN_FOLDER) -> None:
    """Make `folder` and write into it now: fail before training, not at the first checkpoint
    an hour later."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise FolderError(
            f"cannot write to {what} {folder} ({e.strerror}): choose another with {key}"
        ) from e


def check_creatable(folder: Path, key: str) -> None:
    """`folder` exists as a writable folder or could be made, without making it (an export
    that fails leaves nothing behind): fail before the work, not when it is to be saved."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        problem = f"{existing} is a file"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise FolderError(f"cannot make the folder {folder}: {problem}; choose another with {key}")


def checkpoint_in(path: str | Path) -> Path:
    """A .ckpt file as is; a run folder -> its best checkpoint (from metrics.json), else
    checkpoints/last.ckpt."""
    from fashion_resnet.runs.checkpoints import CheckpointError  # torch and the model: only here

    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        best = run_metrics(path).get("best_ckpt")
        for candidate in (best, path / LAST):
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        raise CheckpointError(f"run folder {path} has no checkpoints/ with a best or last.ckpt")
    raise CheckpointError(f"checkpoint {str(path)!r} does not exist (give a .ckpt or a run folder)")


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """A run folder's metrics.json, or {} (a run that never finished, a loose checkpoint)."""
    metrics = Path(run_dir) / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.is_file() else {}


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Only the logged metrics (`val/acc`, `test/loss`, ...) of a metrics.json."""
    return {k: v for k, v in metrics.items() if "/" in k and isinstance(v, int | float)}


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Lightning's callback_metrics (tensors) as plain floats for metrics.json."""
    return {k: float(v) for k, v in metrics.items()}
