"""Train entry point: compose -> check -> build data, model, trainer -> fit -> test -> metrics.json.

fashion-train                                  # the reference recipe
fashion-train experiment=smoke                 # under a minute on a 2-core CPU
fashion-train -m optimizer=adam,sgd            # a sweep, one folder per job
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities.exceptions import SIGTERMException

from fashion_resnet import CONF_DIR
from fashion_resnet.callbacks.scalars import HParamsSummary, flatten
from fashion_resnet.cli import console, exits
from fashion_resnet.config import hydra_job, validate, workload
from fashion_resnet.config import tree as config_tree
from fashion_resnet.data.batches import per_rank_batch_size
from fashion_resnet.data.image_datamodule import ImageDataModule
from fashion_resnet.launch import ddp, devices, gpu_slots
from fashion_resnet.models import backbones
from fashion_resnet.models.schedules import SCHEDULE_KEYS
from fashion_resnet.runs import folders, provenance, resume, sweep_resume, tracking
from fashion_resnet.runs.atomic import write_json


def train(cfg: DictConfig) -> dict[str, Any]:
    """A training run's steps, in order: the cheap checks first, so that a mistake stops the run
    before data is read or a model trained."""
    check_config(cfg)
    if (finished := sweep_resume.skip_or_resume(cfg)) is not None:  # a sweep re-run: job done
        return finished
    chosen = prepare_process(cfg)
    datamodule = build_data(cfg)
    ckpt_path = checkpoint_to_resume(cfg, datamodule)
    show_config(cfg)
    start = time.time()
    pl.seed_everything(cfg.seed, workers=True)
    model = build_model(cfg, datamodule)
    trainer = build_trainer(cfg, chosen, datamodule)
    fit(trainer, model, datamodule, ckpt_path)
    fit_metrics = folders.scalar_metrics(trainer.callback_metrics)
    test_metrics, best_ckpt = test_best(cfg, trainer, model, datamodule)
    return write_results(cfg, trainer, {**fit_metrics, **test_metrics}, best_ckpt, start)


def check_config(cfg: DictConfig) -> None:
    for message in hydra_job.renamed_choices():  # one line each, not a warning's source dump
        console.say(f"fashion-train: warning: {message}")
    validate.check_train(cfg)


def prepare_process(cfg: DictConfig) -> dict[str, Any]:
    """This job's GPU, the device defaults and a writable run folder."""
    gpu_slots.assign(cfg)  # a parallel (joblib) sweep job: its own GPU, before CUDA starts
    chosen = device_defaults(cfg)  # after gpu_slots: it asks CUDA what this job sees
    folders.check_writable(hydra_job.output_dir())
    return chosen


def build_data(cfg: DictConfig) -> ImageDataModule:
    """The DataModule (it reads no images: its facts are constants or a listing), and the work
    the config asks of its training set."""
    datamodule = hydra_job.build(cfg.data)
    workload.check_train(cfg, datamodule.split_sizes()["train"])
    return datamodule


def checkpoint_to_resume(cfg: DictConfig, datamodule: ImageDataModule) -> Path | None:
    """The checkpoint to resume from (a bad one is an error before the config tree shows)."""
    ckpt_path = resume.checkpoint_for(cfg, hydra_job.output_dir(), datamodule.facts)
    if ckpt_path and ckpt_path.resolve().is_relative_to(hydra_job.output_dir().resolve()):
        console.quiet_resume()  # a resume in the run's own folder
    return ckpt_path


def show_config(cfg: DictConfig) -> None:
    if cfg.get("print_config"):
        config_tree.show(cfg, hydra_job.output_dir() / "config_tree.txt")


def device_defaults(cfg: DictConfig) -> dict[str, Any]:
    """Fill the null switches (bf16, channels-last, cuDNN benchmark, TF32) for the device the
    run trains on (devices.py), in cfg itself so checkpoints and HPARAMS hold the choice."""
    t = cfg.trainer
    chosen = devices.choose(
        t.get("accelerator"), t.get("precision"), cfg.model.get("channels_last"),
        t.get("benchmark"), cfg.get("tf32"), t.get("deterministic"),
    )  # fmt: skip
    with open_dict(cfg):
        t.precision, t.benchmark = chosen["precision"], chosen["benchmark"]
        cfg.model.channels_last = chosen["channels_last"]
    if chosen["cuda"]:
        devices.apply_tf32(chosen["tf32"])
    return chosen


def build_model(cfg: DictConfig, datamodule: ImageDataModule) -> pl.LightningModule:
    """The model config, its head and input channels from the data's facts, and the optimizer
    and scheduler factories from their own groups."""
    scheduler, schedule = None, {}
    if cfg.get("scheduler"):
        sched_cfg = OmegaConf.to_container(cfg.scheduler, resolve=True)
        # Lightning's and warmup's keys are the model's; the rest builds the torch scheduler
        schedule = {v: sched_cfg.pop(k) for k, v in SCHEDULE_KEYS.items() if k in sched_cfg}
        scheduler = instantiate(sched_cfg)
    facts = datamodule.facts
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg["net"] = backbones.spec(model_cfg["net"])  # what builds it, as checkpoints keep it
    model = hydra_job.build(
        model_cfg,
        num_classes=facts.num_classes,
        in_channels=facts.channels,
        data=datamodule.checkpoint_facts(),
        optimizer=instantiate(cfg.optimizer),
        scheduler=scheduler,
        **schedule,
        _recursive_=False,  # net's `_target_` is the Classifier's to build, not Hydra's
        _convert_="all",  # plain dicts in hparams: checkpoints load with weights_only=True
    )
    # One stored image: the model summary passes it through the data transforms and prints
    # each layer's input and output shape, like the notebook's shape table.
    model.example_input_array = torch.zeros(1, *facts.image_shape, dtype=torch.uint8)
    return model


def build_trainer(
    cfg: DictConfig, chosen: dict[str, Any], datamodule: ImageDataModule
) -> pl.Trainer:
    """Callbacks, loggers (tracking started with the resolved config) and the Trainer; the CPU
    notice and the run's provenance (run.json)."""
    callbacks = hydra_job.instantiate_all(cfg.get("callbacks"))
    params = flatten(hydra_job.hparams(cfg))
    for cb in callbacks:  # the HPARAMS tab shows the resolved config, not only the model's args
        if isinstance(cb, HParamsSummary):
            cb.params = params
    loggers = hydra_job.instantiate_all(cfg.get("logger"))
    tracking.start(loggers, params, cfg.get("tags") or [])
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    ddp.check_launch(trainer, multirun=HydraConfig.get().mode == RunMode.MULTIRUN)
    per_rank_batch_size(cfg.data.batch_size, trainer.world_size)  # now, not at fit
    train_images = datamodule.split_sizes()["train"]
    if trainer.is_global_zero and (notice := console.cpu_notice(cfg, train_images)):
        console.say(notice)
    provenance.write_run_info(hydra_job.output_dir() / "run.json", trainer, chosen)
    return trainer


def fit(trainer: pl.Trainer, model, datamodule, ckpt_path: Path | None) -> None:
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException as e:  # checkpoint saved by callbacks.interrupt
        raise SystemExit(128 + signal.SIGTERM) from e


def test_best(cfg: DictConfig, trainer: pl.Trainer, model, datamodule) -> tuple[dict, str | None]:
    """The test metrics of the best checkpoint ({} with test=false) and its path."""
    if not cfg.get("test"):
        return {}, None
    best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    best_ckpt = best_ckpt or None  # fast_dev_run or no checkpoint callback: the weights in memory
    trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt, weights_only=True)
    return folders.scalar_metrics(trainer.callback_metrics), best_ckpt


def write_results(
    cfg: DictConfig, trainer: pl.Trainer, metrics: dict, best_ckpt: str | None, start: float
) -> dict[str, Any]:
    """metrics.json (once per run, however many ranks), the trackers' artifacts, where it is."""
    metrics = {
        **metrics,
        "elapsed_s": round(time.time() - start, 1),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "best_ckpt": best_ckpt,
        "overrides": hydra_job.overrides(),
    }
    if trainer.is_global_zero:
        write_json(hydra_job.output_dir() / "metrics.json", metrics)
        tracking.finish(trainer.loggers, [best_ckpt, hydra_job.output_dir() / "metrics.json"])
        print(console.results(hydra_job.output_dir(), bool(cfg.get("logger"))), flush=True)
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def run(cfg: DictConfig) -> float | None:
    with exits.job():
        metrics = train(cfg)
    metric = cfg.get("optimized_metric")
    return metrics.get(metric) if metric else None


def main() -> None:
    # `ckpt_path=<run folder>` / `ckpt_path=last` resume in the run's folder with its config:
    # that decides hydra.run.dir, so it has to happen before Hydra composes.
    hydra_job.register_resolvers()
    hydra_job.load_env()  # .env paths, before the configs read them
    with exits.reported("fashion-train"):
        sys.argv[1:] = resume.rewrite_args(sys.argv[1:])
    console.quiet()
    exits.run(run, "fashion-train")


if __name__ == "__main__":
    main()
