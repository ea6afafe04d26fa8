"""Batches drawn whole from in-memory tensors: one index tensor per batch, one gather per
tensor, on whatever device the tensors live on (the GPU, when the data is device-resident).

What a `TensorDataset` + `DataLoader` does with B `__getitem__` calls and a collate per batch,
and what `DistributedSampler` does under DDP, done with a handful of tensor ops:
- the order is a permutation drawn from (seed, epoch): seeded per epoch, so a run resumed at
  an epoch boundary draws the same batches as an uninterrupted one;
- under DDP each rank takes every world_size-th index of the (padded) order, its own disjoint
  share, exactly as DistributedSampler does;
- Lightning calls `sampler.set_epoch(epoch)` at each epoch start, as for its own samplers;
- a checkpoint saved mid-epoch (Ctrl-C, SIGTERM) holds how many batches of the epoch were
  drawn (`state_dict`), and the resumed run draws the rest of that epoch's order, as an
  uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import TensorDataset

from fashion_resnet.errors import ConfigError


class BatchIndexSampler:
    """Index tensors (on `device`), one per batch of this rank's share of an epoch."""

    def __init__(
        self,
        n: int,
        batch_size: int,  # per rank
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.device = torch.device(device)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def share(self) -> int:
        """Indices this rank draws per epoch: ceil(n / world_size), as DistributedSampler."""
        return -(-self.n // self.world_size)

    def __len__(self) -> int:
        share = self.share()
        return share // self.batch_size if self.drop_last else -(-share // self.batch_size)

    def order(self) -> torch.Tensor:
        """This epoch's indices for this rank, on the CPU (int64)."""
        if self.shuffle:
            # (seed, epoch) -> one generator seed; not seed + epoch, which would make seed 1's
            # first epoch seed 0's second.
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        padded = self.share() * self.world_size
        if padded > self.n:  # repeat the first indices so every rank gets as many (DDP)
            order = torch.cat([order, order[: padded - self.n]])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = self.order()
        if self.device.type == "cuda":  # once per epoch, pinned: an asynchronous copy
            order = order.pin_memory().to(self.device, non_blocking=True)
        for i in range(len(self)):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]


class DeviceBatches:
    """Iterable of batches `(images, labels)` gathered from a TensorDataset's tensors by the
    index tensors of a BatchIndexSampler; the tensors and the draw must be on the same device."""

    def __init__(self, dataset: TensorDataset, sampler: BatchIndexSampler) -> None:
        devices = {t.device for t in dataset.tensors}
        if devices != {sampler.device}:
            raise ValueError(f"tensors on {devices}, index draws on {sampler.device}")
        # DataLoader's attribute names, where Lightning looks for set_epoch and for shuffling
        self.dataset, self.sampler, self.batch_sampler = dataset, sampler, None
        self.drawn = 0  # batches of the current pass handed out so far
        self.resume: dict[str, int] | None = None  # from a mid-epoch checkpoint, until used

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        # Runs at the first batch, after Lightning's set_epoch: the epoch is the one drawn.
        resume, self.resume = self.resume, None
        skip = resume["batches"] if resume and resume["epoch"] == self.sampler.epoch else 0
        self.drawn = skip
        for i, idx in enumerate(self.sampler):
            if i >= skip:
                self.drawn = i + 1
                yield tuple(t.index_select(0, idx) for t in self.dataset.tensors)

    # Lightning saves and restores these with the loops' state (a loader with a length is read
    # no batch ahead, so `drawn` is the batches trained on). With them, Lightning takes the
    # loader as resumable and does not warn about a mid-epoch resume.
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches": self.drawn}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.resume = dict(state)


def per_rank_batch_size(global_batch: int, world_size: int) -> int:
    if global_batch % world_size:
        raise ConfigError(
            f"data.batch_size={global_batch} is the global batch and must divide evenly over "
            f"the {world_size} processes (devices x nodes); use a multiple of {world_size}"
        )
    return global_batch // world_size
