"""data/batches.py: batches drawn whole by index tensors (seeded per epoch, DistributedSampler's
shares under DDP), the global batch split over ranks, and the DataModule's switch back to a
DataLoader."""

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from fashion_resnet.data.batches import BatchIndexSampler, DeviceBatches, per_rank_batch_size
from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule


def epoch(draw: BatchIndexSampler, e: int) -> list[int]:
    draw.set_epoch(e)
    return torch.cat(list(draw)).tolist()


def test_shuffle_is_a_function_of_seed_and_epoch_only():
    a, b = (
        BatchIndexSampler(100, 10, shuffle=True, seed=3),
        BatchIndexSampler(100, 10, shuffle=True, seed=3),
    )
    torch.manual_seed(0)
    first = epoch(a, 1)
    torch.manual_seed(1)  # the global RNG plays no part: a resumed run draws the same order
    assert epoch(b, 1) == first
    assert sorted(first) == list(range(100))  # a permutation: every image once per epoch
    assert epoch(a, 2) != first
    assert epoch(BatchIndexSampler(100, 10, shuffle=True, seed=4), 1) != first
    # seed 1's epoch 0 is not seed 0's epoch 1 (as it would be with seed + epoch)
    assert epoch(BatchIndexSampler(100, 10, shuffle=True, seed=1), 0) != epoch(
        BatchIndexSampler(100, 10, shuffle=True, seed=0), 1
    )


@pytest.mark.parametrize("n,world,batch,shuffle", [(103, 2, 8, True), (100, 3, 7, False)])
def test_ranks_draw_the_shares_of_distributed_sampler(n, world, batch, shuffle):
    data = TensorDataset(torch.arange(n))
    shares = []
    for rank in range(world):
        draw = BatchIndexSampler(
            n, batch, shuffle, drop_last=shuffle, seed=5, rank=rank, world_size=world
        )
        draw.set_epoch(2)
        sampler = DistributedSampler(data, world, rank, shuffle=shuffle, seed=5)
        sampler.set_epoch(2)
        loader = DataLoader(data, batch_size=batch, sampler=sampler, drop_last=shuffle)
        assert len(draw) == len(loader)
        got = torch.cat(list(draw)).tolist()
        if not shuffle:  # the same order as DistributedSampler (its shuffle uses seed + epoch)
            assert got == torch.cat([b[0] for b in loader]).tolist()
        shares.append(set(got))
    if shuffle:  # training: padded then cut to whole batches; shares disjoint
        assert not set.intersection(*shares)
    else:  # evaluation: every index seen, the padding repeats the first ones
        assert set.union(*shares) == set(range(n))


def test_device_batches_gather_whole_batches_never_per_item(monkeypatch):
    x, y = torch.arange(50 * 4).view(50, 2, 2), torch.arange(50) % 10
    ds = TensorDataset(x, y)
    monkeypatch.setattr(TensorDataset, "__getitem__", lambda *a: pytest.fail("per-item call"))
    draw = BatchIndexSampler(50, 16, shuffle=True, drop_last=True, seed=0)
    batches = list(DeviceBatches(ds, draw))
    assert len(batches) == 3 and all(b[0].shape == (16, 2, 2) for b in batches)
    for (images, labels), idx in zip(batches, draw, strict=True):
        assert torch.equal(images, x[idx]) and torch.equal(labels, y[idx])


def test_a_mid_epoch_checkpoint_resumes_with_the_rest_of_that_epoch():
    ds = TensorDataset(torch.arange(40), torch.arange(40))
    whole = DeviceBatches(ds, BatchIndexSampler(40, 8, shuffle=True, seed=2))
    whole.sampler.set_epoch(3)
    order = [b[0].tolist() for b in whole]
    stopped = DeviceBatches(ds, BatchIndexSampler(40, 8, shuffle=True, seed=2))
    stopped.sampler.set_epoch(3)
    batches = iter(stopped)
    done = [next(batches)[0].tolist() for _ in range(2)]
    state = stopped.state_dict()  # what Lightning puts in the checkpoint
    assert state == {"epoch": 3, "batches": 2}
    # the new run's loader
    resumed = DeviceBatches(ds, BatchIndexSampler(40, 8, shuffle=True, seed=2))
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(3)
    assert done + [b[0].tolist() for b in resumed] == order  # no batch twice, none left out
    resumed.sampler.set_epoch(4)  # the next epoch is whole again
    assert len(list(resumed)) == 5
    # A checkpoint of another epoch (one saved at an epoch's end) skips nothing.
    resumed.load_state_dict({"epoch": 3, "batches": 5})
    assert len(list(resumed)) == 5


def test_device_batches_refuse_tensors_elsewhere():
    ds = TensorDataset(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="tensors on .*cpu.*, index draws on meta"):
        DeviceBatches(ds, BatchIndexSampler(4, 2, device="meta"))


def module(fake_data_dir, **kw) -> FashionMNISTDataModule:
    m = FashionMNISTDataModule(
        str(fake_data_dir), system_dir=None, download=False, verify=False, val_size=100,
        batch_size=32, image_size=28, **kw,
    )  # fmt: skip
    m.setup()
    return m


def test_datamodule_draws_batches_and_the_switch_restores_the_dataloader(fake_data_dir):
    m = module(fake_data_dir, seed=7)
    loader = m.train_dataloader()
    assert isinstance(loader, DeviceBatches) and len(loader) == 412 // 32  # drop_last
    loader.sampler.set_epoch(1)  # what Lightning does at each epoch start
    images, labels = next(iter(loader))
    assert images.dtype == torch.uint8 and images.shape == (32, 28, 28) and labels.shape == (32,)
    again = module(fake_data_dir, seed=7).train_dataloader()  # a resumed run's fresh module
    again.sampler.set_epoch(1)
    assert torch.equal(next(iter(again))[0], images)
    assert isinstance(m.val_dataloader(), DeviceBatches)
    classic = module(fake_data_dir, device_resident=False)
    assert isinstance(classic.train_dataloader(), DataLoader)
    assert len(classic.train_dataloader()) == len(loader)


def test_global_batch_is_split_evenly():
    assert per_rank_batch_size(256, 4) == 64
    with pytest.raises(ValueError, match="data.batch_size=30 is the global batch.*multiple of 4"):
        per_rank_batch_size(30, 4)
