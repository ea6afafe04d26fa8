"""Every option of every config group, and every experiment, composes and instantiates."""

import ast
import re
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pytorch_lightning.strategies import StrategyRegistry

from fashion_resnet import validate
from fashion_resnet.cli import ConfigError
from fashion_resnet.train import build_model
from fashion_resnet.validate import check_train


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "logger", "callbacks", "debug"]


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in [*GROUPS, "experiment", "hparams_search"] for o in options(g)],
)
def test_every_option_composes(compose_cfg, group, option, monkeypatch):
    monkeypatch.setattr(validate, "cpu_count", lambda: 8)  # trainer=ddp_cpu on a 1-core machine
    cfg = compose_cfg("train", [f"{group}={option}"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            check_train(cfg)
    else:
        check_train(cfg)


@pytest.mark.parametrize("option", options("model"))
@pytest.mark.parametrize("scheduler", [*options("scheduler"), None])
@pytest.mark.parametrize("optimizer", options("optimizer"))
def test_model_optimizer_scheduler_instantiate(compose_cfg, option, scheduler, optimizer):
    sched = f"scheduler={scheduler}" if scheduler else "~scheduler"
    cfg = compose_cfg("train", [f"model={option}", f"optimizer={optimizer}", sched])
    model = build_model(cfg)
    assert model.hparams.net["arch"] == cfg.model.net.arch
    assert (model.scheduler_factory is None) == (scheduler is None)
    opt = model.optimizer_factory(params=model.parameters())
    assert type(opt).__name__.lower() == optimizer


@pytest.mark.parametrize("group", ["data", "logger", "callbacks"])
def test_other_groups_instantiate(compose_cfg, group, tmp_path, monkeypatch):
    for option in options(group):
        cfg = compose_cfg("train", [f"{group}={option}", f"paths.log_dir={tmp_path}"])
        for key, value in cfg.hydra.job.env_set.items():  # as Hydra does for each job
            monkeypatch.setenv(key, str(value))
        node = cfg[group]
        objs = [instantiate(v) for v in node.values()] if group != "data" else [instantiate(node)]
        assert all(o is not None for o in objs)


def accelerator(option: str) -> str:
    """A trainer file's accelerator: its own, else the one of the file it extends."""
    node = OmegaConf.load(Path(CONF_DIR) / "trainer" / f"{option}.yaml")
    if "accelerator" in node:
        return node.accelerator
    return next(accelerator(d) for d in node.get("defaults", []) if d != "_self_")


def trainer_option(option: str):
    """GPU configs (accelerator gpu) are instantiated as written where CUDA is, and skipped
    elsewhere; the others run everywhere (`auto` is the CPU here)."""
    if accelerator(option) != "gpu":
        return option
    no_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    return pytest.param(option, marks=[pytest.mark.gpu, no_cuda])


@pytest.mark.parametrize("option", [trainer_option(o) for o in options("trainer")])
def test_trainer_configs_instantiate_as_written(compose_cfg, option):
    cfg = compose_cfg("train", [f"trainer={option}"])
    trainer = instantiate(cfg.trainer)
    node = cfg.trainer
    want = {"cpu": "CPUAccelerator", "gpu": "CUDAAccelerator"}.get(node.accelerator)
    if want:  # `auto` picks what the machine has
        assert type(trainer.accelerator).__name__ == want
    if node.get("strategy"):  # e.g. ddp_spawn: DDPStrategy(start_method="spawn")
        entry = StrategyRegistry[node.strategy]
        assert isinstance(trainer.strategy, entry["strategy"])
        for key, value in entry["init_params"].items():
            assert getattr(trainer.strategy, f"_{key}") == value
    if node.devices != -1:
        assert trainer.num_devices == node.devices
    assert trainer.precision == (node.get("precision") or "32-true")
    assert trainer.max_epochs == node.max_epochs
    assert type(trainer.strategy.checkpoint_io).__name__ == "AtomicCheckpointIO"


def test_trainer_overrides_the_readme_shows_need_no_plus(compose_cfg):
    """The README told users `trainer.gradient_clip_val=1.0`, a key the config lacked (it
    needed `+`). Each `trainer.<key>=` of the README composes with the trainer of its line."""
    readme = (Path(CONF_DIR).parent / "README.md").read_text()
    checked = 0
    for line in readme.splitlines():
        option = re.search(r"\btrainer=(\w+)", line)
        for key, value in re.findall(r"(?<![+\w.])trainer\.(\w+)=([\w.-]+)", line):
            over = [f"trainer={option[1] if option else 'default'}", f"trainer.{key}={value}"]
            assert str(compose_cfg("train", over).trainer[key]).lower() == value.lower(), line
            checked += 1
    assert checked >= 5


def test_common_trainer_keys_reach_the_trainer(compose_cfg):
    over = ["trainer.gradient_clip_val=1.0", "trainer.deterministic=true", "trainer.max_steps=7",
            "trainer.accumulate_grad_batches=2", "trainer.precision=bf16-mixed"]  # fmt: skip
    trainer = instantiate(compose_cfg("train", over).trainer)
    assert trainer.gradient_clip_val == 1.0 and trainer.max_steps == 7
    assert trainer.accumulate_grad_batches == 2 and trainer.precision == "bf16-mixed"
    assert torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # process-wide: leave it as found


def test_defaults_are_the_reference_recipe(compose_cfg):
    cfg = compose_cfg("train")
    assert cfg.model.net.arch == "resnet18" and cfg.model.net.stem == "imagenet"
    assert cfg.data.image_size == 96 and cfg.data.batch_size == 256 and not cfg.data.normalize
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-3
    assert cfg.scheduler.step_size == 2 and cfg.scheduler.gamma == 0.9
    assert cfg.trainer.max_epochs == 10
    assert cfg.data.crop_padding == 0 and cfg.data.hflip == 0 and cfg.data.erase == 0


def test_targets_use_pytorch_lightning_not_lightning(compose_cfg):
    for path in Path(CONF_DIR).rglob("*.yaml"):
        assert "lightning.pytorch" not in path.read_text(), path


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["model.net.stem=tiny"], "Unknown model.net.stem='tiny'; choose one of: imagenet, cifar"),
        (["model.net.arch=vgg"], "Unknown model.net.arch='vgg'; choose one of: resnet18"),
        (["data.image_size=16"], "data.image_size=16 is too small for the 'imagenet' stem"),
        (["ckpt_path=/no/such.ckpt"], "ckpt_path='/no/such.ckpt' does not exist"),
        (["model.compile_mode=fast"], "Unknown model.compile_mode='fast'; choose one of: "
                                      "default, reduce-overhead, max-autotune"),
    ],
)  # fmt: skip
def test_bad_values_fail_before_training(compose_cfg, overrides, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        check_train(compose_cfg("train", overrides))


NOT_LOGGED = "is not a logged metric; choose one of: train/loss, train/loss_step, "


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["optimized_metric=val/acc_bset"], f"optimized_metric='val/acc_bset' {NOT_LOGGED}"),
        (["test=false", "optimized_metric=test/acc"], "'test/acc' is not .*val/acc_best$"),
        (["callbacks.model_checkpoint.monitor=val_acc"], f"monitor='val_acc' {NOT_LOGGED}"),
        (["+scheduler.monitor=val/los"], f"scheduler.monitor='val/los' {NOT_LOGGED}"),
    ],
)
def test_unknown_metric_names_fail_naming_the_logged_ones(compose_cfg, overrides, match):
    with pytest.raises(ValueError, match=match):
        check_train(compose_cfg("train", overrides))


def test_optuna_search_maximises_validation_accuracy(compose_cfg):
    cfg = compose_cfg("train", ["hparams_search=optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert cfg.optimized_metric == "val/acc_best" and cfg.data.val_size > 0
    assert set(sweeper.params) == {"optimizer", "optimizer.lr", "++optimizer.weight_decay",
                                   "data.batch_size", "model.label_smoothing"}  # fmt: skip


def test_degradation_sweeps_plain_and_residual_at_two_depths(compose_cfg):
    cfg = compose_cfg("train", ["experiment=degradation"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    assert params == {"model": "resnet18,resnet34", "model.net.residual": "true,false"}
    for model in ("resnet18", "resnet34"):  # every job composes and passes the checks
        for residual in ("true", "false"):
            job = compose_cfg("train", ["experiment=degradation", f"model={model}",
                                        f"model.net.residual={residual}"])  # fmt: skip
            check_train(job)
            assert job.trainer.max_epochs == cfg.trainer.max_epochs


def test_reference_recipe_and_its_deprecated_name_compose_alike(compose_cfg):
    from fashion_resnet.hydra_glue import renamed_choices

    reference = compose_cfg("train", ["experiment=reference"])
    assert renamed_choices() == []
    old = compose_cfg("train", ["experiment=seed"])
    assert renamed_choices() == [
        "experiment=seed is deprecated and will be removed in the next release: "
        "use experiment=reference"
    ]
    plain = [OmegaConf.to_container(c, resolve=False) for c in (reference, old)]
    for c in plain:
        del c["hydra"]
    assert plain[0] == plain[1] and reference.data.val_size == 0


def test_callbacks_are_one_file_each_composed_by_the_default_set(compose_cfg):
    folder = Path(CONF_DIR) / "callbacks"
    default = compose_cfg("train").callbacks
    for name in default:  # each callback comes from its own file, keyed by its name
        assert list(OmegaConf.load(folder / f"{name}.yaml")) == [name], name
    assert set(compose_cfg("train", ["~callbacks.lr_monitor"]).callbacks) == set(default) - {
        "lr_monitor"
    }
    assert set(compose_cfg("train", ["callbacks=inspect"]).callbacks) == set(default) | {
        "model_graph", "histograms"
    }  # fmt: skip
    assert not compose_cfg("train", ["callbacks=none"]).get("callbacks")


@pytest.mark.parametrize("entry", ["train", "eval", "predict", "export"])
def test_every_top_level_key_is_read_by_its_entry_point(compose_cfg, entry):
    """eval.yaml once carried a `logger` that eval.py never read: a setting that does nothing."""
    import fashion_resnet

    # The entry point and the package modules it imports (validation, resume, ...), not the
    # other entry points: train.py reading `logger` says nothing about eval.yaml's.
    package = Path(fashion_resnet.__file__).parent
    source = (package / f"{entry}.py").read_text()
    entries = {"train", "eval", "predict", "export", "report"}
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "fashion_resnet":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fashion_resnet."):
            names.add(node.module.split(".")[1])
    for name in sorted(names - entries):
        if (package / f"{name}.py").is_file():
            source += (package / f"{name}.py").read_text()
    for key in compose_cfg(entry):
        if key in ("hydra", "paths", "task_name"):  # read by Hydra (run folder, interpolations)
            continue
        assert re.search(rf"cfg(\.{key}\b|\.get\(\"{key}\"|\[\"{key}\"\])", source), key


def test_the_deprecated_name_is_one_line_at_start(compose_cfg, capsys):
    from fashion_resnet.cli import ConfigError
    from fashion_resnet.train import train

    with pytest.raises(ConfigError):  # stops before any data: the warning comes first
        train(compose_cfg("train", ["experiment=seed", "data.batch_size=0"]))
    assert capsys.readouterr().err.splitlines()[0] == (
        "fashion-train: warning: experiment=seed is deprecated and will be removed in the next "
        "release: use experiment=reference"
    )
