"""Your own pictures and backbone, end to end through the entry points: a generated folder of
coloured pictures in two class folders trains (data=image_folder) with a torchvision, a timm and
an own `_target_` backbone, is tested, labelled by predict with the folder names, evaluated and
exported. Only the data (40 pictures at 16 px), the epochs and the batches shrink: callbacks,
loggers and device choices are the shipped ones."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch
from conftest import compose_config, needs_extra, write_picture_folder
from hydra.core.global_hydra import GlobalHydra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fashion_resnet import export as E
from fashion_resnet import predict as P
from fashion_resnet import train as T
from fashion_resnet.cli import exits
from fashion_resnet.eval import evaluate
from fashion_resnet.runs import checkpoints, folders

CLASSES = ["cats", "dogs"]  # write_picture_folder's class folders
OWN_NET = '''
    from torch import nn

    class Net(nn.Module):
        """A researcher's module: it names in_channels and num_classes, and has one of its own."""

        def __init__(self, in_channels: int, num_classes: int, width: int = 4) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.out = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.out(self.body(x))
'''


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """40 pictures, 20 a class, 16-21 px high and wide, PNG and JPEG, and one broken file."""
    root = write_picture_folder(tmp_path_factory.mktemp("own") / "pictures", per_class=20)
    (root / "dogs" / "broken.png").write_bytes(b"not a picture")
    return root


def overrides(root, out, *extra: str) -> list[str]:
    return [
        "data=image_folder", f"data.root={root}", "data.image_size=16", "data.batch_size=8",
        "data.val_size=0.3",  # 10 pictures: both classes, so both have a validation accuracy
        "trainer.accelerator=cpu", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
        f"paths.log_dir={out}", f"hydra.run.dir={out}/run", *extra,
    ]  # fmt: skip


def train_run(root, out, *extra: str) -> dict:
    metrics = T.train(compose_config("train", overrides(root, out, *extra), out / "run"))
    GlobalHydra.instance().clear()
    return metrics


def check_predict_eval_export(run, pictures, tmp_path, capsys, monkeypatch) -> dict:
    """predict prints the class folders' names; eval matches the run's test; export verifies."""
    monkeypatch.setattr(sys, "argv", ["fashion-predict", f"ckpt_path={run}",
                                      f"images={pictures / 'dogs'}",
                                      f"hydra.run.dir={tmp_path / 'predict'}"])  # fmt: skip
    GlobalHydra.instance().clear()
    P.main()
    printed = capsys.readouterr().out.splitlines()
    labelled = [line for line in printed if line.startswith(str(pictures))]
    assert len(labelled) == 20 and all(line.split(": ")[1].split()[0] in CLASSES
                                       for line in labelled)  # fmt: skip
    assert f"skipped {pictures / 'dogs' / 'broken.png'}: not an image" in "\n".join(printed)

    ecfg = compose_config("eval", [f"ckpt_path={run}", "trainer.accelerator=cpu"], tmp_path / "e")
    GlobalHydra.instance().clear()
    saved = json.loads((run / "metrics.json").read_text())
    assert evaluate(ecfg)["test/acc"] == pytest.approx(saved["test/acc"])

    meta = E.export(run, tmp_path / "export", {}, n_verify=256)
    assert meta["classes"] == CLASSES and meta["input"]["shape"] == ["batch", 3, 16, 16]
    model, data_hparams = checkpoints.load_model(folders.checkpoint_in(run))
    datamodule = checkpoints.datamodule_for(model.hparams.data, data_hparams, {})
    datamodule.setup("test")
    assert meta["verification"]["images"] == len(datamodule.test_set) < 256  # all of them
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        trained = model(datamodule.transform(images)).softmax(dim=1)
    assert torch.allclose(E.run_pt2(tmp_path / "export" / "model.pt2", images), trained,
                          atol=E.TOLERANCE)  # fmt: skip
    return saved


def test_torchvision_resnet18_on_a_folder_of_pictures(pictures, tmp_path, capsys, monkeypatch):
    out = tmp_path / "tv"
    # fp32, not the CPU's bf16 default: torchvision's resnet18 under CPU bf16 autocast made its
    # weights non-finite at step 2 of 2 once in CI (16-px pictures, so 1x1 maps from layer 3 on;
    # the loss finite), as timm's test_resnet below did. What this test checks (the folder's
    # labels through predict, eval and export) does not depend on the precision.
    metrics = train_run(pictures, out, "model.net.arch=torchvision/resnet18",
                        "trainer.precision=32-true")  # fmt: skip
    run = out / "run"
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["global_step"] == 2  # 23 pictures / 8
    assert "skipped" in capsys.readouterr().err  # the broken file, named once per read
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["net"] == {"arch": "torchvision/resnet18"}
    assert (hp["num_classes"], hp["in_channels"], hp["data"]["classes"]) == (2, 3, CLASSES)
    # TensorBoard's per-class accuracy and confusion matrix carry the folder names
    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    ea.Reload()
    assert {f"val_class_acc/{c}" for c in CLASSES} <= set(ea.Tags()["scalars"])
    assert ea.Images("val/confusion_matrix") and ea.Images("inputs/train_batch")
    check_predict_eval_export(run, pictures, tmp_path, capsys, monkeypatch)


@needs_extra("timm", "timm")
def test_a_timm_model_on_a_folder_of_pictures(pictures, tmp_path, capsys, monkeypatch):
    out = tmp_path / "timm"
    # fp32, not the CPU's bf16 default: timm's test_resnet under CPU bf16 autocast turned NaN
    # now and then within 3 steps on 16-px pictures (torch 2.14; fp32: never, in the same runs)
    train_run(pictures, out, "model=timm", "model.net.arch=timm/test_resnet",
              "trainer.precision=32-true")  # fmt: skip
    check_predict_eval_export(out / "run", pictures, tmp_path, capsys, monkeypatch)


def test_an_own_module_on_a_folder_of_pictures(pictures, tmp_path, capsys, monkeypatch):
    (tmp_path / "my_nets.py").write_text(textwrap.dedent(OWN_NET))
    monkeypatch.syspath_prepend(str(tmp_path))  # importable from where you run
    out = tmp_path / "own"
    train_run(pictures, out, "model=custom", "model.net._target_=my_nets.Net", "+model.net.width=6")
    hp = torch.load(out / "run" / "checkpoints" / "last.ckpt", weights_only=True)[
        "hyper_parameters"
    ]
    assert hp["net"] == {"_target_": "my_nets.Net", "width": 6}
    model, _ = checkpoints.load_model(out / "run" / "checkpoints" / "last.ckpt")
    assert model.net.out.out_features == 2 and model.net.body[0].in_channels == 3
    check_predict_eval_export(out / "run", pictures, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("layout,expected", [
    ("missing", "data.root='{root}': no such folder"),
    ("one class", "holds 1 class folder(s) (cats): a classifier needs at least 2"),
    ("empty class", "class folder(s) dogs hold no pictures"),
])  # fmt: skip
def test_a_bad_folder_is_one_line_and_status_2(layout, expected, tmp_path, monkeypatch, capsys):
    root = tmp_path / "pics"
    if layout != "missing":
        write_picture_folder(root, per_class=2, classes=("cats",))
    if layout == "empty class":
        (root / "dogs").mkdir()
        (root / "dogs" / "notes.txt").write_text("no picture")
    args = overrides(root, tmp_path, "model.net.stem=cifar")  # the 16-px pictures' stem
    monkeypatch.setattr(sys, "argv", ["fashion-train", *args])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as stop:
        T.main()
    GlobalHydra.instance().clear()
    lines = capsys.readouterr().err.replace("Seed set to 42\n", "").strip().splitlines()
    assert stop.value.code == exits.USER_ERROR
    assert len(lines) == 1 and lines[0].startswith("fashion-train: error: "), lines
    assert expected.format(root=root) in lines[0]
