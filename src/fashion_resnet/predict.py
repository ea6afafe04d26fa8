"""Label pictures with a trained checkpoint: PNG/JPEG of any size, colour or grey.

    fashion-predict ckpt_path=logs/train/runs/<stamp> images=photos/

Each picture becomes an image as the checkpoint's data set stores them (its DataModule's
`read_picture`: for FashionMNIST grey, padded to a square, 28x28, light item on a dark
background; for an image folder its channels at its size), then goes through the model's own
preprocessing from its checkpoint, and is labelled with the data's class names. Files that are
not images are reported by name and skipped.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from fashion_resnet import CONF_DIR
from fashion_resnet.cli import console, exits
from fashion_resnet.config import hydra_job, validate
from fashion_resnet.data import transforms as T
from fashion_resnet.errors import ConfigError
from fashion_resnet.runs import checkpoints, folders
from fashion_resnet.runs.atomic import write_json

INVERT_CHOICES = ("auto", "true", "false")  # or None: the data set's own default
MAX_LISTED = 50  # pictures listed one a line on the console; more: counts per class


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
            raise ConfigError(f"images={str(p)!r}: no such file or folder")
    if not out:
        raise ConfigError(f"images={paths!r}: no files to label (an empty folder?)")
    return out


def predict(
    ckpt_path: str,
    images: str | list[str],
    invert: str | None = None,
    top_k: int = 3,
    batch_size: int = 256,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Returns (rows, skipped): one dict per labelled image, and (file, reason) per skipped.
    Pictures are read and labelled `batch_size` at a time: memory does not grow with the folder."""
    if invert is not None and invert not in INVERT_CHOICES:
        raise ConfigError(f"invert={invert!r}; choose one of: {', '.join(INVERT_CHOICES)}, null")
    files = list_images(images)
    model, _ = checkpoints.load_model(folders.checkpoint_in(ckpt_path))
    data = model.hparams.data  # the data's facts, as the checkpoint stores them
    read = checkpoints.datamodule_class(data).read_picture
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    classes = data["classes"]
    k = min(top_k, len(classes))
    rows, skipped = [], []
    # One bar for the whole folder; none when it fits in one batch (the usual few pictures).
    bar = tqdm(total=len(files), unit="picture", disable=len(files) <= batch_size, leave=False)
    for start in range(0, len(files), batch_size):
        pictures, kept = [], []
        for f in files[start : start + batch_size]:
            try:
                with Image.open(f) as img:
                    pictures.append(read(img, data["image_shape"], invert))
                kept.append(f)
            except (UnidentifiedImageError, OSError) as e:
                skipped.append((str(f), f"not an image ({type(e).__name__})"))
        if pictures:
            # The training transform's CPU path (uint8 resize), then the net on the device.
            x = torch.stack(pictures)
            x = T.to_model_input(x, data["image_size"], data["mean"], data["std"]).to(device)
            with torch.no_grad():
                top = model(x).softmax(dim=1).topk(k, dim=1)
            for f, p, i in zip(kept, top.values.tolist(), top.indices.tolist(), strict=True):
                top_k_rows = [
                    {"label": classes[j], "probability": round(q, 4)}
                    for j, q in zip(i, p, strict=True)
                ]
                rows.append({"file": str(f), **top_k_rows[0], "top": top_k_rows})
        bar.update(len(files[start : start + batch_size]))
    bar.close()
    if not rows:
        raise ConfigError(
            f"images={images!r}: none of its {len(files)} files is a picture PIL can read "
            f"(e.g. {skipped[0][0]}): nothing was labelled or written"
        )
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
    with exits.job():
        validate.check_predict(cfg)
        out = Path(cfg.output)
        folders.check_creatable(out.parent, "output=<folder>/<name>")
        images = cfg.images if isinstance(cfg.images, str) else list(cfg.images)
        invert = None if cfg.invert is None else str(cfg.invert).lower()
        rows, skipped = predict(cfg.ckpt_path, images, invert, cfg.top_k, cfg.batch_size)
        write(rows, skipped, out)
    if len(rows) + len(skipped) <= MAX_LISTED:
        for r in rows:
            print(f"{r['file']}: {r['label']} ({r['probability']:.3f})")
        for f, why in skipped:
            print(f"skipped {f}: {why}")
    else:  # a large folder: the counts; every picture is in the files
        counts = Counter(r["label"] for r in rows).most_common()
        print(f"Labelled {len(rows)} pictures: " + ", ".join(f"{n} {c}" for c, n in counts))
        if skipped:
            print(f"Skipped {len(skipped)} files that are not images (listed in the .json)")
    print(f"Wrote {out.with_suffix('.csv')} and {out.with_suffix('.json')}")


def main() -> None:
    hydra_job.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_job.load_env()  # .env paths, before the configs read them
    console.quiet()
    exits.run(run, "fashion-predict")


if __name__ == "__main__":
    main()
