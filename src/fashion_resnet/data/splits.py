"""The validation split of a training set: a seeded hold-out (a count or a share of the images) or
K seeded folds, and the one check of each split setting (its range when given, its size against
the data when the data's size is known)."""

from __future__ import annotations

import torch

from fashion_resnet.errors import ConfigError, check_int


def held_out(val_size: int | float, n: int, folds: int = 0, fold: int = 0) -> int:
    """Images of n the validation set takes: fold `fold` of K, a count, or a share (a float)."""
    if folds:
        return len(torch.arange(n).tensor_split(folds)[fold])
    return round(val_size * n) if isinstance(val_size, float) else val_size


def split_indices(
    n: int, val_size: int | float, folds: int, fold: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation, training) indices of n images: the first `held_out` of a seeded permutation,
    or with `folds` the fold-th of its K near-equal parts."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if folds:
        parts = perm.tensor_split(folds)
        return parts[fold], torch.cat([p for i, p in enumerate(parts) if i != fold])
    val = held_out(val_size, n)
    return perm[:val], perm[val:]


def check_split(val_size: int | float, train_subset: int | None, folds: int, fold: int) -> None:
    """The settings' own ranges, before the data's size is known."""
    share = isinstance(val_size, float) and 0.0 < val_size < 1.0
    count = isinstance(val_size, int) and not isinstance(val_size, bool) and val_size >= 0
    if not (share or count):
        raise ConfigError(f"data.val_size={val_size!r}: expected a number of images (an integer "
                          ">= 0) or a share of them (a float in (0, 1))")  # fmt: skip
    check_int("data.train_subset", train_subset, 1, optional=True)
    check_int("data.folds", folds, 0, unit="0 = no folds")
    if folds == 1:
        raise ConfigError("data.folds=1: expected 0 (no folds) or an integer >= 2")
    if folds:
        check_int("data.fold", fold, 0, folds - 1, unit=f"one of data.folds={folds}")


def check_sizes(
    n: int, val_size: int | float, train_subset: int | None, folds: int, fold: int
) -> None:
    """The settings against the n training images."""
    if folds:
        check_int("data.folds", folds, 2, n, unit=f"folds of the {n} training images")
    elif held_out(val_size, n) >= n:
        raise ConfigError(f"data.val_size={val_size!r}: expected an integer in [0, {n - 1}] "
                          f"(images held out of the {n} training images)")  # fmt: skip
    left = n - held_out(val_size, n, folds, fold)
    check_int("data.train_subset", train_subset, 1, left, optional=True,
              unit=f"images of the {left} left after the validation split")  # fmt: skip
