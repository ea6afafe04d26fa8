"""TensorBoard inspection: a tiny run on generated data, read back with TensorBoard's own reader."""

import json
import types

import pytest
from conftest import compose_config, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from fashion_resnet.data.fashion_mnist import CLASSES
from fashion_resnet.train import train

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
