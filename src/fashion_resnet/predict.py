"""Label pictures with a trained checkpoint: PNG/JPEG of any size, colour or grey.

    fashion-predict ckpt_path=logs/train/runs/<stamp> images=photos/

Each picture becomes a FashionMNIST-like input (grey, padded to a square, 28x28, light item on a
dark background), then goes through the model's own preprocessing from its checkpoint.
Files that are not images are reported by name and skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_resnet import CONF_DIR, checkpoints, hydra_glue, rundirs
from fashion_resnet import transforms as T
from fashion_resnet.data import CLASSES
from fashion_resnet.files import write_json

INVERT_CHOICES = ("auto", "true", "false")


def list_images(paths: str | list[str]) -> list[Path]:
    """Files given, and the files inside folders given (sorted, not recursive)."""
    out = []
    for p in [paths] if isinstance(paths, str) else paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"images={str(p)!r}: no such file or folder")
    return out


def to_fashion_mnist(img: Image.Image, invert: str) -> torch.Tensor:
    """Any picture -> uint8 (28, 28): grey, padded to a square with its border colour,
    light-on-dark (inverted when the background is light, or when told to)."""
    grey = ImageOps.exif_transpose(img).convert("L")
    t = torch.from_numpy(np.asarray(grey, dtype="uint8").copy())
    border = torch.cat([t[0], t[-1], t[:, 0], t[:, -1]]).float().mean().item()
    if invert == "true" or (invert == "auto" and border > 127):
        grey, border = ImageOps.invert(grey), 255 - border
    side = max(grey.size)
    square = Image.new("L", (side, side), int(border))
    square.paste(grey, ((side - grey.width) // 2, (side - grey.height) // 2))
    small = square.resize((28, 28), Image.Resampling.BILINEAR, reducing_gap=None)
    return torch.from_numpy(np.asarray(small, dtype="uint8").copy())


def predict(ckpt_path: str, images: str | list[str], invert: str = "auto", top_k: int = 3):
    """Returns (rows, skipped): one dict per labelled image, and (file, reason) per skipped."""
    if invert not in INVERT_CHOICES:
        raise ValueError(f"invert={invert!r}; choose one of: {', '.join(INVERT_CHOICES)}")
    files = list_images(images)
    model, data_args = checkpoints.load_model(rundirs.checkpoint_in(ckpt_path))
    batch, kept, skipped = [], [], []
    for f in files:
        try:
            with Image.open(f) as img:
                batch.append(to_fashion_mnist(img, invert))
            kept.append(f)
        except (UnidentifiedImageError, OSError) as e:
            skipped.append((str(f), f"not an image ({type(e).__name__})"))
    rows = []
    if batch:
        x = T.to_model_input(
            torch.stack(batch), data_args.get("image_size", 96), data_args.get("normalize", False)
        )
        with torch.no_grad():
            probs = model(x).softmax(dim=1)
        top = probs.topk(min(top_k, len(CLASSES)), dim=1)
        for f, p, i in zip(kept, top.values.tolist(), top.indices.tolist(), strict=True):
            top_k_rows = [
                {"label": CLASSES[j], "probability": round(q, 4)} for j, q in zip(i, p, strict=True)
            ]
            rows.append({"file": str(f), **top_k_rows[0], "top": top_k_rows})
    return rows, skipped


def write(rows: list[dict[str, Any]], skipped: list[tuple[str, str]], out: Path) -> None:
    write_json(out.with_suffix(".json"), {"predictions": rows, "skipped": dict(skipped)})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "probability", "top"])
        for r in rows:
            top = "; ".join(f"{t['label']}:{t['probability']:.3f}" for t in r["top"])
            w.writerow([r["file"], r["label"], r["probability"], top])


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def run(cfg: DictConfig) -> None:
    images = cfg.images if isinstance(cfg.images, str) else list(cfg.images)
    rows, skipped = predict(cfg.ckpt_path, images, str(cfg.invert).lower(), cfg.top_k)
    out = Path(cfg.output)
    write(rows, skipped, out)
    for r in rows:
        print(f"{r['file']}: {r['label']} ({r['probability']:.3f})")
    for f, why in skipped:
        print(f"skipped {f}: {why}")
    print(f"Wrote {out.with_suffix('.csv')} and {out.with_suffix('.json')}")


def main() -> None:
    hydra_glue.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_glue.load_env()  # .env paths, before the configs read them
    run()


if __name__ == "__main__":
    main()
