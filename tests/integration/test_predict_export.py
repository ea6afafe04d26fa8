"""fashion-predict and fashion-export on a tiny trained run: pictures of any size and mode,
memory flat as the folder grows, both export formats verified against the training path."""

import json
import warnings

import numpy as np
import pytest
import torch
from conftest import compose_config, make_images, needs_extra, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from fashion_resnet import export as E
from fashion_resnet.data import transforms as T
from fashion_resnet.data.fashion_mnist import CLASSES, FashionMNISTDataModule, to_fashion_mnist
from fashion_resnet.errors import ConfigError
from fashion_resnet.predict import predict, write
from fashion_resnet.runs import checkpoints, folders
from fashion_resnet.runs.checkpoints import CheckpointError
from fashion_resnet.train import train


@pytest.fixture(scope="module")
def run_dir(fake_data_dir, tmp_path_factory):
    """A tiny trained run at 32 px (so the exported graph contains a real resize)."""
    out = tmp_path_factory.mktemp("run")
    over = [*tiny_overrides(fake_data_dir, out), "data.image_size=32", "data.normalize=true"]
    train(compose_config("train", over, out / "run"))
    GlobalHydra.instance().clear()
    return out / "run"


NEEDS_EXPORT = needs_extra("export", *E.EXPORT_MODULES)


def save(path, array, mode):
    Image.fromarray(array).convert(mode).save(path)
    return path


def test_predict_files_of_any_size_and_mode_skipping_non_images(run_dir, tmp_path):
    item = make_images(torch.tensor([1]), seed=0)[0].numpy()  # light band on dark
    big = np.kron(item, np.ones((5, 4), dtype=np.uint8))  # 140 x 112, not square
    folder = tmp_path / "pics"
    folder.mkdir()
    save(folder / "grey.png", item, "L")
    save(folder / "rgb_big.jpg", big, "RGB")
    save(folder / "big.png", big, "L")
    save(folder / "light_bg.png", 255 - big, "RGB")  # dark item on white: auto-inverted
    save(folder / "rgba.png", item, "RGBA")
    (folder / "notes.txt").write_text("not an image")
    rows, skipped = predict(str(run_dir), str(folder), invert="auto", top_k=3)
    assert sorted(r["file"].split("/")[-1] for r in rows) == [
        "big.png",
        "grey.png",
        "light_bg.png",
        "rgb_big.jpg",
        "rgba.png",
    ]
    assert skipped == [(str(folder / "notes.txt"), "not an image (UnidentifiedImageError)")]
    for r in rows:
        assert r["label"] in CLASSES and r["label"] == r["top"][0]["label"]
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and probs[0] <= 1
    by_name = {r["file"].split("/")[-1]: r for r in rows}
    # the same picture light-on-dark and (inverted) dark-on-light gets the same answer
    inverted, plain = by_name["light_bg.png"], by_name["big.png"]
    assert inverted["label"] == plain["label"]
    assert inverted["probability"] == pytest.approx(plain["probability"], abs=0.01)
    write(rows, skipped, tmp_path / "out" / "predictions")
    saved = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert len(saved["predictions"]) == 5 and "notes.txt" in next(iter(saved["skipped"]))
    csv_lines = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert csv_lines[0] == "file,label,probability,top" and len(csv_lines) == 6


def test_predict_rejects_missing_paths_and_bad_invert(run_dir, tmp_path):
    with pytest.raises(ConfigError, match="no such file or folder"):
        predict(str(run_dir), str(tmp_path / "nope.png"))
    with pytest.raises(ConfigError, match="invert='maybe'; choose one of: auto, true, false"):
        predict(str(run_dir), str(tmp_path), invert="maybe")
    with pytest.raises(ConfigError, match="no files to label"):
        predict(str(run_dir), str(tmp_path))  # an empty folder: before the model is loaded
    save(tmp_path / "a.png", make_images(torch.tensor([1]), seed=0)[0].numpy(), "L")
    with pytest.raises(CheckpointError, match="does not exist"):
        predict(str(tmp_path / "no_run"), str(tmp_path))


def picture_folder(folder, n: int):
    folder.mkdir()
    for i, item in enumerate(make_images(torch.arange(n) % 10, seed=3).numpy()):
        save(folder / f"{i:04d}.png", item, "L")
    return folder


def watch_forward_passes(monkeypatch) -> list[int]:
    """Batch size of every forward pass of the net that predict() loads."""
    sizes, load = [], checkpoints.load_model

    def load_and_watch(path):
        model, data_args = load(path)
        model.net.register_forward_hook(lambda mod, args, out: sizes.append(len(args[0])))
        return model, data_args

    monkeypatch.setattr(checkpoints, "load_model", load_and_watch)
    return sizes


def test_predict_memory_stays_flat_as_the_folder_grows(run_dir, tmp_path, monkeypatch, capsys):
    # Memory of a pass grows with its batch (at 96 px the stem output is 0.6 MB per picture):
    # a folder 4x larger must mean 4x more passes of the same size, not a 4x larger one.
    sizes = watch_forward_passes(monkeypatch)
    small = predict(str(run_dir), str(picture_folder(tmp_path / "small", 12)), batch_size=8)[0]
    small_passes, sizes[:] = list(sizes), []
    large = predict(str(run_dir), str(picture_folder(tmp_path / "large", 48)), batch_size=8)[0]
    assert small_passes == [8, 4] and sizes == [8] * 6
    assert len(small) == 12 and len(large) == 48
    assert "/48 [" in capsys.readouterr().err  # a progress bar for more than one batch


def test_predict_in_batches_matches_one_pass_over_the_folder(run_dir, tmp_path):
    """A small folder gives exactly what the whole folder in one forward pass gave."""
    folder = picture_folder(tmp_path / "pics", 10)
    rows, _ = predict(str(run_dir), str(folder))
    model, _ = checkpoints.load_model(folders.checkpoint_in(run_dir))
    pictures = []
    for f in sorted(folder.iterdir()):
        with Image.open(f) as img:
            pictures.append(to_fashion_mnist(img, "auto"))
    data = model.hparams.data
    x = T.to_model_input(torch.stack(pictures), data["image_size"], data["mean"], data["std"])
    with torch.no_grad():
        top = model(x).softmax(dim=1).topk(3, dim=1)
    assert [r["label"] for r in rows] == [CLASSES[i] for i in top.indices[:, 0].tolist()]
    assert [r["probability"] for r in rows] == [round(p, 4) for p in top.values[:, 0].tolist()]
    # in batches of 3 the labels do not change
    assert [r["label"] for r in predict(str(run_dir), str(folder), batch_size=3)[0]] == [
        r["label"] for r in rows
    ]


@NEEDS_EXPORT
def test_export_both_formats_verified_against_the_training_path(run_dir, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # torch.jit's deprecation, for one
        meta = E.export(run_dir, tmp_path / "export", {}, n_verify=64)
    files = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert files == ["model.json", "model.onnx", "model.pt2"]
    assert meta["classes"] == list(CLASSES)
    assert meta["preprocessing_in_graph"] == {"image_size": 32, "normalize": True}
    assert "test/acc" in meta["checkpoint_metrics"]
    assert set(meta["verification"]["max_abs_diff"]) == {"pt2", "onnx"}
    assert all(d <= E.TOLERANCE for d in meta["verification"]["max_abs_diff"].values())
    # The files work on their own, for any batch size: uint8 28x28 in, probabilities out, as
    # the model saw them in training (the DataModule's transform, 28 -> 32 px, normalised).
    model, data_args = checkpoints.load_model(folders.checkpoint_in(run_dir))
    datamodule = FashionMNISTDataModule(**data_args)
    for n in (1, 5):
        images = make_images(torch.arange(n) % 10, seed=9)
        with torch.no_grad():
            trained = model(datamodule.transform(images)).softmax(dim=1)
        onnx_p = E.run_onnx(tmp_path / "export" / "model.onnx", images)
        pt2_p = E.run_pt2(tmp_path / "export" / "model.pt2", images)
        assert onnx_p.shape == pt2_p.shape == (n, 10)
        assert torch.allclose(onnx_p.sum(1), torch.ones(n), atol=1e-5)
        assert torch.allclose(pt2_p, trained, atol=E.TOLERANCE)
        assert torch.allclose(onnx_p, trained, atol=E.TOLERANCE)


@NEEDS_EXPORT
def test_exported_onnx_rejects_a_mismatched_input(run_dir, tmp_path):
    E.export(run_dir, tmp_path / "export", {}, n_verify=16)
    bad = torch.zeros(2, 32, 32, dtype=torch.uint8)  # not 28x28
    with pytest.raises(Exception, match=r"(?i)dimension|shape|index: 1"):
        E.run_onnx(tmp_path / "export" / "model.onnx", bad)
    with pytest.raises(Exception, match=r"(?i)type|uint8|float"):
        E.run_onnx(tmp_path / "export" / "model.onnx", bad.float()[:, :28, :28])


@NEEDS_EXPORT
def test_export_refuses_to_write_when_outputs_disagree(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(E, "run_onnx", lambda path, images: torch.full((len(images), 10), 0.1))
    with pytest.raises(E.ExportError, match="ONNX export disagrees with the trained model"):
        E.export(run_dir, tmp_path / "export", {}, n_verify=16)
    assert not (tmp_path / "export").exists()


def test_a_checkpoint_trained_with_compile_evaluates_predicts_and_exports_without_compiling(
    run_dir, fake_data_dir, tmp_path, monkeypatch
):
    from fashion_resnet.eval import evaluate
    from fashion_resnet.models.classifier import Classifier

    assert "compile" not in Classifier({"arch": "resnet18"}, compile=True).hparams
    # A checkpoint of an earlier version holds the run's choice: model.compile=true.
    ckpt = torch.load(folders.checkpoint_in(run_dir), weights_only=True)
    ckpt["hyper_parameters"]["compile"] = True
    path = tmp_path / "compiled.ckpt"
    torch.save(ckpt, path)

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled")

    monkeypatch.setattr(torch.nn.Module, "compile", no_compile)
    monkeypatch.setattr(torch, "compile", no_compile)
    model, _ = checkpoints.load_model(path)
    assert model.net._compiled_call_impl is None
    pictures = tmp_path / "pics"
    pictures.mkdir()
    save(pictures / "a.png", make_images(torch.tensor([3]), seed=0)[0].numpy(), "L")
    assert len(predict(str(path), str(pictures))[0]) == 1
    assert E.export(path, tmp_path / "export", {}, n_verify=8)["verification"]["images"] == 8
    cfg = compose_config("eval", [f"ckpt_path={path}", f"data.data_dir={fake_data_dir}",
                                  "+data.verify=false", "+data.system_dir=null",
                                  "+data.download=false", "trainer.accelerator=cpu",
                                  "+trainer.limit_test_batches=1"], tmp_path / "eval")  # fmt: skip
    try:
        assert 0.0 <= evaluate(cfg)["test/acc"] <= 1.0
    finally:
        GlobalHydra.instance().clear()
