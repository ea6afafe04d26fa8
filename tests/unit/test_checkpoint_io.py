"""runs/checkpoint_io.py: Lightning's checkpoint writes, made atomic."""

import pytest
import torch
from conftest import half_write_then_fail

from fashion_resnet.runs.checkpoint_io import AtomicCheckpointIO


def test_interrupted_checkpoint_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    monkeypatch.setattr(torch, "save", lambda obj, f: half_write_then_fail(f))
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no half-written temporary left behind
