"""The Ray side of the launcher: connect (or start a local Ray), submit one task per job, wait."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.fashion_resnet_ray.ray_launcher import job_resources

log = logging.getLogger(__name__)


def _run_job(
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """One job, in a Ray worker: Hydra's own run_job, from the sweep's working directory when
    this machine has it (relative paths in the config then mean what they meant to the sweep)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    if Path(sweep_config.hydra.runtime.cwd).is_dir():
        os.chdir(sweep_config.hydra.runtime.cwd)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = ray.get_runtime_context().get_task_id()
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
    config, context = launcher.config, launcher.hydra_context
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        init = OmegaConf.to_container(OmegaConf.create(launcher.init), resolve=True)
        ray.init(address=launcher.address, **init)
    remote = OmegaConf.to_container(OmegaConf.create(launcher.remote), resolve=True)
    options = job_resources(remote, ray.cluster_resources().get("GPU", 0))
    log.info(f"Ray launcher: {len(job_overrides)} jobs, each asking for {options}, into "
             f"{config.hydra.sweep.dir}")  # fmt: skip
    task = ray.remote(**options)(_run_job)
    pending = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        sweep_config = context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.num = idx
        pending.append(task.remote(context, sweep_config, launcher.task_function,
                                   Singleton.get_state()))  # fmt: skip
    return ray.get(pending)
