"""Pictures on disk as uint8 tensors: one picture of any size and mode read as a dataset stores
its images, a folder of class folders listed, many pictures read with progress (unreadable ones
skipped, one line each), and a Dataset that reads them as it goes (for data too big to hold)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset
from tqdm import tqdm

from fashion_resnet.data import transforms as T
from fashion_resnet.errors import ConfigError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
PROGRESS_FROM = 1000  # pictures: reading fewer takes seconds, more gets a progress bar
UNREADABLE = (UnidentifiedImageError, OSError, ValueError)  # what PIL raises for a bad file

Files = list[tuple[Path, int]]  # (picture, class index)


def read_picture(
    img: Image.Image, image_shape: Sequence[int], invert: str = "false"
) -> torch.Tensor:
    """A picture -> uint8 `image_shape` ((H, W) grey, or (C, S, S) with C 1 or 3): turned upright
    (EXIF), grey or RGB, inverted when told to ("auto": when its border is light), the shorter
    side resized to S and the centre cut out (transforms.fit_square)."""
    channels, size = (1 if len(image_shape) == 2 else image_shape[0]), image_shape[-1]
    mode = "L" if channels == 1 else "RGB"
    img.draft(mode, (size, size))  # JPEG: decode at a reduced scale still >= size (fast)
    img = ImageOps.exif_transpose(img).convert(mode)
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)  # (C, H, W)
    if invert == "true" or (invert == "auto" and light_border(x)):
        x = 255 - x
    x = T.fit_square(x, size)
    return x[0] if len(image_shape) == 2 else x


def light_border(x: torch.Tensor) -> bool:
    """The mean of a (C, H, W) uint8 picture's outermost pixels is above mid-grey."""
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)
    return border.float().mean().item() > 127


def class_folders(folder: Path, key: str = "data.root") -> dict[str, list[Path]]:
    """{class name: its pictures, sorted} for each sub-folder of `folder` (pictures found at any
    depth below it). A missing folder, an empty class or fewer than 2 classes: a ConfigError."""
    if not folder.is_dir():
        raise ConfigError(
            f"{key}={str(folder)!r}: no such folder (expected <folder>/<class>/"
            "*.png|jpg, or <folder>/train/<class>/... and <folder>/test/<class>/...)"
        )
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = {c.name: sorted(f for f in c.rglob("*") if f.suffix.lower() in SUFFIXES
                            and f.is_file()) for c in classes}  # fmt: skip
    if len(found) < 2:
        raise ConfigError(
            f"{key}={str(folder)!r} holds {len(found)} class folder(s) "
            f"({', '.join(found) or 'none'}): a classifier needs at least 2"
        )
    empty = [name for name, files in found.items() if not files]
    if empty:
        raise ConfigError(
            f"{key}={str(folder)!r}: class folder(s) {', '.join(empty)} hold no "
            f"pictures ({'|'.join(SUFFIXES)})"
        )
    return found


def readable(path: Path, open_only: bool = False) -> bool:
    """Whether PIL can read the file (`open_only`: its header); a line on stderr when not."""
    try:
        with Image.open(path) as img:
            if not open_only:
                img.load()
        return True
    except UNREADABLE as e:
        skipped(path, e)
        return False


def with_headers(files: Files, show: bool = True) -> Files:
    """The files whose header PIL reads (the streaming path's check: decoding waits for the
    batch); the others named on stderr. A bar (`show`) from PROGRESS_FROM files on."""
    bar = tqdm(files, desc="checking pictures", unit="picture", leave=False,
               disable=not show or len(files) < PROGRESS_FROM)  # fmt: skip
    return [f for f in bar if readable(f[0], open_only=True)]


def skipped(path: Path, e: Exception) -> None:
    print(f"skipped {path}: not a readable picture ({type(e).__name__})", file=sys.stderr,
          flush=True)  # fmt: skip


def read_all(
    files: Files, read: Callable[[Image.Image], torch.Tensor], show: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every readable picture: (uint8 images (N, ...), int64 labels (N,)); unreadable ones are
    skipped with a line each. A bar on stderr (`show`) from PROGRESS_FROM pictures on."""
    images, labels = [], []
    bar = tqdm(files, desc="reading pictures", unit="picture", leave=False,
               disable=not show or len(files) < PROGRESS_FROM)  # fmt: skip
    for path, label in bar:
        try:
            with Image.open(path) as img:
                images.append(read(img))
            labels.append(label)
        except UNREADABLE as e:
            skipped(path, e)
    if not images:
        raise ConfigError(f"none of the {len(files)} pictures could be read")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


class PictureFiles(Dataset):
    """(uint8 image, label) pairs read from the files as they are asked for: the streaming
    path, for more pictures than memory holds (DataLoader workers read them in parallel)."""

    def __init__(self, files: Files, read: Callable[[Image.Image], torch.Tensor]) -> None:
        self.files, self.read = files, read

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[i]
        with Image.open(path) as img:
            return self.read(img), label
