"""The work a composed config asks for, checked before training starts: a value that would
leave a run nothing to do (zero epochs, steps or batches, a batch the training set cannot fill,
validation off while something watches a validation metric) is a ConfigError naming it, instead
of a run that ends "successfully" with chance accuracy, or fails after its first epoch. The
training set's size is the data's fact: train.py checks the workload once the DataModule is
built (which reads no images)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from fashion_resnet.errors import ConfigError


def check_train(cfg: DictConfig, images: int) -> None:
    """`images`: what one training epoch draws (the DataModule's split sizes, from its facts)."""
    t = cfg.trainer
    _not_zero("trainer.max_epochs", t.get("max_epochs"), "-1 (with trainer.max_steps) or >= 1")
    _not_zero("trainer.max_steps", t.get("max_steps"), "-1 (trainer.max_epochs decides) or >= 1")
    batch = cfg.data.batch_size
    if batch > images:
        raise ConfigError(
            f"data.batch_size={batch} exceeds the {images} training images of an epoch, which "
            f"would train no full batch (the last one is dropped): use at most {images}"
        )
    limit = t.get("limit_train_batches")
    if _is_zero(limit) or (isinstance(limit, float) and int(images // batch * limit) < 1):
        raise ConfigError(
            f"trainer.limit_train_batches={limit} leaves the run nothing to do (an epoch has "
            f"{images // batch} batches): use a count >= 1 or a fraction of at least one batch"
        )
    watched = watched_val_metrics(cfg)
    off = validation_off(cfg)
    if watched and off:
        names = ", ".join(f"{k}={v}" for k, v in watched.items())
        raise ConfigError(
            f"{off}: no validation, but {names} watches a validation metric (checked only after "
            "the first epoch). Validate, or set those to null (or remove them)"
        )


def check_eval(cfg: DictConfig) -> None:
    limit = cfg.trainer.get("limit_test_batches")
    _not_zero("trainer.limit_test_batches", limit, "a count or fraction > 0")


def validation_off(cfg: DictConfig) -> str | None:
    """The setting that turns validation off for the whole run, or None."""
    t = cfg.trainer
    if _is_zero(t.get("limit_val_batches")):
        return f"trainer.limit_val_batches={t.limit_val_batches}"
    every, epochs = t.get("check_val_every_n_epoch"), t.get("max_epochs")
    if every and epochs and epochs > 0 and t.get("val_check_interval") is None and every > epochs:
        return f"trainer.check_val_every_n_epoch={every} > trainer.max_epochs={epochs}"
    return None


def watched_val_metrics(cfg: DictConfig) -> dict[str, str]:
    """Callbacks and the scheduler that watch a val/ metric: {config key: metric}."""
    watched = {
        f"callbacks.{name}.monitor": node.monitor
        for name, node in (cfg.get("callbacks") or {}).items()
        if isinstance(node, DictConfig) and str(node.get("monitor") or "").startswith("val/")
    }
    if cfg.get("scheduler") and str(cfg.scheduler.get("monitor") or "").startswith("val/"):
        watched["scheduler.monitor"] = cfg.scheduler.monitor
    return watched


def _is_zero(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _not_zero(key: str, value: Any, valid: str) -> None:
    if _is_zero(value):
        raise ConfigError(f"{key}={value} leaves the run nothing to do: use {valid}")
