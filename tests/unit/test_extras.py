"""An option whose extra is missing ends in one line that names the extra (exit status 2) before
any work. A missing package is simulated as Python itself reads a None in sys.modules: `import x`
raises ImportError and find_spec finds nothing. (tests/test_wheel.py checks the same in an
environment that has only the core installed.)"""

import subprocess
import sys

import pytest
from conftest import needs_extra, tiny_overrides
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.utils import instantiate

from fashion_resnet import errors, extras
from fashion_resnet.cli import exits
from fashion_resnet.config import validate
from fashion_resnet.extras import MissingExtra


def test_the_message_names_the_extra_and_its_pip_command():
    assert extras.message("logger=mlflow", "mlflow") == (
        "logger=mlflow needs the 'mlflow' extra: pip install 'fashion_resnet[mlflow]'"
    )


def test_require_passes_an_installed_module_and_names_the_extra_of_a_missing_one(monkeypatch):
    extras.require("json", "unused", "json")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingExtra) as e:
        extras.require("mlflow", "mlflow", "logger=mlflow")
    assert str(e.value) == extras.message("logger=mlflow", "mlflow")
    assert isinstance(e.value, errors.UserError)  # one line and exit status 2 in every entry point
    assert not extras.installed("no_such_package.module")  # a missing parent is no exception


@pytest.mark.parametrize(
    "option,first", [("mlflow", "mlflow"), ("wandb", "wandb"), ("many", "mlflow")]
)
def test_a_logger_without_its_extra_fails_the_config_check(compose_cfg, monkeypatch, option, first):
    cfg = compose_cfg("train", [f"logger={option}"])
    for module in ("mlflow", "wandb"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtra) as e:  # logger=many: the first logger that lacks its extra
        validate.check_train(cfg)
    assert str(e.value) == extras.message(f"logger={first}", first)


@pytest.mark.parametrize(
    "present", [pytest.param(m, marks=needs_extra(m, m)) for m in ("mlflow", "wandb")]
)
def test_logger_many_names_the_extra_that_is_missing(compose_cfg, monkeypatch, present):
    missing = {"mlflow": "wandb", "wandb": "mlflow"}[present]
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(MissingExtra) as e:
        validate.check_train(compose_cfg("train", ["logger=many"]))
    assert str(e.value) == extras.message(f"logger={missing}", missing)


def test_tensorboard_and_csv_need_no_extra(compose_cfg, monkeypatch):
    for module in ("mlflow", "wandb"):
        monkeypatch.setitem(sys.modules, module, None)
    validate.check_extras(compose_cfg("train", ["logger=[tensorboard,csv]"]))


def test_the_ray_launcher_without_ray_names_the_extra(compose_cfg, monkeypatch):
    launcher = instantiate(compose_cfg("train", ["hydra/launcher=ray"]).hydra.launcher)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra) as e:  # Hydra calls setup before it launches any job
        launcher.setup(hydra_context=None, task_function=None, config=None)
    assert str(e.value) == extras.message("hydra/launcher=ray", "ray")


@pytest.mark.parametrize("override,config", [
    ("hparams_search=optuna", "hydra/sweeper/optuna"),
    ("hydra/launcher=slurm", "hydra/launcher/submitit_slurm"),
    ("hydra/launcher=submitit_local", "hydra/launcher/submitit_local"),
])  # fmt: skip
def test_a_plugin_config_without_its_plugin_names_the_extra(
    compose_cfg, monkeypatch, override, config
):
    """Hydra's own error (it cannot find the config the plugin registers), worded by exits.py. An
    installed plugin is taken out of Hydra's config store and hidden from the import system."""
    module, extra, what = extras.PLUGIN_CONFIGS[config]
    Plugins.instance()  # plugins register their configs when Hydra first scans them
    group = ConfigStore.instance().repo
    for part in config.split("/")[:-1]:
        group = group.get(part, {})
    if f"{config.split('/')[-1]}.yaml" in group:
        monkeypatch.delitem(group, f"{config.split('/')[-1]}.yaml")
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(Exception) as e:
        compose_cfg("train", [override])
    assert exits.user_message(e.value) == extras.message(what, extra)


def test_a_typo_keeps_hydras_message_with_the_options(compose_cfg, monkeypatch):
    monkeypatch.setitem(sys.modules, extras.SUBMITIT, None)
    with pytest.raises(Exception) as e:
        compose_cfg("train", ["hydra/launcher=submitit_locl"])
    assert "Could not find 'hydra/launcher/submitit_locl'" in exits.user_message(e.value)


def test_the_entry_point_says_it_in_one_line_before_any_work(fake_data_dir, tmp_path):
    hide = "import sys; sys.modules['mlflow'] = None; from fashion_resnet.train import main; main()"
    cmd = [sys.executable, "-c", hide, *tiny_overrides(fake_data_dir, tmp_path), "logger=mlflow"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == exits.USER_ERROR, proc.stderr[-3000:]
    assert proc.stderr == (
        "fashion-train: error: logger=mlflow needs the 'mlflow' extra: "
        "pip install 'fashion_resnet[mlflow]'\n"
    )
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.json"))
