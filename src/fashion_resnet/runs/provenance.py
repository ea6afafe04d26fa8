"""run.json: what produced a run (code version, packages, device, command), beside Hydra's
.hydra/ (composed config and overrides)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.utilities import rank_zero_only

from fashion_resnet.config.hydra_job import overrides
from fashion_resnet.launch import devices
from fashion_resnet.runs.atomic import write_json

PACKAGES = [
    "fashion_resnet", "torch", "torchvision", "pytorch-lightning", "torchmetrics", "hydra-core",
    "omegaconf", "numpy", "hydra-optuna-sweeper", "optuna", "hydra-joblib-launcher",
]  # fmt: skip


def git_state(folder: Path) -> dict[str, Any]:
    """Commit of the code that ran, and whether tracked files differed from it (untracked files
    are not counted: an editable install's venv or data folder would always mark it dirty)."""

    def git(*args: str) -> str:
        cmd = ["git", "-C", str(folder), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):  # no git, or installed outside a checkout
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict[str, str | None]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in PACKAGES}


def device_info(trainer: pl.Trainer) -> dict[str, Any]:
    info = {
        "accelerator": type(trainer.accelerator).__name__,
        "num_devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "precision": str(trainer.precision),
        "strategy": type(trainer.strategy).__name__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": devices.cpu_has_native_bf16(),  # why a CPU run chose bf16-mixed
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),  # a sweep job's own GPU
    }
    if torch.cuda.is_available():
        ids = trainer.device_ids if isinstance(trainer.accelerator, CUDAAccelerator) else []
        info["gpus"] = [torch.cuda.get_device_name(i) for i in ids]
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


@rank_zero_only
def write_run_info(path: Path, trainer: pl.Trainer, chosen: dict[str, Any] | None = None) -> None:
    """run.json: what produced this run, beside Hydra's .hydra/ (composed config, overrides);
    `chosen`: the device-dependent switches as devices.choose filled them."""
    info = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "overrides": overrides(),
        "git": git_state(Path(__file__).resolve().parent),
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "pid": os.getpid(),
        "device": {**device_info(trainer), "chosen": chosen or {}},
    }
    write_json(path, info)
