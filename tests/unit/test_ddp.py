"""launch/ddp.py: a DDP run that would relaunch itself inside a multirun is refused."""

import pytest
import pytorch_lightning as pl

from fashion_resnet.launch.ddp import check_launch


@pytest.mark.parametrize(
    "strategy,multirun,refused",
    [("ddp", True, True), ("ddp", False, False), ("ddp_spawn", True, False)],
)
def test_guard_refuses_ddp_relaunch_inside_multirun(strategy, multirun, refused):
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)
    if refused:
        with pytest.raises(RuntimeError, match="would re-run the whole sweep in every extra rank"):
            check_launch(trainer, multirun)
    else:
        check_launch(trainer, multirun)
