"""runs/history.py: a run's per-epoch metrics read back from the files the real loggers write
(TensorBoard's SummaryWriter, the CSVLogger of conf/logger/csv.yaml), as Lightning logs them:
an `epoch` value beside every metric, per-step values several times an epoch, a run resumed in
its own folder."""

import pytest
from pytorch_lightning.loggers import CSVLogger
from torch.utils.tensorboard import SummaryWriter

from fashion_resnet.runs import history

# Two epochs of 4 steps: train/loss_step every 2 steps, the epoch metrics at each epoch's end.
LOGS = [
    (1, {"train/loss_step": 2.0}, 0), (3, {"train/loss_step": 1.5}, 0),
    (3, {"val/acc": 0.6, "val/loss": 1.1}, 0), (3, {"train/acc": 0.5, "train/loss": 1.7}, 0),
    (5, {"train/loss_step": 1.0}, 1), (7, {"train/loss_step": 0.8}, 1),
    (7, {"val/acc": 0.7, "val/loss": 0.9}, 1), (7, {"train/acc": 0.65, "train/loss": 0.95}, 1),
]  # fmt: skip
NAMES = ["train/loss", "train/acc", "val/acc", "train/loss_step", "test/acc"]
EXPECTED = {
    "train/loss": [(1, 1.7), (2, 0.95)],
    "train/acc": [(1, 0.5), (2, 0.65)],
    "val/acc": [(1, 0.6), (2, 0.7)],
    "train/loss_step": [(1, 1.5), (2, 0.8)],  # the last value of each epoch
    "test/acc": [],  # never logged
}


def write_tensorboard(folder, logs):
    writer = SummaryWriter(folder)
    for step, values, epoch in logs:
        for name, value in {**values, "epoch": epoch}.items():
            writer.add_scalar(name, value, step)
    writer.close()


def write_csv(folder, logs):
    logger = CSVLogger(folder, name="csv", version="")
    for step, values, epoch in logs:
        logger.log_metrics({**values, "epoch": epoch}, step)
    logger.finalize("success")


def approx(curves):
    return {k: [(e, pytest.approx(v)) for e, v in c] for k, c in curves.items()}


@pytest.mark.parametrize("logger", ["tensorboard", "csv"])
def test_each_logger_gives_one_value_per_epoch(tmp_path, logger):
    if logger == "tensorboard":
        write_tensorboard(tmp_path / "tensorboard" / "lr=0.1", LOGS)  # a sweep job's subfolder
    else:
        write_csv(tmp_path, LOGS)
        assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert history.epoch_values(tmp_path, NAMES) == approx(EXPECTED)


def test_a_resumed_run_keeps_the_epochs_before_the_resume(tmp_path):
    """The resumed process writes a second event file; it re-logs epoch 2 from its checkpoint:
    its values replace the first process's, epoch 1 stays."""
    write_tensorboard(tmp_path / "tensorboard", LOGS[:6])
    resumed = [(7, {"val/acc": 0.75}, 1), (7, {"train/acc": 0.66}, 1), (11, {"val/acc": 0.8}, 2)]
    write_tensorboard(tmp_path / "tensorboard", resumed)
    files = sorted((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(files) == 2
    got = history.epoch_values(tmp_path, ["val/acc", "train/acc"])
    assert got == approx({"val/acc": [(1, 0.6), (2, 0.75), (3, 0.8)],
                          "train/acc": [(1, 0.5), (2, 0.66)]})  # fmt: skip


def test_tensorboard_is_read_before_csv_and_no_log_is_no_values(tmp_path):
    assert history.epoch_values(tmp_path, ["val/acc"]) == {"val/acc": []}
    write_csv(tmp_path, [(3, {"val/acc": 0.1}, 0)])
    write_tensorboard(tmp_path / "tensorboard", [(3, {"val/acc": 0.9}, 0)])
    assert history.epoch_values(tmp_path, ["val/acc"]) == approx({"val/acc": [(1, 0.9)]})
