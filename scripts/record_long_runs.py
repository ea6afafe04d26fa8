"""The plans of the records of long runs (scripts/record_results.py runs them): each a list of
commands with {file in the record: file the command produced}.

reference_10_epochs: `fashion-train experiment=reference`, its epochs beside the notebook's
(scripts/notebook_epochs.py); fast_cpu: `experiment=fast trainer=cpu` and its report;
degradation_cpu: `experiment=degradation_cpu` (four jobs) and the report's curves of their
training error. Each run logs CSV beside TensorBoard; the record keeps its metrics.json,
metrics.csv, run.json and overrides.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Plan = list[tuple[list[str], dict[str, str]]]

# The long records log CSV beside TensorBoard: the per-epoch table as text, kept in the record.
CSV_TOO = ["logger=[tensorboard,csv]"]
RUN_FILES = {"metrics.json": "metrics.json", "metrics.csv": "csv/metrics.csv",
             "run.json": "run.json", "overrides.yaml": ".hydra/overrides.yaml"}  # fmt: skip
REPORT_FILES = ("report.md", "report.csv", "curves.png", "curves.csv")


def run_files(run: str, prefix: str = "") -> dict[str, str]:
    return {prefix + dest: f"{run}/{src}" for dest, src in RUN_FILES.items()}


def report(py: str, folder: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """fashion-report on a run or a sweep: its table and its curves figure."""
    return [py, "-m", "fashion_resnet.report", folder, *args], {
        f: f"{folder}/{f}" for f in REPORT_FILES
    }


def reference_10_epochs(work: Path, py: str, tiny: list[str]) -> Plan:
    run, table = f"{work}/reference", f"{work}/notebook"
    train = [py, "-m", "fashion_resnet.train", "experiment=reference", *CSV_TOO, *tiny,
             f"paths.log_dir={work}/logs", f"hydra.run.dir={run}"]  # fmt: skip
    beside = [py, str(ROOT / "scripts" / "notebook_epochs.py"), run, "--out", table]
    return [(train, run_files(run)),
            (beside, {f: f"{table}/{f}" for f in ("epochs.md", "epochs.png")})]  # fmt: skip


def fast_cpu(work: Path, py: str, tiny: list[str]) -> Plan:
    run = f"{work}/fast"
    train = [py, "-m", "fashion_resnet.train", "experiment=fast", "trainer=cpu", *CSV_TOO, *tiny,
             f"paths.log_dir={work}/logs", f"hydra.run.dir={run}"]  # fmt: skip
    return [(train, run_files(run)), report(py, run)]


def degradation_cpu(work: Path, py: str, tiny: list[str]) -> Plan:
    sweep = f"{work}/degradation_cpu"  # a multirun by itself: four jobs, 0-3
    train = [py, "-m", "fashion_resnet.train", "experiment=degradation_cpu", *CSV_TOO, *tiny,
             f"paths.log_dir={work}/logs", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    files = {
        k: v for job in range(4) for k, v in run_files(f"{sweep}/{job}", f"jobs/{job}/").items()
    }
    return [(train, files), report(py, sweep, "--curves", "1-train/acc,train/loss,val/acc")]


LONG = {"reference_10_epochs": reference_10_epochs, "fast_cpu": fast_cpu,
        "degradation_cpu": degradation_cpu}  # fmt: skip


def tiny_overrides(name: str, data_dir: str, verify: bool) -> list[str]:
    """2 epochs of 4 batches of 8 at 28 px on `data_dir` (generated data: verify=False)."""
    over = [f"data.data_dir={data_dir}", "data.download=false", "data.image_size=28",
            "data.train_subset=32", "data.batch_size=8", "trainer.max_epochs=2",
            "+trainer.limit_val_batches=2"]  # fmt: skip
    if not verify:
        over += ["+data.verify=false", "+data.system_dir=null"]
    if name != "reference_10_epochs":  # which validates on the test set, as the notebook did
        over.append("data.val_size=16")
    return over
