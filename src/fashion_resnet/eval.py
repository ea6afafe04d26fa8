"""Eval entry point: test a checkpoint on its data's test set, write metrics.json.

fashion-eval ckpt_path=logs/train/runs/<stamp>/checkpoints/last.ckpt
"""

from __future__ import annotations

import time
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fashion_resnet import CONF_DIR
from fashion_resnet.cli import console, exits
from fashion_resnet.config import hydra_job, validate
from fashion_resnet.runs import checkpoints, folders
from fashion_resnet.runs.atomic import write_json


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    validate.check_eval(cfg)
    folders.check_writable(hydra_job.output_dir(), "the output folder", "hydra.run.dir=<folder>")
    start = time.time()
    model, data_hparams = checkpoints.load_model(folders.checkpoint_in(cfg.ckpt_path))
    # The data it was trained on, preprocessed as trained; where the files are and the batch
    # size from this config.
    overrides = OmegaConf.to_container(cfg.data, resolve=True)
    datamodule = checkpoints.datamodule_for(model.hparams.data, data_hparams, overrides)
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=False)
    trainer.test(model, datamodule=datamodule)
    metrics = {
        **folders.scalar_metrics(trainer.callback_metrics),
        "ckpt_path": str(cfg.ckpt_path),
        "elapsed_s": round(time.time() - start, 1),
        "overrides": hydra_job.overrides(),
    }
    if trainer.is_global_zero:
        write_json(hydra_job.output_dir() / "metrics.json", metrics)
        print(console.results(hydra_job.output_dir(), tensorboard=False), flush=True)
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="eval")
def run(cfg: DictConfig) -> None:
    with exits.job():
        evaluate(cfg)


def main() -> None:
    hydra_job.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_job.load_env()  # .env paths, before the configs read them
    console.quiet()
    exits.run(run, "fashion-eval")


if __name__ == "__main__":
    main()
