"""The reference notebook's training loop, as the notebook writes it: torchvision's
`FashionMNIST` with PIL `Resize` + `ToTensor`, a shuffled `DataLoader` with worker processes, a
plain loop that calls `.cpu().item()` on the loss and the accuracy every step, Adam 1e-3,
StepLR(2, 0.9), test accuracy after each epoch. The network is the project's ResNet-18
(resnet.py), so that against the project only the input pipeline and the loop differ.

On its own it is the accuracy baseline at an equal budget (same epochs, steps, images):

    python scripts/reference_loop.py                            # the notebook: 10 epochs, 96 px
    python scripts/reference_loop.py --epochs 1 --train-subset 24000 --image-size 28
    python scripts/reference_loop.py --epochs 1 --max-steps 20 --out ref.json

scripts/bench.py imports `reference_root`, `reference_loader` and `train_epoch` to time it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.utils.data as data
import torchvision
from torch import nn, optim

from fashion_resnet.data.idx_files import find_raw_files, read_idx_bytes
from fashion_resnet.models import resnet


def reference_root(tmp: Path, data_dir: str, verify: bool = True) -> Path:
    """A root for torchvision's FashionMNIST, which cannot download here and wants the
    decompressed files in FashionMNIST/raw: the verified files the DataModule finds, copied.
    `verify=False`: no MD5 check and no system copy (generated test data)."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    found = (
        find_raw_files(data_dir, download=False)
        if verify
        else find_raw_files(data_dir, system_dir=None, download=False, md5=None)
    )
    for name, path in found.items():
        (raw / name).write_bytes(read_idx_bytes(path))
    return tmp


def reference_loader(
    root: Path, batch_size: int, size: int, workers: int, train: bool = True, subset: int = 0
) -> data.DataLoader:
    """The notebook's load_dataset(): Resize + ToTensor, shuffled, worker processes.
    `subset`: only the first N images (0: all)."""
    transform = torchvision.transforms.Compose(
        [torchvision.transforms.Resize(size=(size, size)), torchvision.transforms.ToTensor()]
    )
    ds = torchvision.datasets.FashionMNIST(str(root), train=train, transform=transform)
    if subset:
        ds = data.Subset(ds, range(subset))
    return data.DataLoader(ds, batch_size=batch_size, shuffle=train, num_workers=workers)


def train_epoch(
    model: nn.Module,
    loader: data.DataLoader,
    optimizer: optim.Optimizer,
    device: str,
    max_steps: int = 0,
    on_step: Callable[[], None] = lambda: None,
) -> tuple[float, float]:
    """The notebook's train(): two `.cpu().item()` host syncs per step. Returns the mean loss
    and the accuracy over the images seen; `max_steps` > 0 stops early."""
    loss = nn.CrossEntropyLoss()
    model.train()
    train_acc, train_loss, seen, steps = 0.0, 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        pred_y = model(x)
        l = loss(pred_y, y)  # noqa: E741 - the notebook's name
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        train_loss += l.cpu().item() * len(y)
        train_acc += (pred_y.argmax(dim=1) == y).float().sum().cpu().item()
        seen, steps = seen + len(y), steps + 1
        on_step()
        if steps == max_steps:
            break
    return train_loss / seen, train_acc / seen


def step_time(times: list[float]) -> None:
    times.append(time.perf_counter())


@torch.no_grad()
def test_accuracy(model: nn.Module, loader: data.DataLoader, device: str) -> float:
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x.to(device)).argmax(dim=1).cpu() == y).sum().item()
        total += len(y)
    return correct / total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-steps", type=int, default=0, help="steps per epoch (0: all)")
    p.add_argument("--train-subset", type=int, default=0, help="first N training images (0: all)")
    p.add_argument("--test-subset", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="data", help="as data.data_dir (system copy too)")
    p.add_argument("--no-verify", action="store_true", help="skip MD5 checks (generated data)")
    p.add_argument("--out", default=None, help="also write the per-epoch figures as JSON")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    model = resnet.resnet18().to(args.device)
    optimizer = optim.Adam(params=model.parameters(), lr=1e-3)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.9)
    epochs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = reference_root(Path(tmp), args.data_dir, verify=not args.no_verify)
        train = reference_loader(root, args.batch_size, args.image_size, args.workers,
                                 subset=args.train_subset)  # fmt: skip
        test = reference_loader(root, 2 * args.batch_size, args.image_size, args.workers, False,
                                subset=args.test_subset)  # fmt: skip
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            seen: list[float] = []  # the loop's .item() syncs each step: finished work's times
            loss, acc = train_epoch(model, train, optimizer, args.device, args.max_steps,
                                    on_step=functools.partial(step_time, seen))  # fmt: skip
            train_s = seen[-1] - start
            images = min(len(seen) * args.batch_size, len(train.dataset))  # a last short batch
            scheduler.step()
            row = {"epoch": epoch, "train_loss": loss, "train_acc": acc,
                   "test_acc": test_accuracy(model, test, args.device),
                   "time_s": round(time.perf_counter() - start, 1),
                   "train_s": round(train_s, 2),  # training steps only, loader start included
                   "train_images_per_s": round(images / train_s, 1)}  # fmt: skip
            epochs.append(row)
            print(f"epoch {epoch}: loss {loss:.3f}, train acc {acc:.3f}, "
                  f"test acc {row['test_acc']:.4f}, {row['time_s']} s", flush=True)  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "epochs": epochs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
