"""The benchmark's contenders: each runs `warmup + steps` training steps (or input batches) and
ticks a StepClock after each. scripts/bench.py runs one per fresh process (`--trial NAME`).

    pipe_ref, pipe_ours   input pipeline only: the notebook's DataLoader vs the DataModule
    ref                   the notebook's loop (scripts/reference_loop.py)
    plain:V               the project's batches and net in a plain PyTorch loop
    bare:V                Trainer.fit with the project's Classifier and DataModule, nothing else
                          (no logger, no checkpoints, no progress bar, no callbacks but the clock)
    shipped:V             `fashion-train` as shipped: conf/train.yaml composed by Hydra and run
                          by the entry point's train() (default callbacks, TensorBoard logger,
                          atomic checkpoint IO, DataModule), cut to `warmup + steps` steps
V is a variant: '+'-joined parts of default|fp32|bf16|cl|compile|graphs ('default': the
precision and memory format the device gets without flags, devices.py; 'graphs': compiled with
mode reduce-overhead, CUDA graphs). Alike in all but what each measures: every contender gets
the cuDNN autotuning and TF32 setting that the shipped run of its variant gets (devices.py),
the project's contenders its data on the training device (as the DataModule ships) and its
optimizer with the project's defaults (fused kernels, optimizers.py); none writes a checkpoint
inside its timed steps (the shipped run's mid-epoch one comes after 5 minutes).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from reference_loop import reference_loader, train_epoch
from torch.utils.data import TensorDataset

from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.launch import devices
from fashion_resnet.models import optimizers
from fashion_resnet.models.classifier import Classifier

KINDS = ("pipe_ref", "pipe_ours", "ref", "plain", "bare", "shipped")
VARIANT_PARTS = ("default", "fp32", "bf16", "cl", "compile", "graphs")


def parse_variant(variant: str) -> dict[str, Any]:
    """'bf16+cl+compile' -> precision, channels_last, compile, compile_mode; None: the device's
    default ('default': precision and channels-last as devices.py chooses them)."""
    parts = set(variant.split("+"))
    if not parts <= set(VARIANT_PARTS):
        raise ValueError(
            f"Unknown variant part(s) {sorted(parts - set(VARIANT_PARTS))} in {variant!r}; "
            f"use {'|'.join(VARIANT_PARTS)} joined by '+'"
        )
    default = "default" in parts
    return {
        "precision": None if default else "bf16-mixed" if "bf16" in parts else "32-true",
        "channels_last": None if default and "cl" not in parts else "cl" in parts,
        "compile": bool(parts & {"compile", "graphs"}),
        "compile_mode": "reduce-overhead" if "graphs" in parts else None,
    }


def resolved(device: str, variant: str) -> dict[str, Any]:
    """The variant as the shipped run would train it here: devices.choose fills its Nones."""
    opts = parse_variant(variant)
    chosen = devices.choose("gpu" if device == "cuda" else "cpu", opts["precision"],
                            opts["channels_last"])  # fmt: skip
    return {**opts, **chosen}


def same_backend_settings(device: str, variant: str) -> None:
    """cuDNN autotuning and TF32 as the shipped run of this variant sets them (train.py), for
    every contender: so that no row measures a backend flag instead of its loop."""
    if device == "cuda":
        chosen = resolved(device, variant)
        torch.backends.cudnn.benchmark = chosen["benchmark"]
        devices.apply_tf32(chosen["tf32"])


# --------------------------------------------------------------------------- measuring
def _children(pid: int) -> list[int]:
    """Child processes, from the kernel's per-thread lists: a scan of every /proc entry took
    tens of ms on a busy machine, every 0.25 s, inside the timed steps."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:  # the thread ended
            continue
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


class StepClock:
    """The time of each step after the `warmup` untimed ones (on CUDA, synchronised at each
    tick: the time read is the time the GPU finished)."""

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device, self.steps, self.times = warmup, device, 0, []

    def tick(self) -> None:
        self.steps += 1
        if self.steps >= self.warmup:
            if self.device == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

    def step_ms(self) -> list[float]:
        return [1000 * (b - a) for a, b in zip(self.times, self.times[1:], strict=False)]

    def images_per_s(self, batch_size: int) -> float:
        return (len(self.times) - 1) * batch_size / (self.times[-1] - self.times[0])


CLOCK: StepClock | None = None  # the running trial's clock, for ClockCallback


class ClockCallback(pl.Callback):
    """Ticks the trial's clock after every training step. A Hydra `_target_` for the shipped
    configuration (`+callbacks.bench_clock._target_=bench_trials.ClockCallback`)."""

    def on_train_batch_end(self, *_) -> None:
        CLOCK.tick()


# --------------------------------------------------------------------------- contenders
def project_datamodule(args: Namespace, for_trainer: bool = False) -> FashionMNISTDataModule:
    """The DataModule with its uint8 tensors on the training device, where a Trainer's setup
    puts them (device_resident, the default): `for_trainer` leaves the setup to the Trainer."""
    dm = FashionMNISTDataModule(data_dir=args.data_dir, download=False, verify=not args.no_verify,
                                val_size=0, batch_size=args.batch_size,
                                image_size=args.image_size)  # fmt: skip
    if not for_trainer:
        dm.setup("fit")
        dm.train_set = TensorDataset(*(t.to(args.device) for t in dm.train_set.tensors))
    return dm


def adam(params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


def build_model(device: str, variant: str) -> Classifier:
    opts = resolved(device, variant)
    return Classifier(
        {"arch": "resnet18", "stem": "imagenet"},
        optimizer=adam,
        channels_last=opts["channels_last"],
        compile=opts["compile"],
        compile_mode=opts["compile_mode"],
    ).to(device)


def run_pipeline(args: Namespace, ours: bool) -> None:
    n = args.warmup + args.pipeline_batches
    if not ours:
        loader = reference_loader(args.ref_root, args.batch_size, args.image_size, args.cores)
        for i, (x, _) in enumerate(loader):
            x = x.to(args.device)
            CLOCK.tick()
            if i + 1 == n:
                return
    dm = project_datamodule(args)
    for i, (images, _) in enumerate(dm.train_dataloader()):
        x = dm.transform(images.to(args.device, non_blocking=True), training=True)
        assert x.dtype == torch.float32 and x.shape[-1] == args.image_size
        CLOCK.tick()
        if i + 1 == n:
            return


def run_reference(args: Namespace) -> None:
    loader = reference_loader(args.ref_root, args.batch_size, args.image_size, args.cores)
    net = build_model(args.device, "fp32").net  # the same backbone as every other contender
    optimizer = torch.optim.Adam(params=net.parameters(), lr=1e-3)
    train_epoch(net, loader, optimizer, args.device, args.warmup + args.steps, CLOCK.tick)


def run_plain(args: Namespace, variant: str) -> None:
    """The project's batches and net in a plain loop: what a Trainer adds is the difference."""
    dm = project_datamodule(args)
    model = build_model(args.device, variant).train()
    optimizer = optimizers.build(adam, model.parameters(), torch.device(args.device))
    bf16 = resolved(args.device, variant)["precision"] == "bf16-mixed"
    n = args.warmup + args.steps
    for i, (images, y) in enumerate(dm.train_dataloader()):
        images, y = images.to(args.device, non_blocking=True), y.to(args.device, non_blocking=True)
        x = dm.transform(images, training=True)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        CLOCK.tick()
        if i + 1 == n:
            return


def run_bare(args: Namespace, variant: str) -> None:
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
        precision=resolved(args.device, variant)["precision"], max_epochs=1,
        limit_train_batches=args.warmup + args.steps, limit_val_batches=0,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[ClockCallback()],
        profiler=_profiler(args, "bare"),
    )  # fmt: skip
    trainer.fit(build_model("cpu", variant), datamodule=project_datamodule(args, for_trainer=True))


def shipped_overrides(args: Namespace, variant: str, out: Path) -> list[str]:
    """The package's conf/train.yaml as `fashion-train` composes it, cut to this trial's steps
    and sizes. Validation (one batch) and the epoch-end checkpoints come after the timed steps."""
    opts = parse_variant(variant)
    over = [
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", "trainer.max_epochs=1",
        f"++trainer.limit_train_batches={args.warmup + args.steps}",
        "++trainer.limit_val_batches=1", "++trainer.num_sanity_val_steps=0", "test=false",
        f"data.image_size={args.image_size}", f"data.batch_size={args.batch_size}",
        f"model.compile={opts['compile']}",
        f"paths.data_dir={Path(args.data_dir).resolve()}", f"paths.log_dir={out}",
        f"hydra.run.dir={out}/run", "+callbacks.bench_clock._target_=bench_trials.ClockCallback",
    ]  # fmt: skip
    for key, value in [("trainer.precision", opts["precision"]),
                       ("model.channels_last", opts["channels_last"]),
                       ("model.compile_mode", opts["compile_mode"])]:  # fmt: skip
        if value is not None:  # None: the shipped config's null, the device decides
            over.append(f"{key}={value}")
    if args.no_verify:  # generated test data: no published MD5, no system copy, 512 images
        over += ["++data.verify=false", "++data.system_dir=null", "data.val_size=64"]
    if args.profile_dir:
        over += ["++trainer.profiler._target_=pytorch_lightning.profilers.SimpleProfiler",
                 f"++trainer.profiler.dirpath={args.profile_dir}",
                 "++trainer.profiler.filename=shipped"]  # fmt: skip
    return over


def run_shipped(args: Namespace, variant: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    from fashion_resnet import CONF_DIR
    from fashion_resnet.config import hydra_job
    from fashion_resnet.train import train

    hydra_job.register_resolvers()  # as the entry point does before Hydra composes
    with tempfile.TemporaryDirectory() as tmp:
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            over = shipped_overrides(args, variant, Path(tmp))
            cfg = compose("train", overrides=over, return_hydra_config=True)
        with read_write(cfg.hydra.runtime):  # what @hydra.main fills in for a single run
            cfg.hydra.runtime.output_dir = f"{tmp}/run"
        HydraConfig().set_config(cfg)
        try:
            train(cfg)
        finally:
            GlobalHydra.instance().clear()


def _profiler(args: Namespace, name: str) -> pl.profilers.Profiler | None:
    if not args.profile_dir:
        return None
    return pl.profilers.SimpleProfiler(dirpath=args.profile_dir, filename=name)


def trial(args: Namespace) -> dict[str, Any]:
    """One contender, one repeat. Returns its raw figures."""
    global CLOCK
    torch.set_num_threads(args.cores)
    torch.manual_seed(0)
    CLOCK = StepClock(args.warmup, args.device)
    kind, _, variant = args.trial.partition(":")
    same_backend_settings(args.device, variant or "fp32")  # ref, pipe_*: the notebook's fp32
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as mem:
        if kind in ("pipe_ref", "pipe_ours"):
            run_pipeline(args, ours=kind == "pipe_ours")
        elif kind == "ref":
            run_reference(args)
        elif kind == "plain":
            run_plain(args, variant)
        elif kind == "bare":
            run_bare(args, variant)
        elif kind == "shipped":
            run_shipped(args, variant)
        else:
            raise ValueError(f"Unknown trial {kind!r}; choose one of: {', '.join(KINDS)}")
    peak = mem.peak_mib
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    return {
        "images_per_s": CLOCK.images_per_s(args.batch_size),
        "step_ms": [round(t, 2) for t in CLOCK.step_ms()],
        "peak_mib": peak,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
    }
