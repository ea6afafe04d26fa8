"""conf/: every option of every config group, and every experiment, composes and instantiates;
the defaults build the reference recipe; per-machine conf/local/; the logging setup."""

import ast
import logging
import logging.config
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import CONF_DIR, make_images, needs_extra, option_param, write_picture_folder
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pytorch_lightning.strategies import StrategyRegistry

from fashion_resnet.config import hydra_job, validate
from fashion_resnet.config.validate import check_train
from fashion_resnet.data.transforms import to_model_input
from fashion_resnet.errors import ConfigError
from fashion_resnet.extras import OPTUNA
from fashion_resnet.models import backbones, resnet
from fashion_resnet.train import build_model


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "logger", "callbacks", "debug"]


@pytest.mark.parametrize(
    "group,option",
    [option_param(g, o) for g in [*GROUPS, "experiment", "hparams_search"] for o in options(g)],
)
def test_every_option_composes(compose_cfg, group, option, monkeypatch):
    monkeypatch.setattr(validate, "cpu_count", lambda: 8)  # trainer=ddp_cpu on a 1-core machine
    cfg = compose_cfg("train", [f"{group}={option}"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            check_train(cfg)
    else:
        check_train(cfg)


def model_option(option: str) -> pytest.ParameterSet:
    """A model option, skipped (naming the extra) where its extra is missing: model=timm."""
    return pytest.param(option, marks=option_param("model", option).marks, id=option)


@pytest.mark.parametrize("option", [model_option(o) for o in options("model")])
@pytest.mark.parametrize("scheduler", [*options("scheduler"), None])
@pytest.mark.parametrize("optimizer", options("optimizer"))
def test_model_optimizer_scheduler_instantiate(compose_cfg, option, scheduler, optimizer):
    sched = f"scheduler={scheduler}" if scheduler else "~scheduler"
    cfg = compose_cfg("train", [f"model={option}", f"optimizer={optimizer}", sched])
    model = build_model(cfg, instantiate(cfg.data))
    assert model.hparams.net == backbones.spec(OmegaConf.to_container(cfg.model.net))
    assert (model.scheduler_factory is None) == (scheduler is None)
    opt = model.optimizer_factory(params=model.parameters())
    assert type(opt).__name__.lower() == optimizer


@pytest.mark.parametrize(
    "group,option",
    [option_param(g, o) for g in ["data", "logger", "callbacks"] for o in options(g)],
)
def test_other_groups_instantiate(compose_cfg, group, option, tmp_path, monkeypatch):
    # The one required value (`???`) of an option: data=image_folder's folder of pictures.
    required = {"image_folder": [f"data.root={write_picture_folder(tmp_path / 'pics', 2)}"]}
    over = [f"{group}={option}", f"paths.log_dir={tmp_path}", *required.get(option, [])]
    cfg = compose_cfg("train", over)
    for key, value in cfg.hydra.job.env_set.items():  # as Hydra does for each job
        monkeypatch.setenv(key, str(value))
    node = cfg[group]
    objs = [instantiate(v) for v in node.values()] if group != "data" else [instantiate(node)]
    assert all(o is not None for o in objs)
    if group == "data":  # its facts, read without loading the data
        assert objs[0].facts.num_classes >= 2


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


def test_common_trainer_keys_reach_the_trainer(compose_cfg):
    over = ["trainer.gradient_clip_val=1.0", "trainer.deterministic=true", "trainer.max_steps=7",
            "trainer.accumulate_grad_batches=2", "trainer.precision=bf16-mixed"]  # fmt: skip
    trainer = instantiate(compose_cfg("train", over).trainer)
    assert trainer.gradient_clip_val == 1.0 and trainer.max_steps == 7
    assert trainer.accumulate_grad_batches == 2 and trainer.precision == "bf16-mixed"
    assert torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # process-wide: leave it as found


def test_targets_use_pytorch_lightning_not_lightning(compose_cfg):
    for path in Path(CONF_DIR).rglob("*.yaml"):
        assert "lightning.pytorch" not in path.read_text(), path


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


def test_degradation_cpu_is_four_jobs_on_one_cpu_budget(compose_cfg):
    """The jobs Hydra's basic sweeper makes of experiment=degradation_cpu differ in depth and
    shortcuts only: data, epochs, optimiser and device are the same for all four, and are the
    budget the preset's comment states."""
    cfg = compose_cfg("train", ["experiment=degradation_cpu"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params), None)
    jobs = [job for batch in batches for job in batch]
    expected = [[f"model={m}", f"model.net.residual={r}"]  # the sweeper writes bools as True
                for m in ("resnet18", "resnet34") for r in ("True", "False")]  # fmt: skip
    assert sorted(jobs) == sorted(expected)
    budgets = []
    for job in jobs:
        composed = compose_cfg("train", ["experiment=degradation_cpu", *job])
        check_train(composed)
        net = composed.model.net
        assert [f"model={net.arch}", f"model.net.residual={net.residual}"] == job
        budget = OmegaConf.to_container(composed, resolve=False)
        del budget["hydra"], budget["model"]["net"]["arch"], budget["model"]["net"]["residual"]
        budgets.append(budget)
    assert all(b == budgets[0] for b in budgets[1:])
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.precision is None  # bf16 where native
    assert (cfg.data.image_size, cfg.model.net.stem, cfg.test) == (28, "cifar", False)
    text = (Path(CONF_DIR) / "experiment" / "degradation_cpu.yaml").read_text()
    comment = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    stated = (f"{cfg.data.train_subset:,} training images at native {cfg.data.image_size} px for "
              f"{cfg.trainer.max_epochs} epochs, batch {cfg.data.batch_size}")
    assert stated in comment, stated


def test_reference_recipe_and_its_deprecated_name_compose_alike(compose_cfg):
    from fashion_resnet.config.hydra_job import renamed_choices

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
    # composition only (nothing trains): `~callbacks.<name>` removes exactly that one
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
    names = set()  # module paths relative to the package: "config/validate"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fashion_resnet"):
            base = node.module.split(".")[1:]
            names |= {"/".join([*base, alias.name]) for alias in node.names}
            names.add("/".join(base))
    for name in sorted(names - entries):
        if (package / f"{name}.py").is_file():
            source += (package / f"{name}.py").read_text()
    for key in compose_cfg(entry):
        if key in ("hydra", "paths", "task_name"):  # read by Hydra (run folder, interpolations)
            continue
        assert re.search(rf"cfg(\.{key}\b|\.get\(\"{key}\"|\[\"{key}\"\])", source), key


def test_plateau_config_passes_its_monitor(compose_cfg):
    cfg = compose_cfg("train", ["scheduler=plateau", "trainer.accelerator=cpu"])
    check_train(cfg)
    model = build_model(cfg, instantiate(cfg.data))
    assert model.hparams.scheduler_monitor == "val/acc"
    cfg = compose_cfg("train", ["scheduler=plateau", "scheduler.monitor=val/accuracy"])
    with pytest.raises(ValueError, match="scheduler.monitor='val/accuracy' is not a logged"):
        check_train(cfg)


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


def test_the_defaults_build_the_reference_recipe_and_nothing_more(compose_cfg):
    """What the entry point builds from the default config (not what the YAML says): the
    notebook's ResNet-18, Adam 1e-3 with StepLR(2, 0.9) from epoch 0, 10 epochs, 96 px input
    without normalisation or augmentation, and none of the opt-in callbacks."""
    cfg = compose_cfg("train")
    model = build_model(cfg, instantiate(cfg.data))
    reference = resnet.build("resnet18", stem="imagenet", in_channels=1, num_classes=10)
    assert [p.shape for p in model.net.parameters()] == [p.shape for p in reference.parameters()]
    assert model.net.stem[0].kernel_size == (7, 7) and model.net.stem[0].stride == (2, 2)
    optimizer = model.optimizer_factory(model.parameters())
    scheduler = model.scheduler_factory(optimizer)
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 1e-3
    assert type(scheduler) is torch.optim.lr_scheduler.StepLR
    assert (scheduler.step_size, scheduler.gamma) == (2, 0.9)
    assert model.hparams.warmup_epochs == 0 and model.hparams.label_smoothing == 0
    assert instantiate(cfg.trainer).max_epochs == 10

    datamodule = instantiate(cfg.data)
    images, labels = make_images(torch.arange(32) % 10, seed=0), torch.arange(32) % 10
    datamodule.trainer = SimpleNamespace(training=True, world_size=1)
    x, y = datamodule.on_after_batch_transfer((images, labels), 0)  # a training batch
    assert torch.equal(x, to_model_input(images, 96))  # resized, nothing else
    assert torch.equal(y, labels)  # no MixUp/CutMix
    assert datamodule.hparams.batch_size == 256 and datamodule.hparams.folds == 0

    kinds = {type(c).__name__ for c in hydra_job.instantiate_all(cfg.callbacks)}
    assert {"EpochPerf", "HParamsSummary", "InputGrid", "ValidationFigures"} <= kinds
    assert not kinds & {"EarlyStopping", "EMAWeightAveraging", "ModelGraph", "Histograms"}


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in set(root.handlers) - set(handlers):
        handler.close()
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("no_color", [False, True])
def test_console_logs_are_coloured_unless_no_color_and_the_file_is_plain_in_the_run_folder(
    compose_cfg, tmp_path, monkeypatch, capsys, restore_logging, no_color
):
    """The job's logging as Hydra sets it up from the composed config (logging.config)."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    hydra = compose_cfg("train").hydra
    out = tmp_path / "out"
    out.mkdir()
    logging.config.dictConfig(OmegaConf.to_container(hydra.job_logging, resolve=True))
    logging.getLogger("fashion_resnet.test").warning("a message")
    console = capsys.readouterr().out
    assert "a message" in console and ("\x1b[" in console) != no_color
    (log_file,) = out.glob("*.log")  # in the run folder, not the working directory
    assert "a message" in log_file.read_text() and "\x1b[" not in log_file.read_text()


@needs_extra("optuna", OPTUNA)
def test_every_trial_of_the_optuna_search_composes_and_maximises_a_validation_metric(compose_cfg):
    """Each swept key at both ends of its interval, or with each of its choices, composes into
    a job that passes the checks; the metric is a validation one, and the study maximises it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = compose_cfg("train", ["hparams_search=optuna"])
    assert cfg.hydra.sweeper.direction == "maximize"
    assert cfg.optimized_metric.startswith("val/") and cfg.data.val_size > 0
    parser = OverridesParser.create()
    for key, space in cfg.hydra.sweeper.params.items():
        sweep = parser.parse_override(f"{key}={space}").value()
        values = getattr(sweep, "list", None) or [sweep.start, sweep.end]  # choice, interval
        for value in values:
            job = compose_cfg("train", ["hparams_search=optuna", f"{key}={value}"])
            check_train(job)
            chosen = job.hydra.runtime.choices.get(key, OmegaConf.select(job, key.lstrip("+")))
            assert str(chosen) == str(value), (key, value)  # a group's option, or a value
