"""`hydra/launcher=ray`: each sweep job is one Ray task that asks for its own resources
(`num_gpus: 1` on a cluster with GPUs, CPUs otherwise), so a cluster with N GPUs runs N jobs at
once and Ray queues the rest. Built on Ray's task API (`ray.remote`) and Hydra's `run_job`, as
Hydra's own launchers are. (The released hydra-ray-launcher 1.2.2 requires cloudpickle<3, which
would downgrade the cloudpickle 3 that submitit and joblib run on.)

Hydra imports this module whenever it starts, to find plugins: Ray itself is imported only
when a sweep launches on it (_core.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


def job_resources(remote: dict[str, Any], cluster_gpus: float) -> dict[str, Any]:
    """ray.remote() options of each job; num_gpus null: one GPU when the cluster has any."""
    options = {k: v for k, v in remote.items() if v is not None}
    if remote.get("num_gpus") is None:
        options["num_gpus"] = 1 if cluster_gpus >= 1 else 0
    return options


class RayLauncher(Launcher):
    def __init__(self, address: str | None = None, init: Any = None, remote: Any = None) -> None:
        self.address = address  # None: start a local Ray; "auto" / "host:port": join a cluster
        self.init = init or {}  # more ray.init() arguments
        self.remote = remote or {}  # ray.remote() options of each job: num_cpus, num_gpus, ...
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from fashion_resnet.extras import require

        require("ray", "ray", "hydra/launcher=ray")  # before any job: one line, exit status 2
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from hydra_plugins.fashion_resnet_ray import _core

        return _core.launch(self, job_overrides, initial_job_idx)
