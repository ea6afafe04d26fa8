"""One pass over a composed config before anything is built: types, ranges, choices, and what
this machine has. Each error is a ConfigError naming the key, the value and what is allowed, so
that a mistake costs a second, not a data load or an hour of training."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from fashion_resnet import extras
from fashion_resnet.config import workload
from fashion_resnet.errors import ConfigError
from fashion_resnet.models import resnet
from fashion_resnet.models.classifier import COMPILE_MODES, FIT_METRICS, TEST_METRICS

# FashionMNIST's sizes, fixed by the published files (raw_files.MD5): known without loading them.
TRAIN_IMAGES, TEST_IMAGES = workload.TRAIN_IMAGES, 10_000
_ABSENT = object()


def check_train(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path", allow_null=True)
    stem = choice(cfg, "model.net.stem", resnet.STEMS, default="imagenet")
    choice(cfg, "model.net.arch", tuple(resnet.ARCHS))
    size = integer(cfg, "data.image_size", low=1, unit="px")
    if size < resnet.MIN_IMAGE_SIZE[stem]:
        raise ConfigError(
            f"data.image_size={size} is too small for the {stem!r} stem: use >= "
            f"{resnet.MIN_IMAGE_SIZE[stem]} px (or model.net.stem=cifar for small images)"
        )
    check_data(cfg)
    if _get(cfg, "model.compile_mode") not in (None, _ABSENT):
        choice(cfg, "model.compile_mode", COMPILE_MODES)
    number(cfg, "optimizer.lr", above=0.0)
    number(cfg, "optimizer.weight_decay", low=0.0, optional=True)
    integer(cfg, "seed", low=0)
    integer(cfg, "trainer.max_epochs", low=-1, optional=True)
    check_trainer(cfg)
    workload.check_train(cfg)
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


def check_data(cfg: DictConfig) -> None:
    integer(cfg, "data.batch_size", low=1, unit="images per step")
    integer(cfg, "data.eval_batch_size", low=1, optional=True)
    val = integer(
        cfg,
        "data.val_size",
        low=0,
        high=TRAIN_IMAGES - 1,
        unit=f"images held out of the {TRAIN_IMAGES} training images",
    )
    integer(
        cfg,
        "data.train_subset",
        low=1,
        high=TRAIN_IMAGES - val,
        optional=True,
        unit=f"images of the {TRAIN_IMAGES - val} left after data.val_size={val}",
    )
    integer(cfg, "data.num_workers", low=0)
    integer(cfg, "data.crop_padding", low=0, unit="px")
    for key in ("data.hflip", "data.erase"):
        number(cfg, key, low=0.0, high=1.0, unit="a probability")
    for key in ("data.mixup", "data.cutmix"):
        number(cfg, key, low=0.0, unit="a Beta concentration, 0 = off")
    folds = integer(cfg, "data.folds", low=0, high=TRAIN_IMAGES, unit="0 = no folds")
    if folds == 1:
        raise ConfigError("data.folds=1: expected 0 (no folds) or an integer >= 2")
    if folds:
        integer(cfg, "data.fold", low=0, high=folds - 1, unit=f"one of data.folds={folds}")
    for key in ("data.normalize", "data.download"):
        boolean(cfg, key)


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
    integer(cfg, "data.batch_size", low=1, unit="images per step")
    check_trainer(cfg)
    workload.check_eval(cfg)


def check_predict(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path")
    required(cfg, "images")
    integer(cfg, "batch_size", low=1, unit="pictures per forward pass")
    integer(cfg, "top_k", low=1, high=10, unit="classes")


def check_export(cfg: DictConfig) -> None:
    required(cfg, "ckpt_path")
    integer(cfg, "n_verify", low=1, high=TEST_IMAGES, unit="test images")


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
    ok = isinstance(value, int) and not isinstance(value, bool)
    return _bounded(key, value, "an integer", ok, low, high, None, unit, optional)


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
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN
    return _bounded(key, value, "a number", ok, low, high, above, unit, optional)


def _bounded(
    key: str,
    value: Any,
    kind: str,
    of_kind: bool,
    low: float | None,
    high: float | None,
    above: float | None,
    unit: str,
    optional: bool,
) -> Any:
    """integer's and number's shared part: the value when within the bounds; None when absent,
    or null and optional; else a ConfigError naming the value, the bounds and the unit."""
    if value is _ABSENT or (optional and value is None):
        return None
    above_low = of_kind and (low is None or value >= low) and (above is None or value > above)
    if above_low and (high is None or value <= high):
        return value
    if low is not None and high is not None:
        bounds = f"in [{low:g}, {high:g}]"
    else:
        ops = ((">", above), (">=", low), ("<=", high))
        bounds = " and ".join(f"{op} {bound:g}" for op, bound in ops if bound is not None)
    unit = f" ({unit})" if unit else ""
    null = " or null" if optional else ""
    raise ConfigError(f"{key}={value!r}: expected {kind} {bounds}{unit}{null}")


def boolean(cfg: DictConfig, key: str) -> None:
    value = _get(cfg, key)
    if value is not _ABSENT and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: expected true or false")


def choice(cfg: DictConfig, key: str, choices: tuple[str, ...], default: Any = _ABSENT) -> str:
    value = _get(cfg, key)
    value = default if value is _ABSENT else value
    if value not in choices:
        raise ConfigError(f"Unknown {key}={value!r}; choose one of: {', '.join(choices)}")
    return value
