"""picture_files.py: pictures of any size and mode read as uint8 tensors of one shape, class
folders listed with clear errors, unreadable files skipped by name, progress on large reads."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import write_picture_folder
from PIL import Image

from fashion_resnet.data import picture_files as pf
from fashion_resnet.data import transforms as T
from fashion_resnet.errors import ConfigError


def stripes(h: int, w: int) -> np.ndarray:
    """RGB (h, w, 3): red rows, a green left half, a blue top-left quarter; asymmetric."""
    a = np.zeros((h, w, 3), np.uint8)
    a[::2, :, 0] = 200
    a[:, : w // 2, 1] = 150
    a[: h // 2, : w // 2, 2] = 250
    return a


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16"])
@pytest.mark.parametrize("shape", [(3, 12, 12), (1, 12, 12), (12, 12)])
def test_any_mode_becomes_the_stored_shape(mode, shape, tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(stripes(30, 20)).convert(mode).save(path)
    with Image.open(path) as img:
        x = pf.read_picture(img, shape)
    assert x.dtype == torch.uint8 and tuple(x.shape) == shape


def test_shorter_side_resized_then_the_centre_cut_out():
    x = torch.arange(2 * 20 * 40, dtype=torch.float32).view(2, 20, 40).to(torch.uint8)
    out = T.fit_square(x, 10)
    assert out.shape == (2, 10, 10)
    # a no-distortion resize: the middle half of the long side, halved, is what remains
    expected = torch.nn.functional.interpolate(x[None], size=(10, 20), mode="bilinear",
                                               antialias=True)[0, :, :, 5:15]  # fmt: skip
    assert torch.equal(out, expected)
    same = torch.randint(0, 255, (3, 10, 10), dtype=torch.uint8)
    assert torch.equal(T.fit_square(same, 10), same)  # already the size: untouched


def test_colour_is_kept_and_exif_orientation_applied(tmp_path):
    a = stripes(16, 32)
    path = tmp_path / "rotated.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned, rotate 90 degrees clockwise
    Image.fromarray(a).save(path, exif=exif)
    with Image.open(path) as img:
        x = pf.read_picture(img, (3, 16, 16))
    upright = torch.from_numpy(np.rot90(a, k=-1).copy()).permute(2, 0, 1)  # (3, 32, 16)
    assert torch.equal(x, T.fit_square(upright.contiguous(), 16))


def test_invert_true_auto_and_false(tmp_path):
    light = np.full((10, 10), 240, np.uint8)
    light[3:7, 3:7] = 10  # a dark item on a light background
    path = tmp_path / "light.png"
    Image.fromarray(light).save(path)
    with Image.open(path) as img:
        kept, auto, forced = (
            pf.read_picture(img, (10, 10), inv) for inv in ("false", "auto", "true")
        )
    assert kept[0, 0] == 240 and auto[0, 0] == 15 and torch.equal(auto, forced)


def test_class_folders_lists_pictures_at_any_depth(tmp_path):
    root = write_picture_folder(tmp_path / "pics", per_class=2)
    (root / "cats" / "more").mkdir()
    Image.fromarray(stripes(8, 8)).save(root / "cats" / "more" / "deep.PNG")
    (root / "cats" / "notes.txt").write_text("not a picture: ignored")
    (root / ".cache").mkdir()  # hidden folders are no class
    found = pf.class_folders(root)
    assert list(found) == ["cats", "dogs"]
    assert [p.name for p in found["cats"]] == ["000.jpg", "001.png", "deep.PNG"]


@pytest.mark.parametrize(
    "layout,match",
    [
        ("missing", "data.root='.*nothing': no such folder"),
        ("one", r"holds 1 class folder\(s\) \(cats\): a classifier needs at least 2"),
        ("empty", r"class folder\(s\) dogs hold no pictures"),
    ],
)
def test_bad_folders_are_one_config_error(layout, match, tmp_path):
    root = tmp_path / "nothing"
    if layout != "missing":
        root = write_picture_folder(tmp_path / "pics", per_class=1, classes=("cats",))
    if layout == "empty":
        (root / "dogs").mkdir()
    with pytest.raises(ConfigError, match=match):
        pf.class_folders(root)


def test_unreadable_files_are_skipped_with_one_line_each(tmp_path, capsys):
    root = write_picture_folder(tmp_path / "pics", per_class=2)
    broken = root / "dogs" / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    files = [(p, k) for k, c in enumerate(("cats", "dogs")) for p in sorted((root / c).iterdir())]
    read = functools.partial(pf.read_picture, image_shape=(3, 8, 8))
    images, labels = pf.read_all(files, read)
    assert images.shape == (4, 3, 8, 8) and labels.tolist() == [0, 0, 1, 1]
    err = capsys.readouterr().err
    assert err == f"skipped {broken}: not a readable picture (UnidentifiedImageError)\n"
    assert not pf.readable(broken, open_only=True) and pf.readable(files[0][0])
    assert pf.with_headers(files) == [f for f in files if f[0] != broken]
    streamed = pf.PictureFiles([f for f in files if f[0] != broken], read)
    assert torch.equal(torch.stack([streamed[i][0] for i in range(len(streamed))]), images)
    assert [streamed[i][1] for i in range(4)] == labels.tolist()


def test_a_large_read_shows_progress(tmp_path, capsys, monkeypatch):
    root = write_picture_folder(tmp_path / "pics", per_class=3)
    files = [(p, 0) for p in sorted((root / "cats").iterdir())]
    read = functools.partial(pf.read_picture, image_shape=(3, 8, 8))
    pf.read_all(files, read)
    assert capsys.readouterr().err == ""  # a few pictures: no bar
    monkeypatch.setattr(pf, "PROGRESS_FROM", 3)
    pf.read_all(files, read)
    err = capsys.readouterr().err
    assert "reading pictures" in err and "/3 [" in err
