"""config/hydra_job.py: the glue between Hydra and a run: .env paths, resolvers (each entry
point registers what its config needs), the job's label, the HPARAMS choice."""

import importlib
import re
import sys
from pathlib import Path

import pytest
from conftest import compose_config
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fashion_resnet.config import hydra_job


def test_env_file_sets_paths_without_overriding_the_environment(compose_cfg, tmp_path, monkeypatch):
    for name in ("FASHION_RESNET_DATA_DIR", "FASHION_RESNET_LOG_DIR"):
        monkeypatch.setenv(name, "placeholder")  # restored (unset) after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("FASHION_RESNET_LOG_DIR", "/from/environment")
    (tmp_path / ".env").write_text(
        "FASHION_RESNET_DATA_DIR=/from/dotenv\nFASHION_RESNET_LOG_DIR=/from/dotenv/logs\n"
    )
    assert hydra_job.load_env(tmp_path) == tmp_path / ".env"
    cfg = compose_cfg("train")
    assert cfg.paths.data_dir == "/from/dotenv"
    assert cfg.paths.log_dir == "/from/environment"
    assert hydra_job.load_env(tmp_path / "nowhere") is None


def test_sweep_jobs_are_named_by_their_swept_values(tmp_path, monkeypatch):
    # The launching command swept the optimizer; logger and paths were fixed for every job.
    monkeypatch.setattr(
        sys, "argv", ["train", "-m", "optimizer=adam,sgd", f"paths.log_dir={tmp_path}"]
    )
    over = ["optimizer=sgd", "logger=tensorboard", f"paths.log_dir={tmp_path}"]
    cfg = compose_config("train", over, tmp_path / "0", RunMode.MULTIRUN)
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == tmp_path / "0" / "tensorboard" / "optimizer=sgd"
    cfg = compose_config("train", over, tmp_path / "run", RunMode.RUN)
    assert Path(instantiate(cfg.logger.tensorboard).log_dir) == tmp_path / "run" / "tensorboard"
    GlobalHydra.instance().clear()


def test_hparams_leave_out_paths_and_show_a_missing_scheduler(compose_cfg):
    params = hydra_job.hparams(compose_cfg("train", ["~scheduler"]))
    assert params["scheduler"] is None
    # precision stays null in the composed config; train.py fills it in for the device
    trainer = {"max_epochs": 10, "precision": None, "accumulate_grad_batches": 1,
               "gradient_clip_val": None}  # fmt: skip
    assert params["trainer"] == trainer
    assert "data_dir" not in params["data"] and params["data"]["image_size"] == 96






@pytest.mark.parametrize("entry", ["train", "eval", "predict", "export"])
def test_each_entry_point_registers_the_resolvers_its_config_needs(
    entry, tmp_path, monkeypatch, capsys
):
    """With no resolver registered (importing registers none: test_layout.py), the entry
    point's own main() resolves its run folder (${run_stamp:}) and, for train, the TensorBoard
    logger's version (${job_label:})."""
    module = importlib.import_module(f"fashion_resnet.{entry}")
    monkeypatch.chdir(tmp_path)  # no .env of the developer's; nothing is written
    for name in ("run_stamp", "job_label"):
        if OmegaConf.has_resolver(name):
            OmegaConf.clear_resolver(name)
    keys = ["hydra.run.dir"] + (["logger.tensorboard.version"] if entry == "train" else [])
    for key in keys:
        monkeypatch.setattr(sys, "argv", [entry, "--cfg", "all", "--resolve", "-p", key])
        GlobalHydra.instance().clear()
        module.main()
    GlobalHydra.instance().clear()
    printed = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        rf"\./logs/{entry}/runs/\d{{4}}(-\d\d){{2}}_\d\d(-\d\d){{2}}_\d{{6}}", printed[0]
    )
