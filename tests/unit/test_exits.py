"""cli/exits.py: which errors are a user's mistake (one line, exit 2)."""

import pytest

from fashion_resnet import errors
from fashion_resnet.callbacks import divergence
from fashion_resnet.cli import exits


def test_divergence_and_a_missing_resume_are_user_errors_too():
    diverged = divergence.DivergenceError(
        "train/loss is nan at step 3 (epoch 0, learning rate 1e+12)"
    )
    assert exits.user_message(diverged) == str(diverged)  # one line, exit 2: no traceback
    with pytest.raises(SystemExit) as stop, exits.reported("fashion-train"):
        raise errors.UserError("cannot resume x: x/checkpoints/last.ckpt does not exist")
    assert stop.value.code == exits.USER_ERROR
