"""The four raw FashionMNIST IDX files: where to find them, checking them against their
published MD5, and reading them as uint8 tensors. `python -m fashion_resnet.data.idx_files --check`
(used by `make data`) exits 0 when verified files are found."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import torch

from fashion_resnet.errors import UserError

# Published MD5 of each *decompressed* file: the .gz bytes differ between mirrors (Debian
# recompresses them), the IDX content does not.
MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"  # Debian/Ubuntu package dataset-fashion-mnist


class DataNotFoundError(UserError, RuntimeError):
    pass


def read_idx_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def parse_idx(data: bytes) -> torch.Tensor:
    """IDX format: 0x0000, dtype 0x08 (uint8), ndim, ndim big-endian int32 sizes, then data."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError("not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = data[4 + 4 * ndim :]
    if len(body) != int(torch.tensor(shape).prod()):
        raise ValueError(f"IDX header says shape {shape} but the file holds {len(body)} bytes")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).view(*shape)


def _check_dir(folder: Path, md5: dict[str, str] | None) -> dict[str, Path]:
    """Return {name: path} when all four files are in `folder` (plain or .gz) and match their
    MD5; otherwise raise ValueError saying which file failed and why."""
    found = {}
    for name in MD5:
        candidates = [folder / name, folder / f"{name}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ValueError(f"{name}[.gz] missing")
        if md5 is not None:
            try:
                actual = hashlib.md5(read_idx_bytes(path)).hexdigest()
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise ValueError(f"{path} is unreadable ({e})") from e
            if actual != md5[name]:
                raise ValueError(
                    f"{path} has MD5 {actual}, expected {md5[name]} "
                    "(truncated or altered file: delete it and fetch it again)"
                )
        found[name] = path
    return found


def find_raw_files(
    data_dir: str | Path,
    system_dir: str | Path | None = SYSTEM_DIR,
    download: bool = True,
    md5: dict[str, str] | None = MD5,
) -> dict[str, Path]:
    """Locate the four verified IDX files: data_dir/FashionMNIST/raw, then the system copy, then
    torchvision's download into data_dir. Raises DataNotFoundError listing every attempt."""
    local = Path(data_dir) / "FashionMNIST" / "raw"
    places = [local] + ([Path(system_dir)] if system_dir else [])
    failures = []
    for folder in places:
        try:
            return _check_dir(folder, md5)
        except ValueError as e:
            failures.append(f"  {folder}: {e}")
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(data_dir), train=True, download=True)
            FashionMNIST(str(data_dir), train=False, download=True)
            return _check_dir(local, md5)
        except Exception as e:  # noqa: BLE001 - any download failure is reported below
            failures.append(f"  torchvision download into {local}: {type(e).__name__}: {e}")
    else:
        failures.append("  torchvision download: disabled (download=false)")
    raise DataNotFoundError(
        "FashionMNIST not found. Looked in:\n" + "\n".join(failures) + "\nFix one of:\n"
        f"  - copy the four IDX files (.gz or plain) into {local}/\n"
        "  - install the system copy: sudo apt-get install dataset-fashion-mnist\n"
        "  - allow the download: data.download=true on a machine that reaches the internet\n"
        "  (`make data` tries these for you)"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m fashion_resnet.data.idx_files --check`: exit 0 when verified files are found."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--check", action="store_true", help="look only, never download")
    parser.add_argument("--download", action="store_true", help="allow torchvision's download")
    args = parser.parse_args(argv)
    try:
        files = find_raw_files(args.data_dir, download=args.download and not args.check)
    except DataNotFoundError as e:
        print(e)
        return 1
    print("FashionMNIST verified:", ", ".join(str(p) for p in files.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
