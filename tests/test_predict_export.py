import json

import numpy as np
import pytest
import torch
from conftest import compose_config, make_images, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from fashion_resnet import export as E
from fashion_resnet.checkpoints import CheckpointError
from fashion_resnet.data import CLASSES
from fashion_resnet.predict import predict, write
from fashion_resnet.train import train


@pytest.fixture(scope="module")
def run_dir(fake_data_dir, tmp_path_factory):
    """A tiny trained run at 32 px (so the exported graph contains a real resize)."""
    out = tmp_path_factory.mktemp("run")
    over = [*tiny_overrides(fake_data_dir, out), "data.image_size=32", "data.normalize=true"]
    train(compose_config("train", over, out / "run"))
    GlobalHydra.instance().clear()
    return out / "run"


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
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        predict(str(run_dir), str(tmp_path / "nope.png"))
    with pytest.raises(ValueError, match="invert='maybe'; choose one of: auto, true, false"):
        predict(str(run_dir), str(tmp_path), invert="maybe")
    with pytest.raises(CheckpointError, match="does not exist"):
        predict(str(tmp_path / "no_run"), str(tmp_path))


def test_export_both_formats_verified(run_dir, tmp_path):
    meta = E.export(run_dir, tmp_path / "export", {}, n_verify=64)
    files = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert files == ["model.json", "model.onnx", "model.torchscript.pt"]
    assert meta["classes"] == list(CLASSES)
    assert meta["preprocessing_in_graph"] == {"image_size": 32, "normalize": True}
    assert "test/acc" in meta["checkpoint_metrics"]
    assert all(d <= E.TOLERANCE for d in meta["verification"]["max_abs_diff"].values())
    # The files work on their own: uint8 28x28 in, probabilities out.
    images = make_images(torch.arange(5) % 10, seed=9)
    onnx_p = E.run_onnx(tmp_path / "export" / "model.onnx", images)
    ts_p = torch.jit.load(str(tmp_path / "export" / "model.torchscript.pt"))(images)
    assert onnx_p.shape == (5, 10) and torch.allclose(onnx_p.sum(1), torch.ones(5), atol=1e-5)
    assert torch.allclose(onnx_p, ts_p, atol=E.TOLERANCE)


def test_exported_onnx_rejects_a_mismatched_input(run_dir, tmp_path):
    E.export(run_dir, tmp_path / "export", {}, n_verify=16)
    bad = torch.zeros(2, 32, 32, dtype=torch.uint8)  # not 28x28
    with pytest.raises(Exception, match=r"(?i)dimension|shape|index: 1"):
        E.run_onnx(tmp_path / "export" / "model.onnx", bad)
    with pytest.raises(Exception, match=r"(?i)type|uint8|float"):
        E.run_onnx(tmp_path / "export" / "model.onnx", bad.float()[:, :28, :28])


def test_export_refuses_to_write_when_outputs_disagree(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(E, "run_onnx", lambda path, images: torch.full((len(images), 10), 0.1))
    with pytest.raises(E.ExportError, match="ONNX export disagrees with PyTorch"):
        E.export(run_dir, tmp_path / "export", {}, n_verify=16)
    assert not (tmp_path / "export").exists()
