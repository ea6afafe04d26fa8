"""scripts/record_results.py --tiny: the records of the long runs (reference_10_epochs, fast_cpu,
degradation_cpu) made end to end on the generated data at a tiny size, into a scratch results
folder: each says what made it and keeps the runs' metrics.json and metrics.csv and its plot;
the reference record's table puts the run's epochs beside the notebook's."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "record_results.py"
COMMANDS = {"reference_10_epochs": "experiment=reference",
            "fast_cpu": "experiment=fast trainer=cpu",
            "degradation_cpu": "experiment=degradation_cpu"}  # fmt: skip
LONG = tuple(COMMANDS)
PNG = b"\x89PNG"


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def per_epoch(metrics_csv: Path, name: str) -> dict[int, float]:
    """A metric's values by epoch (from 1) in a CSVLogger file: one row per epoch end."""
    return {int(r["epoch"]) + 1: float(r[name]) for r in rows(metrics_csv) if r.get(name)}


@pytest.fixture(scope="module")
def records(fake_data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("records")
    cmd = [sys.executable, str(SCRIPT), *LONG, "--tiny", str(fake_data_dir), "--no-verify",
           "--results", str(tmp / "results"), "--work", str(tmp / "work")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp / "results"


@pytest.mark.parametrize("name", LONG)
def test_each_record_says_what_made_it_and_keeps_the_runs_logs(records, name):
    record = json.loads((records / name / "record.json").read_text())
    for key in ("date", "commit", "hardware", "load_1min", "commands", "files"):
        assert record[key], key
    assert all(c["wall_s"] > 0 for c in record["commands"])
    train = record["commands"][0]["command"]
    assert f" {COMMANDS[name]} logger=[tensorboard,csv] " in train
    assert all((records / name / f).is_file() for f in record["files"])
    sweep = name == "degradation_cpu"
    runs = sorted((records / name).glob("jobs/*")) if sweep else [records / name]
    assert len(runs) == (4 if sweep else 1)
    for run in runs:
        assert json.loads((run / "metrics.json").read_text())["epochs"] == 2
        assert sorted(per_epoch(run / "metrics.csv", "train/acc")) == [1, 2]
    plot = "epochs.png" if name.startswith("reference") else "curves.png"
    assert (records / name / plot).read_bytes().startswith(PNG)


def test_the_reference_table_is_the_notebooks_beside_the_runs(records):
    folder = records / "reference_10_epochs"
    notebook = json.loads((ROOT / "scripts" / "notebook_epochs.json").read_text())
    table = [line.split(" | ") for line in (folder / "epochs.md").read_text().splitlines()
             if line.startswith("| ") and line[2].isdigit()]  # fmt: skip
    assert [int(r[0].lstrip("| ")) for r in table] == list(range(1, 11))
    ours = {m: per_epoch(folder / "metrics.csv", m) for m in ("train/loss", "train/acc", "val/acc")}
    for (epoch, loss, acc, test), cells in zip(notebook["rows"], table, strict=True):
        cells = [c.strip(" |") for c in cells]
        assert cells[1::2] == [f"{loss:.4f}", f"{acc:.4f}", f"{test:.4f}"]
        mine = [ours[m].get(epoch) for m in ("train/loss", "train/acc", "val/acc")]
        assert cells[2::2] == ["" if v is None else f"{v:.4f}" for v in mine]
    summary = "Test accuracy after epoch 10: notebook 0.9181, ours not reached."
    assert summary in (folder / "epochs.md").read_text()


def test_the_degradation_curves_are_the_four_jobs_training_errors(records):
    folder = records / "degradation_cpu"
    drawn = rows(folder / "curves.csv")
    assert sorted({r["job"] for r in drawn}) == ["0", "1", "2", "3"]
    for r in drawn:
        train_acc = per_epoch(folder / "jobs" / r["job"] / "metrics.csv", "train/acc")
        assert float(r["1-train/acc"]) == pytest.approx(1 - train_acc[int(r["epoch"])])
    assert {(r["model"], r["model.net.residual"]) for r in drawn} == {
        (m, b) for m in ("resnet18", "resnet34") for b in ("True", "False")
    }
