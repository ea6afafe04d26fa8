"""TensorBoard inspection: a tiny run on generated data, read back with TensorBoard's own reader."""

import json
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import compose_config, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from fashion_resnet import hydra_glue
from fashion_resnet.callbacks import flatten
from fashion_resnet.data import CLASSES
from fashion_resnet.train import train
from fashion_resnet.views import ValidationFigures

EPOCHS, STEPS_PER_EPOCH = 2, 3  # tiny_overrides: limit_train_batches=3
EPOCH_TAGS = [
    "train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "lr-Adam",
    "perf/train_images_per_s", "perf/epoch_time_s",
    *[f"val_class_acc/{c}" for c in ["T-shirt_top", "Trouser", "Ankle_boot"]],
]  # fmt: skip


def compose_run(overrides: list[str], out_dir, mode: RunMode = RunMode.RUN):
    return compose_config("train", overrides, out_dir, mode)


@pytest.fixture(scope="module")
def run(fake_data_dir, tmp_path_factory):
    """One tiny run with every view on (callbacks=inspect); its metrics and event files."""
    tmp = tmp_path_factory.mktemp("tb")
    over = tiny_overrides(fake_data_dir, tmp) + [
        f"trainer.max_epochs={EPOCHS}", "trainer.log_every_n_steps=1", "callbacks=inspect",
    ]  # fmt: skip
    metrics = train(compose_run(over, tmp / "out"))
    GlobalHydra.instance().clear()
    saved = json.loads((tmp / "out" / "metrics.json").read_text())
    ea = EventAccumulator(
        str(tmp / "out" / "tensorboard"), size_guidance={"images": 0, "histograms": 0}
    )
    ea.Reload()
    return types.SimpleNamespace(metrics=metrics, saved=saved, ea=ea)


def test_scalars_exist_with_one_point_per_step_or_epoch(run):
    scalars = set(run.ea.Tags()["scalars"])
    assert len(run.ea.Scalars("train/loss_step")) == EPOCHS * STEPS_PER_EPOCH
    for tag in EPOCH_TAGS:
        assert tag in scalars, tag
        assert len(run.ea.Scalars(tag)) == EPOCHS, tag
    for tag in ["test/loss", "test/acc"]:
        assert len(run.ea.Scalars(tag)) == 1, tag
    assert "hp_metric" not in scalars
    assert all(e.value > 0 for e in run.ea.Scalars("perf/train_images_per_s"))
    # epoch time covers training and validation, so it exceeds the training part alone
    images = STEPS_PER_EPOCH * 32
    for rate, total in zip(
        run.ea.Scalars("perf/train_images_per_s"), run.ea.Scalars("perf/epoch_time_s"), strict=True
    ):
        assert total.value > images / rate.value


def test_per_class_accuracy_for_every_class_in_the_validation_split(run):
    per_class = {t: run.ea.Scalars(t)[-1].value for t in run.ea.Tags()["scalars"]}
    per_class = {k: v for k, v in per_class.items() if k.startswith("val_class_acc/")}
    assert len(per_class) == len(CLASSES)
    assert all(0.0 <= v <= 1.0 for v in per_class.values())


def test_images_once_per_validation_epoch_not_for_the_sanity_check(run):
    val_steps = [e.step for e in run.ea.Scalars("val/acc")]
    assert [e.step for e in run.ea.Images("val/confusion_matrix")] == val_steps
    assert [e.step for e in run.ea.Images("val/misclassified")] == val_steps
    (grid,) = run.ea.Images("inputs/train_batch")
    assert grid.step == 0
    for tag in ["inputs/train_batch", "val/confusion_matrix", "val/misclassified"]:
        img = run.ea.Images(tag)[-1]
        assert img.width > 300 and img.height > 300
        assert img.encoded_image_string[:4] == b"\x89PNG"


def test_hparams_plugin_holds_the_config_and_the_final_metrics(run):
    content = run.ea.PluginTagToContent("hparams")
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["optimizer.lr"].number_value == pytest.approx(1e-3)
    assert hparams["data.image_size"].number_value == 28
    assert hparams["model.net.arch"].string_value == "resnet18"
    assert hparams["scheduler._target_"].string_value == "torch.optim.lr_scheduler.StepLR"
    assert hparams["trainer.max_epochs"].number_value == EPOCHS
    assert hparams["seed"].number_value == 42
    assert "data.data_dir" not in hparams  # a path, not a hyperparameter
    assert {h.name for h in experiment.hparam_infos} == set(hparams)
    names = [m.name.tag for m in experiment.metric_infos]
    assert names == ["val/acc_best", "test/acc", "test/loss"]
    # The table shows each metric's last scalar value: the run's final results.
    for name in names:
        assert run.ea.Scalars(name)[-1].value == pytest.approx(run.saved[name]), name
    assert run.saved["val/acc_best"] == pytest.approx(
        max(e.value for e in run.ea.Scalars("val/acc"))
    )


def test_graph_and_histograms_when_switched_on(run):
    assert run.ea.Tags()["graph"]
    histograms = run.ea.Tags()["histograms"]
    for kind in ["weights", "grads"]:
        tag = f"{kind}/net.stem.0.weight"
        assert tag in histograms
        assert len(run.ea.Histograms(tag)) == EPOCHS


def test_optional_views_are_off_by_default(compose_cfg):
    names = set(compose_cfg("train").callbacks)
    assert {"epoch_perf", "hparams", "input_grid", "val_figures"} <= names
    assert not names & {"model_graph", "histograms"}


class Recorder:
    device = torch.device("cpu")

    def __init__(self):
        self.logged = {}

    def log_dict(self, values):
        self.logged.update(values)


def test_validation_figures_accumulate_confusion_and_keep_the_worst_mistakes():
    cb = ValidationFigures(max_misclassified=2, class_names=["a", "b", "c"])
    trainer = types.SimpleNamespace(sanity_checking=False, is_global_zero=True, loggers=[])
    module = Recorder()
    cb.on_validation_epoch_start(trainer, module)
    y = torch.tensor([0, 1, 2, 2])
    # predictions 0 (right), 2 (wrong, p high), 0 (wrong, p low), 2 (right)
    logits = torch.tensor([[5.0, 0, 0], [0, 0, 9], [1, 0, 0.5], [0, 0, 3]])
    x = torch.arange(4.0).view(4, 1, 1, 1)
    cb.on_validation_batch_end(trainer, module, logits, (x, y), 0)
    cb.on_validation_batch_end(trainer, module, logits[:1] * 0 + torch.tensor([0, 7.0, 0]),
                               (x[:1] + 10, y[:1]), 1)  # fmt: skip
    cb.on_validation_epoch_end(trainer, module)
    assert cb.confmat.compute().tolist() == [[1, 1, 0], [0, 0, 1], [1, 0, 1]]
    assert module.logged == {"val_class_acc/a": 0.5, "val_class_acc/b": 0.0, "val_class_acc/c": 0.5}
    conf, images, labels, preds = cb.worst
    assert images.flatten().tolist() == [1.0, 10.0]  # the two most confident mistakes
    assert preds.tolist() == [2, 1] and labels.tolist() == [1, 0]
    with pytest.raises(TypeError, match="needs validation_step to return the logits"):
        cb.on_validation_batch_end(trainer, module, None, (x, y), 2)


def test_flatten_gives_tensorboard_types():
    flat = flatten({"a": {"b": 1, "c": {"d": 0.5}}, "e": None, "f": True, "g": [1, 2], "h": "x"})
    assert flat == {"a.b": 1, "a.c.d": 0.5, "e": "None", "f": "True", "g": "[1, 2]", "h": "x"}


def test_sweep_jobs_are_named_by_their_swept_values(tmp_path, monkeypatch):
    # The launching command swept the optimizer; logger and paths were fixed for every job.
    monkeypatch.setattr(
        sys, "argv", ["train", "-m", "optimizer=adam,sgd", f"paths.log_dir={tmp_path}"]
    )
    over = ["optimizer=sgd", "logger=tensorboard", f"paths.log_dir={tmp_path}"]
    cfg = compose_run(over, tmp_path / "0", RunMode.MULTIRUN)
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == tmp_path / "0" / "tensorboard" / "optimizer=sgd"
    cfg = compose_run(over, tmp_path / "run", RunMode.RUN)
    assert Path(instantiate(cfg.logger.tensorboard).log_dir) == tmp_path / "run" / "tensorboard"
    GlobalHydra.instance().clear()


def test_hparams_leave_out_paths_and_show_a_missing_scheduler(compose_cfg):
    params = hydra_glue.hparams(compose_cfg("train", ["~scheduler"]))
    assert params["scheduler"] is None
    # precision stays null in the composed config; train.py fills it in for the device
    trainer = {"max_epochs": 10, "precision": None, "accumulate_grad_batches": 1,
               "gradient_clip_val": None}  # fmt: skip
    assert params["trainer"] == trainer
    assert "data_dir" not in params["data"] and params["data"]["image_size"] == 96


class Writer:
    def __init__(self):
        self.images = []

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, step))


def test_validation_figures_in_a_fit_at_most_once_per_interval_and_the_last(monkeypatch):
    import fashion_resnet.views as views

    writer, clock, epoch = Writer(), [0.0], [0]
    monkeypatch.setattr(views, "tensorboard", lambda trainer: writer)
    monkeypatch.setattr(views, "step", lambda trainer: epoch[0])
    monkeypatch.setattr(views.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(views.figures, "confusion_matrix", lambda counts, names: "cm")
    cb = ValidationFigures(class_names=["a", "b"], interval_s=60)
    fit = types.SimpleNamespace(sanity_checking=False, state=types.SimpleNamespace(fn="fit"))
    module = Recorder()
    logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])  # right: no mistakes to show
    for epoch[0], clock[0] in enumerate([0.0, 10.0, 70.0, 75.0]):  # seconds into the run
        cb.on_validation_epoch_start(fit, module)
        cb.on_validation_batch_end(fit, module, logits, (torch.zeros(1, 1, 2, 2), y), 0)
        cb.on_validation_epoch_end(fit, module)
    assert writer.images == [("val/confusion_matrix", 0), ("val/confusion_matrix", 2)]
    cb.on_train_end(fit, module)  # the last validation's turn was skipped: drawn now
    assert writer.images[-1] == ("val/confusion_matrix", 3) and len(writer.images) == 3
    cb.on_train_end(fit, module)
    assert len(writer.images) == 3  # nothing pending: nothing drawn twice
    check = types.SimpleNamespace(sanity_checking=False, state=types.SimpleNamespace(fn="validate"))
    cb.on_validation_epoch_start(check, module)
    cb.on_validation_epoch_end(check, module)  # Trainer.validate, not a fit: always drawn
    assert len(writer.images) == 4
    with pytest.raises(ValueError, match="interval_s must be >= 0"):
        ValidationFigures(interval_s=-1)
