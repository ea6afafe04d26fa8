"""What a run leaves in its folder, and the composition helpers both entry points share."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def overrides() -> list[str]:
    """The command-line overrides of this job (for a multirun job: its own sweep values)."""
    return list(HydraConfig.get().overrides.task)


_UMASK = os.umask(0)  # read once, at import (single-threaded): umask can only be read by setting
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """`write(f)` into a hidden file beside `path`, fsync, then rename over `path`: a crash or a
    kill mid-write leaves the old file (or none), never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    def write(f: IO) -> None:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")

    atomic_write(path, write)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate each entry of a dict group (callbacks, loggers); null entries are skipped."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None]


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


# What the HPARAMS table compares: whole groups, plus the few trainer settings that change
# results. Paths and loader plumbing are left out (they differ between machines, not runs).
HPARAM_KEYS = ("seed", "model", "optimizer", "scheduler", "data")
HPARAM_TRAINER_KEYS = ("max_epochs", "precision", "accumulate_grad_batches", "gradient_clip_val")
NOT_HPARAMS = {"data_dir", "system_dir", "download", "verify", "num_workers", "pin_memory"}


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that matters for comparing runs, as a nested plain dict
    (`~scheduler` shows as scheduler: None)."""

    def plain(key: str) -> Any:
        node = cfg.get(key)
        return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node

    picked = {k: plain(k) for k in HPARAM_KEYS}
    picked["data"] = {k: v for k, v in (picked["data"] or {}).items() if k not in NOT_HPARAMS}
    trainer = plain("trainer") or {}
    picked["trainer"] = {k: trainer[k] for k in HPARAM_TRAINER_KEYS if k in trainer}
    return picked


def sweep_job_name() -> str:
    """In a multirun job: its overrides ("optimizer=sgd,optimizer.lr=0.1"), as one folder name;
    in a single run: "". Used as the TensorBoard run's version (conf/logger/tensorboard.yaml),
    so `tensorboard --logdir <sweep dir>` labels each job with what it changed."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return ""
    name = hc.job.override_dirname.replace("/", "_") or f"job{hc.job.num}"
    return name if len(name) <= 200 else name[:180] + "..." + name[-17:]  # 255-byte name limit


OmegaConf.register_new_resolver("sweep_job_name", sweep_job_name, replace=True)

def check_writable(folder: Path) -> None:
    """Fail before training, not at the first checkpoint an hour later."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise PermissionError(
            f"cannot write to the run folder {folder} ({e.strerror}): choose another with "
            "paths.log_dir=<folder> or hydra.run.dir=<folder>"
        ) from e
