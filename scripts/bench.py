"""Benchmark: this project's pipeline against the reference notebook's loop, side by side.

    python scripts/bench.py                          # CPU, small sizes, a few minutes
    python scripts/bench.py --device cuda --full     # GPU: ResNet-18, 96 px, batch 256

The baseline is written here the way the reference notebook does it: torchvision's
`FashionMNIST` dataset with PIL `Resize` + `ToTensor`, a `DataLoader` with worker processes
(`shuffle=True`), and a plain PyTorch loop that calls `.cpu().item()` on the loss and the
accuracy every step. Every contender trains the project's ResNet-18 (nets.py), so what differs
is the input pipeline and the loop, not the network.

Sections (each figure the median over `--repeats` runs; contenders interleaved, each run in a
fresh process after `--warmup` untimed steps, so that peak memory is per contender):
1. input pipeline: images/s delivered resized, float and on the device;
2. training: reference loop vs `Trainer.fit` with the project's DataModule and Classifier,
   images/s and peak memory (PSS of the process and its DataLoader workers on CPU, max
   allocated on GPU), one row per `--variants` entry;
3. Lightning's cost: a plain loop over the project's batches and net vs the same through
   the Trainer (first variant), as a share of a step.
Both sides get the same CPU cores: `--cores` DataLoader workers for the reference, `--cores`
torch threads for everyone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path


# --------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: ppid
                kids.append(int(entry))
    return kids


def _pss_mib(pid: int) -> float:
    """Proportional set size: shared pages (torch's libraries, forked workers' copy-on-write
    data) are split between the processes that share them, so a sum over a tree is fair."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """Peak PSS of this process plus its children (DataLoader workers), sampled every 0.25 s."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.25):
            total = _pss_mib(me) + sum(_pss_mib(k) for k in _children(me))
            self.peak_mib = max(self.peak_mib, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- reference
def reference_root(tmp: Path, data_dir: str) -> Path:
    """A root for torchvision's FashionMNIST, which cannot download here and wants the
    decompressed files in FashionMNIST/raw: the verified files the DataModule finds, copied."""
    from fashion_resnet.data import find_raw_files, read_idx_bytes

    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, path in find_raw_files(data_dir, download=False).items():
        (raw / name).write_bytes(read_idx_bytes(path))
    return tmp


def reference_loader(root: Path, batch_size: int, size: int, workers: int):
    """The notebook's load_dataset(): Resize + ToTensor, shuffled, worker processes."""
    import torch.utils.data as data
    import torchvision

    transform = torchvision.transforms.Compose(
        [torchvision.transforms.Resize(size=(size, size)), torchvision.transforms.ToTensor()]
    )
    train = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transform)
    return data.DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers)


def project_datamodule(args):
    from fashion_resnet.data import FashionMNISTDataModule

    dm = FashionMNISTDataModule(
        data_dir=args.data_dir,
        download=False,
        val_size=0,
        batch_size=args.batch_size,
        image_size=args.image_size,
        num_workers=0,
    )
    dm.setup("fit")
    return dm


def build_net(device, channels_last: bool = False, compile: bool = False):
    import torch

    from fashion_resnet.model import Classifier

    return Classifier(
        {"arch": "resnet18", "stem": "imagenet"},
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
        channels_last=channels_last,
        compile=compile,
    ).to(device)


# --------------------------------------------------------------------------- one trial
class StepClock:
    """Wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device, self.start, self.end, self.steps = warmup, device, 0.0, 0.0, 0

    def tick(self) -> None:
        import torch

        self.steps += 1
        if self.steps == self.warmup or self.steps > self.warmup:
            if self.device == "cuda":
                torch.cuda.synchronize()  # only where a time is read: the loop stays async
            now = time.perf_counter()
            if self.steps == self.warmup:
                self.start = now
            self.end = now

    def images_per_s(self, batch_size: int) -> float:
        return (self.steps - self.warmup) * batch_size / (self.end - self.start)


def run_pipeline(name: str, args, clock: StepClock) -> None:
    import torch

    n = args.warmup + args.pipeline_batches
    if name == "ref":
        loader = reference_loader(args.ref_root, args.batch_size, args.image_size, args.cores)
        for i, (x, _) in enumerate(loader):
            x = x.to(args.device)
            clock.tick()
            if i + 1 == n:
                break
        return
    dm = project_datamodule(args)
    for i, (images, _) in enumerate(dm.train_dataloader()):
        x = dm.transform(images.to(args.device, non_blocking=True), training=True)
        assert x.dtype == torch.float32 and x.shape[-1] == args.image_size
        clock.tick()
        if i + 1 == n:
            break


def run_reference_loop(args, clock: StepClock) -> None:
    """The notebook's train(): note the two `.cpu().item()` host syncs per step."""
    import torch.nn as nn
    import torch.optim as optim

    loader = reference_loader(args.ref_root, args.batch_size, args.image_size, args.cores)
    model = build_net(args.device).net  # the same backbone as every other contender
    loss = nn.CrossEntropyLoss()
    optimizer = optim.Adam(params=model.parameters(), lr=1e-3)
    model.train()
    train_acc, train_loss, n = 0.0, 0.0, args.warmup + args.steps
    for i, (x, y) in enumerate(loader):
        x, y = x.to(args.device), y.to(args.device)
        pred_y = model(x)
        l = loss(pred_y, y)  # noqa: E741 - the notebook's name
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        train_loss += l.cpu().item()
        train_acc += (pred_y.argmax(dim=1) == y).float().sum().cpu().item()
        clock.tick()
        if i + 1 == n:
            break


def parse_variant(variant: str) -> dict:
    """'bf16+cl+compile' -> precision, channels_last, compile. 'fp32' is the plain default."""
    parts = set(variant.split("+"))
    known = {"fp32", "bf16", "cl", "compile"}
    if not parts <= known:
        raise ValueError(f"Unknown variant part(s) {parts - known} in {variant!r}; use {known}")
    return {
        "precision": "bf16-mixed" if "bf16" in parts else "32-true",
        "channels_last": "cl" in parts,
        "compile": "compile" in parts,
    }


def run_plain_loop(args, clock: StepClock, variant: str) -> None:
    """The project's batches and net in a plain loop: what the Trainer adds is the difference."""
    import torch
    import torch.nn.functional as F

    opts = parse_variant(variant)
    dm = project_datamodule(args)
    model = build_net(args.device, opts["channels_last"], opts["compile"]).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    bf16 = opts["precision"] == "bf16-mixed"
    n = args.warmup + args.steps
    for i, (images, y) in enumerate(dm.train_dataloader()):
        images, y = images.to(args.device, non_blocking=True), y.to(args.device, non_blocking=True)
        x = dm.transform(images, training=True)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        clock.tick()
        if i + 1 == n:
            break


def run_lightning(args, clock: StepClock, variant: str) -> None:
    import pytorch_lightning as pl

    opts = parse_variant(variant)

    class Tick(pl.Callback):
        def on_train_batch_end(self, *_) -> None:
            clock.tick()

    trainer = pl.Trainer(
        accelerator=args.device,
        devices=1,
        precision=opts["precision"],
        max_epochs=1,
        limit_train_batches=args.warmup + args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Tick()],
    )
    model = build_net("cpu", opts["channels_last"], opts["compile"])
    trainer.fit(model, datamodule=project_datamodule(args))


def trial(args) -> dict:
    """One contender, one repeat, in this (fresh) process."""
    import torch

    torch.set_num_threads(args.cores)
    torch.manual_seed(0)
    clock = StepClock(args.warmup, args.device)
    kind, _, variant = args.trial.partition(":")
    with PeakMemory() as mem:
        if kind in ("pipe_ref", "pipe_ours"):
            run_pipeline(kind.removeprefix("pipe_"), args, clock)
        elif kind == "ref":
            run_reference_loop(args, clock)
        elif kind == "plain":
            run_plain_loop(args, clock, variant)
        elif kind == "lightning":
            run_lightning(args, clock, variant)
        else:
            raise ValueError(f"Unknown trial {kind!r}")
    peak = mem.peak_mib
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    return {
        "images_per_s": clock.images_per_s(args.batch_size),
        "peak_mib": peak,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
    }


# --------------------------------------------------------------------------- orchestration
def spawn(args, name: str, **sizes: int) -> dict:
    """Run one trial in a fresh process; `sizes` override batch_size, image_size, steps."""
    opts = {
        k: getattr(args, k)
        for k in (
            "device",
            "cores",
            "batch_size",
            "image_size",
            "steps",
            "warmup",
            "pipeline_batches",
            "data_dir",
            "ref_root",
        )
    }
    opts.update(sizes)
    cmd = [sys.executable, __file__, "--trial", name]
    for key, value in opts.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"trial {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(args, names: list[str], **sizes: int) -> dict[str, dict]:
    """Run every contender `repeats` times, rotating the order each round; return medians."""
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            result = spawn(args, name, **sizes)
            runs[name].append(result)
            print(
                f"  round {r + 1}/{args.repeats} {name}: {result['images_per_s']:.1f} img/s, "
                f"{result['peak_mib']:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    return {
        n: {
            "images_per_s": statistics.median(x["images_per_s"] for x in rs),
            "peak_mib": statistics.median(x["peak_mib"] for x in rs),
            "batch_size": rs[0]["batch_size"],
            "runs": rs,
        }
        for n, rs in runs.items()
    }


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ms_per_step(result: dict, batch_size: int) -> float:
    return 1000 * batch_size / result["images_per_s"]


def report(args, pipe: dict, train: dict, tiny: dict, variants: list[str]) -> tuple[str, dict]:
    """The Markdown tables, and the ratios the targets are stated in."""
    mem = "max allocated MiB" if args.device == "cuda" else "peak PSS MiB"
    ref_pipe, ours_pipe, ref = pipe["pipe_ref"], pipe["pipe_ours"], train["ref"]
    pipe_ratio = ours_pipe["images_per_s"] / ref_pipe["images_per_s"]
    out = [f"Input pipeline ({args.pipeline_batch_size} images/batch, {args.image_size} px):", ""]
    rows = [
        ["reference: PIL Resize+ToTensor, DataLoader workers", ref_pipe["images_per_s"], 1.0],
        ["project: uint8 batches, batched resize on the device", ours_pipe["images_per_s"],
         pipe_ratio],
    ]  # fmt: skip
    out.append(table(["pipeline", "images/s", "vs reference"],
                     [[n, f"{v:.0f}", f"{r:.2f}x"] for n, v, r in rows]))  # fmt: skip
    rows = [["reference loop (notebook)", ref]] + [
        [f"Trainer.fit, {v}", train[f"lightning:{v}"]] for v in variants
    ]
    out += ["", f"Training (ResNet-18, {args.image_size} px, batch {args.batch_size}):", ""]
    out.append(table(["loop", "images/s", mem, "vs reference"], [
        [n, f"{t['images_per_s']:.1f}", f"{t['peak_mib']:.0f}",
         f"{t['images_per_s'] / ref['images_per_s']:.2f}x"] for n, t in rows
    ]))  # fmt: skip
    v0 = variants[0]
    plain, light = train[f"plain:{v0}"], train[f"lightning:{v0}"]
    direct = 1 - light["images_per_s"] / plain["images_per_s"]
    # Tiny steps (28 px, batch 4) leave little but the per-step bookkeeping to time: the
    # difference is Lightning's fixed cost per step, which we set against a recipe step.
    tiny_bs = tiny[f"plain:{v0}"]["batch_size"]
    fixed_ms = _ms_per_step(tiny[f"lightning:{v0}"], tiny_bs) - _ms_per_step(
        tiny[f"plain:{v0}"], tiny_bs
    )
    step_ms = _ms_per_step(light, args.batch_size)
    out += ["", f"Lightning's cost ({v0}; a plain loop over the project's batches and net):", ""]
    out.append(table(["steps", "plain loop ms/step", "Trainer.fit ms/step", "cost"], [
        [f"recipe ({args.image_size} px, batch {args.batch_size})",
         f"{_ms_per_step(plain, args.batch_size):.1f}", f"{step_ms:.1f}", f"{100 * direct:.1f}%"],
        [f"tiny (28 px, batch {tiny_bs})", f"{_ms_per_step(tiny[f'plain:{v0}'], tiny_bs):.2f}",
         f"{_ms_per_step(tiny[f'lightning:{v0}'], tiny_bs):.2f}", f"{fixed_ms:+.2f} ms"],
    ]))  # fmt: skip
    share = fixed_ms / step_ms
    out.append(f"\nLightning's fixed cost: {fixed_ms:.2f} ms/step = {100 * share:.2f}% of a "
               f"recipe step ({step_ms:.0f} ms)")  # fmt: skip
    best = max(variants, key=lambda v: train[f"lightning:{v}"]["images_per_s"])
    summary = {
        "pipeline_ratio": pipe_ratio,
        "training_ratio": {
            v: train[f"lightning:{v}"]["images_per_s"] / ref["images_per_s"] for v in variants
        },  # fmt: skip
        "best_variant": best,
        "lightning_cost_direct": direct,
        "lightning_fixed_ms_per_step": fixed_ms,
        "lightning_cost_share": share,
        "peak_mib_ratio": {
            v: train[f"lightning:{v}"]["peak_mib"] / ref["peak_mib"] for v in variants
        },  # fmt: skip
        "reference_images_per_s": ref["images_per_s"],
        "best_images_per_s": train[f"lightning:{best}"]["images_per_s"],
    }
    return "\n".join(out), summary


def environment(args) -> str:
    import torch

    if args.device == "cuda":
        hw = torch.cuda.get_device_name()
    else:
        hw = f"{os.cpu_count()}-core CPU ({args.cores} used)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    # Other work on the machine skews CPU figures (2 torch threads on 2 busy cores thrash):
    # the 1-minute load average at the end of the run says how busy it was.
    load = os.getloadavg()[0]
    return f"{date.today()}, {hw}, load {load:.1f}, torch {torch.__version__}, commit {commit}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--full",
        action="store_true",
        help="the reference recipe's sizes: batch 256, 50 timed steps (GPU)",
    )
    p.add_argument(
        "--cores",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader workers of the reference = torch threads of everyone",
    )
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=None, help="training batch (32 on CPU)")
    p.add_argument("--pipeline-batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=None, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per run")
    p.add_argument("--pipeline-batches", type=int, default=None)
    p.add_argument("--tiny-steps", type=int, default=None, help="timed tiny steps per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--variants",
        default=None,
        help="Trainer.fit settings, '+'-joined parts of fp32|bf16|cl|compile, "
        "comma-separated; the first is the Lightning-cost pair",
    )
    p.add_argument("--data-dir", default="data", help="DataModule data_dir (system copy too)")
    p.add_argument("--out", default=None, help="JSON results (default logs/bench/<device>.json)")
    p.add_argument("--trial", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ref-root", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    gpu = args.full or args.device == "cuda"
    # GPU: the reference recipe at full size. CPU (13 img/s at 96 px on 2 cores): small
    # batches and few steps, so that the default run stays within a few minutes.
    gpu = {"batch_size": 256, "steps": 50, "warmup": 10, "tiny_steps": 200,
           "pipeline_batches": 60, "variants": "fp32,bf16+cl,bf16+cl+compile"}  # fmt: skip
    cpu = {"batch_size": 16, "steps": 3, "warmup": 1, "tiny_steps": 30,
           "pipeline_batches": 20, "variants": "fp32,cl"}  # fmt: skip
    defaults = gpu if args.full or args.device == "cuda" else cpu
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.trial:
        print(json.dumps(trial(args)))
        return 0
    variants = args.variants.split(",")
    for v in variants:
        parse_variant(v)  # fail before any run
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device visible to torch on this machine")
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        args.ref_root = reference_root(Path(tmp), args.data_dir)
        print("input pipeline ...", file=sys.stderr)
        pipe = interleaved(args, ["pipe_ref", "pipe_ours"], batch_size=args.pipeline_batch_size)
        print("training ...", file=sys.stderr)
        names = ["ref", f"plain:{variants[0]}"] + [f"lightning:{v}" for v in variants]
        train = interleaved(args, names)
        print("Lightning's fixed cost per step (tiny steps) ...", file=sys.stderr)
        tiny = {"image_size": 28, "batch_size": 4, "steps": args.tiny_steps}
        small = interleaved(args, [f"plain:{variants[0]}", f"lightning:{variants[0]}"], **tiny)
    text, summary = report(args, pipe, train, small, variants)
    env = environment(args)
    print(
        f"{env}; medians of {args.repeats} interleaved runs, {args.steps} timed steps each "
        f"after {args.warmup} warm-up\n\n{text}"
    )
    out = Path(args.out or f"logs/bench/{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"environment": env, "args": {k: str(v) for k, v in vars(args).items()},
              "summary": summary, "pipeline": pipe, "training": train, "table": text,
              "elapsed_s": round(time.time() - start, 1)}  # fmt: skip
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out} ({result['elapsed_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
