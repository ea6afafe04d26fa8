"""Hydra glue: the resolvers the configs use, the running job's folder and overrides, and the one
parser through which every module reads override strings."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import InstantiationException, OverrideParseException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fashion_resnet.errors import UserError
from fashion_resnet.runs.folders import run_stamp


def register_resolvers() -> None:
    """`${run_stamp:}` (conf/hydra) and `${job_label:}` (conf/logger/tensorboard.yaml). Called by
    each entry point before Hydra composes; registering twice is harmless."""
    if not OmegaConf.has_resolver("run_stamp"):
        # Cached: every reference in one process (and so every folder it names) agrees.
        OmegaConf.register_new_resolver("run_stamp", lambda: run_stamp(), use_cache=True)
    if not OmegaConf.has_resolver("job_label"):
        OmegaConf.register_new_resolver("job_label", job_label, use_cache=False)


def load_env(folder: Path | None = None) -> Path | None:
    """Read `<folder>/.env` (default: the directory you run from, against which relative paths
    resolve too) into the environment, never overriding a variable already set: per-machine
    paths (FASHION_RESNET_DATA_DIR, ...) that conf/paths reads. Called by each entry point
    before Hydra composes; returns the file read, if any."""
    from dotenv import load_dotenv

    path = (folder or Path.cwd()) / ".env"
    if not path.is_file():
        return None
    load_dotenv(path, override=False)
    return path


# --- override strings --------------------------------------------------------------------------
def parse_overrides(args: Iterable[str]) -> list[Override]:
    """Hydra's own parser over command-line style overrides; flags (`-m`, `--cfg`) are skipped.
    Raises hydra.errors.OverrideParseException on text that is not an override."""
    lines = [a for a in args if not a.startswith("-")]
    return OverridesParser.create().parse_overrides(lines) if lines else []


def override_text(o: Override) -> str:
    """The value as typed (`3e-4`, `false`), quotes removed; '' for `~key`."""
    value = o.value()
    if isinstance(value, str):
        return value
    return o.input_line.split("=", 1)[1] if o.input_line and "=" in o.input_line else ""


def override_values(args: Iterable[str]) -> dict[str, str]:
    """key -> value as typed, the last one winning; a deletion shows as `~key` -> ''."""
    return {("~" if o.is_delete() else "") + o.key_or_group: override_text(o)
            for o in parse_overrides(args)}  # fmt: skip


def swept_keys(task_overrides: Iterable[str], sweeper_params: Mapping | None = None) -> set[str]:
    """Keys a sweep varies: sweeps on its command line (`lr=1,2`) and its sweeper's `params`."""
    params = [f"{k}={v}" for k, v in (sweeper_params or {}).items()]
    return {o.key_or_group for o in parse_overrides([*task_overrides, *params])
            if o.is_sweep_override() or o.input_line in params}  # fmt: skip


# --- the running job ---------------------------------------------------------------------------
def output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def overrides() -> list[str]:
    """The command-line overrides of this job (for a multirun job: its own sweep values)."""
    return list(HydraConfig.get().overrides.task)


def job_label() -> str:
    """A multirun job's swept values as one short name (its TensorBoard run); '' for a single run.
    Path-like overrides are left out ('/' would nest folders)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    swept = running_sweep_keys()
    mine = [o for o in parse_overrides(overrides())
            if "/" not in o.input_line and not o.key_or_group.startswith("hydra")]  # fmt: skip
    label = [o.input_line for o in mine if o.key_or_group in swept] or [o.input_line for o in mine]
    return ",".join(label)[:200]  # file names stop at 255 bytes


def running_sweep_keys() -> set[str]:
    """swept_keys of the sweep this job belongs to: the launching command line (sys.argv there),
    or multirun.yaml, which the sweeper saves for jobs in other processes."""
    hc = HydraConfig.get()
    task = [a for a in sys.argv[1:] if "=" in a]
    saved = Path(hc.sweep.dir) / "multirun.yaml"
    if saved.is_file():
        task += list(OmegaConf.load(saved).hydra.overrides.task)
    try:
        return swept_keys(task, hc.sweeper.get("params"))
    except OverrideParseException:  # an argument that is not an override: the params alone
        return swept_keys([], hc.sweeper.get("params"))


def build(node: Any, **kwargs: Any) -> Any:
    """instantiate(node, **kwargs), a user error of the constructor raised as itself: Hydra
    wraps it in an InstantiationException, hiding from callers the ConfigError it is."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, UserError):
            raise e.__cause__ from None
        raise


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate each entry of a dict group (callbacks, loggers); null entries are skipped."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None]


# What the HPARAMS table compares: whole groups, plus the few trainer settings that change
# results. Paths and loader plumbing are left out (they differ between machines, not runs).
HPARAM_KEYS = ("seed", "tags", "model", "optimizer", "scheduler", "data")
HPARAM_TRAINER_KEYS = ("max_epochs", "precision", "accumulate_grad_batches", "gradient_clip_val")
NOT_HPARAMS = {
    "data_dir",
    "system_dir",
    "download",
    "verify",
    "num_workers",
    "pin_memory",
    "root",
    "memory_limit_mb",
}


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


# Config options renamed, kept for one release: (group, old name) -> the new override.
RENAMED = {("experiment", "seed"): "experiment=reference"}


def renamed_choices() -> list[str]:
    """A deprecation message per renamed option this run picked."""
    choices = HydraConfig.get().runtime.choices
    return [f"{group}={old} is deprecated and will be removed in the next release: use {new}"
            for (group, old), new in RENAMED.items() if choices.get(group) == old]  # fmt: skip
