"""One pass over a composed config before anything is built, for what no constructor can see:
values that relate keys of different groups (image size and stem), what this machine has,
metric names, paths, and the arguments of objects built late (the optimizer, the Trainer's
epochs) or not ours. Each error is a ConfigError naming the key, the value and what is allowed,
so that a mistake costs a second, not a data load or an hour of training.

One place per check: a value's own range is checked by the constructor that takes it (the
DataModule, the Classifier, the backbone builder), since constructing them reads no data and
they are used without Hydra too; train.py builds them before anything slow. This file does not
repeat those checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from fashion_resnet import extras
from fashion_resnet.config import workload
from fashion_resnet.errors import ConfigError, check_int, check_number
from fashion_resnet.models import resnet
from fashion_resnet.models.classifier import FIT_METRICS, TEST_METRICS

_ABSENT = object()


def check_train(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path", allow_null=True)
    check_image_size(cfg)
    number(cfg, "optimizer.lr", above=0.0)
    number(cfg, "optimizer.weight_decay", low=0.0, optional=True)
    integer(cfg, "seed", low=0)
    integer(cfg, "trainer.max_epochs", low=-1, optional=True)
    check_trainer(cfg)
    ckpt = cfg.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt!r} does not exist (give a .ckpt file or a run folder)")
    check_metric_names(cfg)
    check_extras(cfg)


def check_extras(cfg: DictConfig) -> None:
    """Each logger whose package is an extra (logger=mlflow, wandb, many) has it installed."""
    for name, node in (cfg.get("logger") or {}).items():
        if node is not None:
            extras.require_target(str(node.get("_target_")), f"logger={name}")


def check_image_size(cfg: DictConfig) -> None:
    """Our ResNets' stems need a smallest input side (the data's image size)."""
    net, size = cfg.model.net, cfg.data.get("image_size")
    stem = net.get("stem", resnet.OPTIONS["stem"])
    ours = not net.get("_target_") and net.get("arch") in resnet.ARCHS
    if not ours or stem not in resnet.MIN_IMAGE_SIZE or not isinstance(size, int):
        return  # other backbones, or a bad value its constructor reports
    if size < resnet.MIN_IMAGE_SIZE[stem]:
        raise ConfigError(
            f"data.image_size={size} is too small for the {stem!r} stem: use >= "
            f"{resnet.MIN_IMAGE_SIZE[stem]} px (or model.net.stem=cifar for small images)"
        )


def check_trainer(cfg: DictConfig) -> None:
    """An accelerator this machine has, and no more devices than it has."""
    import torch

    trainer = cfg.trainer
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        raise ConfigError(
            f"trainer.accelerator={accelerator!r} needs a CUDA GPU and torch finds none on this "
            "machine: use trainer=default (a GPU when there is one, else the CPU) or trainer=cpu"
        )
    if accelerator not in ("auto", "cpu", "gpu", "cuda"):
        return  # mps, tpu, ...: Lightning checks those itself
    on_gpu = accelerator != "cpu" and cuda
    have, what = (torch.cuda.device_count(), "GPUs") if on_gpu else (cpu_count(), "CPU cores")
    devices = trainer.get("devices", "auto")
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices == 0 or devices < -1:
            raise ConfigError(f"trainer.devices={devices}: use a count >= 1, -1 (all) or auto")
        if devices > have:
            raise ConfigError(
                f"trainer.devices={devices}: this machine has {have} {what} (one process each); "
                f"use at most {have}, or -1 for all of them"
            )
    elif isinstance(devices, list | ListConfig) and on_gpu and any(d >= have for d in devices):
        raise ConfigError(f"trainer.devices={list(devices)}: this machine's GPUs are 0..{have - 1}")


def cpu_count() -> int:
    """Cores this process may use (a job scheduler or taskset may allow fewer than exist)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def check_metric_names(cfg: DictConfig) -> None:
    """A monitored or optimised metric the model never logs would fail (or return None to a
    sweeper) only after training: name the ones that exist instead."""
    fit, test = FIT_METRICS, TEST_METRICS
    wanted = {
        "optimized_metric": (cfg.get("optimized_metric"), fit + test if cfg.get("test") else fit)
    }
    for name, node in (cfg.get("callbacks") or {}).items():
        if isinstance(node, DictConfig) and node.get("monitor"):
            wanted[f"callbacks.{name}.monitor"] = (node.monitor, fit)
    if cfg.get("scheduler") and cfg.scheduler.get("monitor"):
        wanted["scheduler.monitor"] = (cfg.scheduler.monitor, fit)
    for key, (metric, valid) in wanted.items():
        if metric and metric not in valid:
            raise ConfigError(
                f"{key}={metric!r} is not a logged metric; choose one of: {', '.join(valid)}"
            )


def check_eval(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path")
    check_trainer(cfg)
    workload.check_eval(cfg)


def check_predict(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path")
    required(cfg, "images")
    integer(cfg, "batch_size", low=1, unit="pictures per forward pass")
    integer(cfg, "top_k", low=1, unit="classes")


def check_export(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path")
    integer(cfg, "n_verify", low=1, unit="test images")


# --- one value ----------------------------------------------------------------------------------
def required(cfg: DictConfig, key: str, allow_null: bool = False) -> Any:
    if OmegaConf.is_missing(cfg, key) or (not allow_null and cfg.get(key) is None):
        raise ConfigError(f"{key} is required: add {key}=<value> to the command")
    return cfg.get(key)


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=_ABSENT)


def integer(
    cfg: DictConfig,
    key: str,
    low: int,
    high: int | None = None,
    unit: str = "",
    optional: bool = False,
) -> int | None:
    value = _get(cfg, key)
    return None if value is _ABSENT else check_int(key, value, low, high, unit, optional)


def number(
    cfg: DictConfig,
    key: str,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    unit: str = "",
    optional: bool = False,
) -> float | None:
    value = _get(cfg, key)
    return None if value is _ABSENT else check_number(key, value, low, high, above, unit, optional)
