"""splits.py: a seeded hold-out (a count or a share) or K folds, and each setting checked once."""

import pytest
import torch

from fashion_resnet.data.splits import check_sizes, check_split, held_out, split_indices
from fashion_resnet.errors import ConfigError


def test_held_out_counts_shares_and_folds():
    assert held_out(30, 100) == 30
    assert held_out(0.25, 100) == 25 and held_out(0.1, 33) == 3
    assert [held_out(0, 10, folds=3, fold=f) for f in range(3)] == [4, 3, 3]


@pytest.mark.parametrize("val_size,folds,fold", [(0.2, 0, 0), (7, 0, 0), (0, 4, 1)])
def test_indices_partition_the_images_and_are_seeded(val_size, folds, fold):
    val, train = split_indices(50, val_size, folds, fold, seed=3)
    assert sorted(torch.cat([val, train]).tolist()) == list(range(50))
    assert len(val) == held_out(val_size, 50, folds, fold)
    again, _ = split_indices(50, val_size, folds, fold, seed=3)
    other, _ = split_indices(50, val_size, folds, fold, seed=4)
    assert torch.equal(val, again) and not torch.equal(val, other)


@pytest.mark.parametrize(
    "args,match",
    [
        ((1.5, None, 0, 0), r"data.val_size=1.5: expected a number of images .* or a share"),
        ((-1, None, 0, 0), "data.val_size=-1"),
        ((True, None, 0, 0), "data.val_size=True"),
        ((0, 0, 0, 0), r"data.train_subset=0: expected an integer >= 1"),
        ((0, None, 1, 0), r"data.folds=1: expected 0 \(no folds\) or an integer >= 2"),
        ((0, None, 3, 3), r"data.fold=3: expected an integer in \[0, 2\]"),
    ],
)
def test_bad_settings_are_named(args, match):
    with pytest.raises(ConfigError, match=match):
        check_split(*args)


@pytest.mark.parametrize(
    "args,match",
    [
        ((100, None, 0, 0), r"data.val_size=100: expected an integer in \[0, 99\] \(images held"),
        ((10, 91, 0, 0), r"data.train_subset=91: expected an integer in \[1, 90\]"),
        ((0, None, 101, 0), r"data.folds=101: expected an integer in \[2, 100\]"),
    ],
)
def test_settings_against_the_data_size(args, match):
    check_sizes(100, 0.5, 50, 0, 0)  # within bounds: no error
    with pytest.raises(ConfigError, match=match):
        check_sizes(100, *args)
