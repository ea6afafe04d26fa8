"""One GPU per parallel job of a local sweep (Hydra's joblib launcher).

joblib runs a sweep's jobs in `hydra.launcher.n_jobs` worker processes that all inherit every
GPU. Each worker process takes a free slot the first time it runs a job: an exclusive lock on
`<sweep dir>/.gpu_slots/<slot>.lock`, held until the process exits (the OS drops the lock even
on a kill), and sets `CUDA_VISIBLE_DEVICES` to that slot's GPU before CUDA starts. Later jobs
in the same worker keep its slot. A slot is free when no live process holds its lock, so jobs
that end out of order never hand one GPU to two processes (a job number modulo the GPU count
would). More parallel jobs than GPUs is refused before training; the sweep's extra jobs queue
in joblib as usual.

GPUs: `CUDA_VISIBLE_DEVICES` where set, else those nvidia-smi lists. FASHION_RESNET_GPUS=N uses
the first N of them (without a driver: devices 0..N-1, which is how the tests simulate GPUs).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

COUNT_ENV = "FASHION_RESNET_GPUS"
_held: tuple[str, IO] | None = None  # (device, its locked slot file), for this process's life


def visible_gpus(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    listed = env.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in listed.split(",") if d.strip()] if listed is not None else None
    if env.get(COUNT_ENV):
        if not env[COUNT_ENV].isdigit():
            raise ValueError(f"{COUNT_ENV}={env[COUNT_ENV]!r} is not a GPU count (0, 1, 2, ...)")
        count = int(env[COUNT_ENV])
        return (devices if devices is not None else [str(i) for i in range(count)])[:count]
    if devices is not None:
        return devices
    if not shutil.which("nvidia-smi"):  # asking torch would start CUDA in this process
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def take_free_slot(folder: Path, n: int) -> tuple[int, IO] | None:
    """Lock the first of slots 0..n-1 that no live process holds; None when all are taken."""
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(n):
        f = open(folder / f"{slot}.lock", "a")  # noqa: SIM115 (kept open: it holds the lock)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        return slot, f
    return None


def parallel_jobs(n_jobs: int) -> int:
    """joblib's n_jobs as a count of processes (-1: one per CPU, -2: all but one, ...), with
    the CPUs counted as joblib counts them (the cores this process may use, cgroup limits)."""
    import joblib  # installed with the joblib launcher, the only caller

    return n_jobs if n_jobs > 0 else max(1, joblib.cpu_count() + 1 + n_jobs)


def assign(cfg: DictConfig) -> str | None:
    """In a joblib sweep job on a GPU machine: this process's GPU, set in CUDA_VISIBLE_DEVICES.
    None (nothing changed) for single runs, other launchers, CPU jobs and machines without GPUs."""
    global _held
    hc = HydraConfig.get()
    target = str(hc.launcher.get("_target_", ""))
    if hc.mode != RunMode.MULTIRUN or "JoblibLauncher" not in target:
        return None
    if _held is not None:  # an earlier job of this worker took the slot
        return _held[0]
    gpus = visible_gpus()
    if not gpus or cfg.trainer.get("accelerator") == "cpu":
        return None
    jobs = parallel_jobs(int(hc.launcher.n_jobs))
    if jobs > len(gpus):
        raise ValueError(
            f"hydra.launcher.n_jobs={hc.launcher.n_jobs} runs {jobs} jobs at once, but there are "
            f"{len(gpus)} GPUs ({','.join(gpus)}) and each parallel job gets one of its own: use "
            f"hydra.launcher.n_jobs={len(gpus)} (the other jobs wait their turn), or "
            "trainer.accelerator=cpu"
        )
    if torch.cuda.is_initialized():
        raise RuntimeError("CUDA started before this sweep job was given its GPU")
    taken = take_free_slot(Path(hc.sweep.dir) / ".gpu_slots", len(gpus))
    if taken is None:  # n_jobs <= GPUs, so only a process of another launch can hold them
        raise RuntimeError(
            f"all {len(gpus)} GPU slots of {hc.sweep.dir} are held by other processes (is this "
            "sweep folder being run twice at once?)"
        )
    slot, lock = taken
    _held = (gpus[slot], lock)
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot]
    return gpus[slot]
