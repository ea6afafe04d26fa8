"""What a run leaves in its folder, and the composition helpers both entry points share."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
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


def job_label() -> str:
    """A multirun job's swept values as one short name (its TensorBoard run); '' for a single run.
    Without a way to tell what was swept: all overrides but path-like ones ('/' nests folders)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    swept = swept_keys()
    mine = [o for o in overrides() if "/" not in o and not o.lstrip("+~").startswith("hydra")]
    label = [o for o in mine if _key(o) in swept] or mine
    return ",".join(label)[:200]  # file names stop at 255 bytes


def swept_keys() -> set[str]:
    """Keys a sweep varies: its sweeper's `params` and the sweeps on its command line (sys.argv in
    the launching process; multirun.yaml, which the basic sweeper saves, in any launcher)."""
    hc = HydraConfig.get()
    args = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    saved = Path(hc.sweep.dir) / "multirun.yaml"
    if saved.is_file():
        args += list(OmegaConf.load(saved).hydra.overrides.task)
    keys = {_key(f"{k}={v}") for k, v in (hc.sweeper.get("params") or {}).items()}
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except OverrideParseException:  # an argument that is not an override: params alone
        return keys
    return keys | {_key(o.input_line) for o in parsed if o.is_sweep_override()}


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


# `version: ${job_label:}` in conf/logger/tensorboard.yaml
OmegaConf.register_new_resolver("job_label", job_label, use_cache=False, replace=True)
