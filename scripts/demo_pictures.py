"""Write a few pictures made from real FashionMNIST test images, the way photos arrive in
practice (other sizes, colour, JPEG, dark item on a white background), plus one file that is
not an image: the input of the README's `fashion-predict` example.

    python scripts/demo_pictures.py demo/      # prints each file and its true class
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_resnet.data.fashion_mnist import CLASSES
from fashion_resnet.data.idx_files import SYSTEM_DIR, find_raw_files, parse_idx, read_idx_bytes


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = find_raw_files("data", SYSTEM_DIR, download=False)
    images = parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"])).numpy()
    labels = parse_idx(read_idx_bytes(files["t10k-labels-idx1-ubyte"])).tolist()

    def big(i: int, size: tuple[int, int]) -> Image.Image:
        return Image.fromarray(images[i]).resize(size, Image.Resampling.BICUBIC)

    pictures = {
        "grey_28px.png": Image.fromarray(images[0]),
        "colour_224x180.jpg": big(1, (224, 180)).convert("RGB"),
        "white_background_300px.png": Image.fromarray(255 - np.asarray(big(2, (300, 300)))),
        "rgba_96px.png": big(3, (96, 96)).convert("RGBA"),
    }
    for (name, picture), label in zip(pictures.items(), labels, strict=False):
        picture.save(out / name)
        print(f"{out / name}: true class {CLASSES[label]}")
    (out / "notes.txt").write_text("not a picture\n")
    print(f"{out / 'notes.txt'}: not an image")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo"))
