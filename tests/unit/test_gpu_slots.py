"""launch/gpu_slots.py: one GPU per parallel sweep job, checked without GPUs (FASHION_RESNET_GPUS
simulates them). A real joblib sweep, each job recording the GPU it was given:
integration/test_sweeps.py."""

import os

import pytest

from fashion_resnet.launch import gpu_slots


def test_a_slot_freed_out_of_order_is_the_one_taken_next(tmp_path):
    held = [gpu_slots.take_free_slot(tmp_path, 3) for _ in range(3)]
    assert [slot for slot, _ in held] == [0, 1, 2]  # distinct and complete
    assert gpu_slots.take_free_slot(tmp_path, 3) is None  # all busy
    held[1][1].close()  # the job on slot 1 ends first (its process exits: the lock goes)
    slot, lock = gpu_slots.take_free_slot(tmp_path, 3)
    assert slot == 1  # not `job number % 3` == 0, which is still busy
    for f in (held[0][1], held[2][1], lock):
        f.close()


def test_visible_gpus():
    assert gpu_slots.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert gpu_slots.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpu_slots.visible_gpus({"FASHION_RESNET_GPUS": "2"}) == ["0", "1"]
    assert gpu_slots.visible_gpus({"FASHION_RESNET_GPUS": "1", "CUDA_VISIBLE_DEVICES": "5,6"}) == [
        "5"
    ]

    with pytest.raises(ValueError, match="FASHION_RESNET_GPUS='two' is not a GPU count"):
        gpu_slots.visible_gpus({"FASHION_RESNET_GPUS": "two"})


def test_parallel_jobs_counts_cpus_as_joblib_does():
    import joblib

    assert gpu_slots.parallel_jobs(3) == 3
    assert gpu_slots.parallel_jobs(-1) == joblib.cpu_count()
    assert gpu_slots.parallel_jobs(-2) == max(1, joblib.cpu_count() - 1)
    assert gpu_slots.parallel_jobs(-10_000) == 1


def test_more_parallel_jobs_than_gpus_is_refused(compose_cfg, monkeypatch):
    monkeypatch.setenv("FASHION_RESNET_GPUS", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cfg = compose_cfg("train", ["hydra.mode=MULTIRUN", "hydra/launcher=joblib",
                                "hydra.launcher.n_jobs=3"])  # fmt: skip
    with pytest.raises(ValueError, match=r"n_jobs=3 runs 3 jobs at once, but there are 2 GPUs"):
        gpu_slots.assign(cfg)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_cpu_jobs_and_other_launchers_are_left_alone(compose_cfg, monkeypatch):
    monkeypatch.setenv("FASHION_RESNET_GPUS", "1")
    cfg = compose_cfg("train", ["hydra.mode=MULTIRUN", "hydra/launcher=joblib",
                                "hydra.launcher.n_jobs=4", "trainer.accelerator=cpu"])  # fmt: skip
    assert gpu_slots.assign(cfg) is None
    assert gpu_slots.assign(compose_cfg("train", ["hydra.mode=MULTIRUN"])) is None
