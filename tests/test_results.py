"""Every figure the README quotes comes from a record in docs/results/, and says what it says."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DATA, REAL_DATA
from PIL import Image

from fashion_resnet.raw_files import SYSTEM_DIR

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
README = (ROOT / "README.md").read_text()
RECORDS = sorted(p.parent.name for p in RESULTS.glob("*/record.json"))


@pytest.mark.parametrize("name", RECORDS)
def test_each_record_says_what_produced_it(name):
    record = json.loads((RESULTS / name / "record.json").read_text())
    for key in ("date", "commit", "hardware", "commands", "files", "load_1min"):
        assert record.get(key), (name, key)
    assert all(c["command"] and c["wall_s"] >= 0 for c in record["commands"])
    for f in record["files"]:
        assert (RESULTS / name / f).is_file(), (name, f)


def _quoted(pattern: str) -> str:
    match = re.search(pattern, " ".join(README.split()))  # a figure may wrap onto the next line
    assert match, f"README lacks {pattern!r}"
    return match[1]


def _same(written: str, measured: float) -> bool:
    """`written` is `measured` rounded to the digits written."""
    digits = len(written.split(".")[1]) if "." in written else 0
    return float(written) == round(measured, digits)


def test_readme_smoke_figures_equal_their_record():
    metrics = json.loads((RESULTS / "smoke" / "metrics.json").read_text())
    record = json.loads((RESULTS / "smoke" / "record.json").read_text())
    figures = {
        r"\*\*test/acc ([\d.]+)\*\*": metrics["test/acc"],
        r"\(test/loss ([\d.]+),": metrics["test/loss"],
        r"val/acc_best ([\d.]+)\)": metrics["val/acc_best"],
        r"took ([\d.]+) s in all": record["commands"][0]["wall_s"],
        r"\(([\d.]+) s for the run itself": metrics["elapsed_s"],
        r"24,000 images at ([\d.]+) images/s": metrics["perf/train_images_per_s"],
    }
    for pattern, measured in figures.items():
        written = _quoted(pattern)
        assert _same(written, measured), f"README {pattern}: {written}, record: {measured}"
    load = record["load_1min"]
    assert _quoted(r"1-minute load ([\d.]+)[-–]") == str(round(load["min"], 1))


def test_readme_predict_outputs_are_the_recorded_ones():
    predict = (RESULTS / "predict_export" / "1.stdout.txt").read_text()
    block = README.split("On the smoke run's checkpoint", 1)[1].split("```", 2)[1]
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines and all(line in predict for line in lines)
    csv = (RESULTS / "predict_export" / "predictions.csv").read_text()
    block = README.split("`predictions.csv`:", 1)[1].split("```", 2)[1]
    assert all(line in csv for line in block.splitlines() if line.strip())


NO_REAL_DATA = f"real FashionMNIST in neither {PROJECT_DATA}/FashionMNIST/raw nor {SYSTEM_DIR}"


@pytest.mark.skipif(not REAL_DATA, reason=NO_REAL_DATA)
def test_demo_pictures_are_the_recorded_input_of_the_predict_example(tmp_path, monkeypatch, capsys):
    """scripts/demo_pictures.py makes the pictures of the README's predict example from the
    first real test images: the same files and true classes as the record. Run in this process
    (as `python scripts/demo_pictures.py DIR` from the repo root) to spare a torch import."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["demo_pictures.py", str(tmp_path / "demo")])
    runpy.run_path(str(ROOT / "scripts" / "demo_pictures.py"), run_name="__main__")
    recorded = (RESULTS / "predict_export" / "0.stdout.txt").read_text()
    assert capsys.readouterr().out.replace(f"{tmp_path}/", "") == recorded
    expected = {"grey_28px.png": ("L", (28, 28)), "colour_224x180.jpg": ("RGB", (224, 180)),
                "white_background_300px.png": ("L", (300, 300)),
                "rgba_96px.png": ("RGBA", (96, 96))}  # fmt: skip
    for name, (mode, size) in expected.items():
        with Image.open(tmp_path / "demo" / name) as picture:
            assert (picture.mode, picture.size) == (mode, size), name
            if name.startswith("white"):  # a dark item on white: the corners are white
                assert picture.getpixel((0, 0)) == 255
    assert (tmp_path / "demo" / "notes.txt").read_text() == "not a picture\n"


def test_readme_demo_sweep_table_is_the_recorded_report():
    report = (RESULTS / "demo_sweep" / "report.md").read_text()
    rows = [line for line in README.splitlines() if re.match(r"\| \d \| 0\.00\d+ \|", line)]
    assert len(rows) == 3 and all(row in report for row in rows)


def test_record_script_dry_run_lists_every_record_and_runs_nothing(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "record_results.py"),
                          "--dry-run", "smoke", "predict_export", "demo_sweep", "bench_cpu",
                          "gpu_check_dry_run"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    for name in ("smoke", "predict_export", "demo_sweep", "bench_cpu", "gpu_check_dry_run"):
        assert f"[{name}]" in out.stdout and str(RESULTS / name) in out.stdout
    assert "experiment=smoke" in out.stdout and "demo_sweep.sh" in out.stdout
    assert "gpu_deps.py --env" in out.stdout and "gpu_check.sh --dry-run" in out.stdout
    script = str(ROOT / "scripts" / "record_results.py")
    bad = subprocess.run([sys.executable, script, "--dry-run", "predict_export"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "record smoke in the same call" in bad.stderr


def test_readme_benchmark_tables_are_the_recorded_run():
    bench = json.loads((RESULTS / "bench_cpu" / "bench.json").read_text())
    assert bench["table"] in README
    assert bench["table"] in (ROOT / "docs" / "RESULTS.md").read_text()
