"""A run's per-epoch metrics, read back from its logs: TensorBoard's event files (the default
logger), else the CSV logger's metrics.csv (`logger=csv`).

TensorBoard first: every run made with the defaults has it, and a run resumed in its own folder
(`ckpt_path=last`) adds an event file beside the old ones, so the epochs before the resume stay;
Lightning's CSVLogger deletes an existing metrics.csv when it starts in the same folder.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

Curve = list[tuple[int, float]]  # (epoch from 1, value), one point per epoch


def epoch_values(folder: Path, names: Iterable[str]) -> dict[str, Curve]:
    """Each metric's value per epoch, its last one of the epoch when it was logged several times
    in it (per step, or with val_check_interval < 1); [] for a metric the run never logged."""
    names = list(dict.fromkeys(names))
    events = sorted((folder / "tensorboard").rglob("events.out.tfevents.*"))
    if events:
        return tensorboard_values(events, names)
    table = folder / "csv" / "metrics.csv"
    if table.is_file():
        return csv_values(table, names)
    return {name: [] for name in names}


def last_per_epoch(points: Iterable[tuple[int, float]]) -> Curve:
    by_epoch = {}
    for epoch, value in points:  # in logging order: a later value of an epoch replaces it
        by_epoch[epoch] = value
    return sorted(by_epoch.items())


def csv_values(table: Path, names: list[str]) -> dict[str, Curve]:
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        name: last_per_epoch(
            (int(float(r["epoch"])) + 1, float(r[name])) for r in rows if r.get(name) and r["epoch"]
        )
        for name in names
    }


def tensorboard_values(event_files: list[Path], names: list[str]) -> dict[str, Curve]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    wanted = set(names)
    values = {name: {} for name in names}  # name -> {global step: value}
    epoch_at = {}  # global step -> epoch: Lightning logs `epoch` beside every metric
    for path in event_files:  # in time order: a resumed run's later value of a step wins
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                if v.tag not in wanted and v.tag != "epoch":  # images, histograms, hparams
                    continue
                if v.WhichOneof("value") == "simple_value":
                    x = v.simple_value
                else:
                    x = float(tensor_util.make_ndarray(v.tensor))
                if v.tag == "epoch":
                    epoch_at[event.step] = int(x)
                if v.tag in wanted:
                    values[v.tag][event.step] = x
    return {
        name: last_per_epoch(
            (epoch_at.get(step, i) + 1, by_step[step]) for i, step in enumerate(sorted(by_step))
        )
        for name, by_step in values.items()
    }
