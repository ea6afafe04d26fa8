"""Config tree at start, per-machine local/ configs and .env, coloured logs, pre-commit config."""

import shutil
import subprocess
import sys

import yaml
from conftest import CONF_DIR, ROOT, needs_extra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fashion_resnet import config_tree, hydra_glue


def test_config_tree_is_printed_and_saved(compose_cfg, tmp_path, capsys):
    cfg = compose_cfg("train", ["optimizer.lr=0.0123"])
    config_tree.show(cfg, tmp_path / "config_tree.txt")
    saved = (tmp_path / "config_tree.txt").read_text()
    assert saved.splitlines()[0] == "CONFIG"
    assert "lr: 0.0123" in saved and "_target_: torch.optim.Adam" in saved
    assert saved.index("data") < saved.index("model") < saved.index("optimizer")
    assert "\x1b[" not in saved  # plain text in the file
    assert "lr: 0.0123" in capsys.readouterr().out
    assert "hydra" not in [line.strip("├└─ ") for line in saved.splitlines()]


def test_local_config_overrides_the_defaults_when_present(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("local"))
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        assert compose("train").trainer.accelerator == "auto"  # no conf/local: nothing changes
        (conf / "local").mkdir()
        (conf / "local" / "default.yaml").write_text(
            "# @package _global_\ntrainer:\n  accelerator: cpu\ndata:\n  batch_size: 64\n"
        )
        cfg = compose("train", ["data.batch_size=32"])
    GlobalHydra.instance().clear()
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.data.batch_size == 32  # the command line still wins


def test_local_configs_and_env_are_git_ignored():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert {".env", "src/fashion_resnet/conf/local/*"} <= set(ignore)
    assert (ROOT / ".env.example").is_file()


def test_env_file_sets_paths_without_overriding_the_environment(compose_cfg, tmp_path, monkeypatch):
    for name in ("FASHION_RESNET_DATA_DIR", "FASHION_RESNET_LOG_DIR"):
        monkeypatch.setenv(name, "placeholder")  # restored (unset) after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("FASHION_RESNET_LOG_DIR", "/from/environment")
    (tmp_path / ".env").write_text(
        "FASHION_RESNET_DATA_DIR=/from/dotenv\nFASHION_RESNET_LOG_DIR=/from/dotenv/logs\n"
    )
    assert hydra_glue.load_env(tmp_path) == tmp_path / ".env"
    cfg = compose_cfg("train")
    assert cfg.paths.data_dir == "/from/dotenv"
    assert cfg.paths.log_dir == "/from/environment"
    assert hydra_glue.load_env(tmp_path / "nowhere") is None


def test_hydra_logs_are_coloured_and_the_log_file_stays_in_the_run_folder(compose_cfg):
    hydra = compose_cfg("train").hydra
    assert hydra.job_logging.handlers.console.formatter == "colorlog"
    assert hydra.hydra_logging.handlers.console.formatter == "colorlog"
    assert hydra.job_logging.handlers.file.filename.startswith(hydra.runtime.output_dir)


@needs_extra("dev", "pre_commit")
def test_pre_commit_runs_ruff_lint_and_format():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (ruff,) = [r for r in config["repos"] if r["repo"].endswith("astral-sh/ruff-pre-commit")]
    assert [h["id"] for h in ruff["hooks"]] == ["ruff-check", "ruff-format"]
    check = [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"]
    proc = subprocess.run(check, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_config_folder_of_your_own_joins_through_the_searchpath(tmp_path):
    """An installed package's configs are not yours to edit: your folder joins them, with your
    experiments and this machine's local/default.yaml, as `fashion-train` composes them."""
    mine = tmp_path / "my_configs"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "wide.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: resnet34\noptimizer:\n  lr: 0.0123\n"
    )
    (mine / "local").mkdir()
    (mine / "local" / "default.yaml").write_text("# @package _global_\ndata:\n  batch_size: 64\n")
    cmd = [sys.executable, "-m", "fashion_resnet.train", f"hydra.searchpath=[file://{mine}]",
           "experiment=wide", "--cfg", "job"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["net"]["arch"] == "resnet34" and cfg["optimizer"]["lr"] == 0.0123
    assert cfg["data"]["batch_size"] == 64 and cfg["optimizer"]["_target_"] == "torch.optim.Adam"
