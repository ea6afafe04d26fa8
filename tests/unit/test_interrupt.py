"""callbacks/interrupt.py: the RNG states a checkpoint carries for an exact resume."""

import random

import numpy as np
import torch

from fashion_resnet.callbacks.interrupt import RngState


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    torch.save({"rng": RngState().state_dict()}, tmp_path / "c.ckpt")
    want = torch.rand(3), np.random.rand(3), random.random()
    RngState().load_state_dict(torch.load(tmp_path / "c.ckpt", weights_only=True)["rng"])
    got = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(got[0], want[0]) and (got[1] == want[1]).all() and got[2] == want[2]









