"""Every figure docs/RESULTS.md quotes is in the files of the record it links
(docs/results/<name>/), rounded as written; the README quotes none that RESULTS.md lacks; each
record says what made it."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NO_REAL_DATA, REAL_DATA
from PIL import Image

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


# --- the figure check -------------------------------------------------------------------------
# A figure is a number as written (digits, an optional sign, thousands commas, decimals or an
# exponent); a date, a clock time, or digits inside a word (ResNet-18, b8d88f7, cu130) are not.
FIGURE = re.compile(
    r"(?<![\w.])(?<![A-Za-z_]-)[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?"
    r"(?![\w.]*[A-Za-wyz_])(?!\.\d)"  # a unit may follow: 5.95x, 4.1%, 204 s
)
NOT_FIGURES = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:\+\d\d:\d\d)?)?|\d\d:\d\d(?: UTC)?"  # dates
    r"|\]\([^)]*\)"  # link targets (record folders carry dates)
)
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def sections(doc: str) -> list[str]:
    """A Markdown document cut at its `##` and `###` headings."""
    return [s for s in re.split(r"\n(?=#{2,3} )", doc) if s.strip()]


def records_named(section: str) -> list[str]:
    """The docs/results/<name>/ folders a section links to."""
    return sorted(set(re.findall(r"\bresults/([\w.-]+?)/", section)))


def record_texts(names: list[str]) -> list[str]:
    texts = []
    for name in names:
        for path in sorted((RESULTS / name).rglob("*")):
            if path.is_file() and path.suffix not in (".png", ".jpg"):
                texts.append(path.read_text())
    return texts


def record_numbers(names: list[str]) -> list[float]:
    """Every number in a record's files, also as a percentage (a fraction written as 4.1%)."""
    values = [abs(float(n)) for text in record_texts(names) for n in NUMBER.findall(text)]
    return values + [100 * v for v in values]


def figures(text: str) -> list[str]:
    prose = NOT_FIGURES.sub(" ", text.replace("−", "-"))
    return FIGURE.findall(prose)


def found(written: str, numbers: list[float]) -> bool:
    """`written` is some recorded number, rounded to the digits written."""
    plain = written.replace(",", "").lstrip("+-−")
    value = abs(float(plain))
    if "e" in plain:
        return any(abs(n - value) <= 0.05 * value for n in numbers)  # 1.0e-06: 2 digits
    digits = len(plain.split(".")[1]) if "." in plain else 0
    return any(abs(round(n, digits) - value) < 10 ** -(digits + 3) for n in numbers)


def output_lines(section: str) -> list[str]:
    """The lines of a section's output blocks (```text): copied from a record's files."""
    blocks = re.findall(r"```text\n(.*?)```", section, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


RESULTS_MD = (ROOT / "docs" / "RESULTS.md").read_text()
SECTIONS = {s.splitlines()[0].lstrip("# ").strip(): s for s in sections(RESULTS_MD)}


def test_the_figure_check_finds_figures_and_refuses_a_changed_one():
    text = "ResNet-18 on 2026-11-30 01:58 UTC (b8d88f7): 0.8700, 5.95x, -4.1%, 11,118 and 1.0e-06."
    assert figures(text) == ["0.8700", "5.95", "-4.1", "11,118", "1.0e-06"]
    numbers = record_numbers(["smoke_2026-11-30_quiet"])
    assert found("0.8700", numbers) and found("29.5", numbers)  # test/acc, elapsed_s
    assert not found("0.8701", numbers) and not found("29.6", numbers)


@pytest.mark.parametrize("title", SECTIONS)
def test_every_figure_in_results_md_is_in_its_record(title):
    """Each section of docs/RESULTS.md links the records it quotes (docs/results/<name>/); every
    number it writes is one of those records' numbers, rounded as written, and every line of
    its output blocks is a line of their files."""
    section = SECTIONS[title]
    written = figures(section)
    names = records_named(section)
    if not names:
        assert not written, f"{title!r} quotes {written} without a docs/results/<name>/ link"
        return
    for name in names:
        assert (RESULTS / name).is_dir(), f"{title!r} links results/{name}/, which is missing"
    numbers = record_numbers(names)
    missing = [w for w in written if not found(w, numbers)]
    assert not missing, f"{title!r}: {missing} are in none of the records {names}"
    texts = record_texts(names)
    for line in output_lines(section):
        assert any(line in text for text in texts), (title, line)


# What the README may not state without RESULTS.md: a measured quantity (a time, a rate, a
# ratio, a share, a size) or an accuracy or loss.
MEASURED = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?) ?(?:s\b|ms\b|min\b|minutes\b|h\b|hours\b|x\b|%"
    r"|MiB|GiB|MB\b|GB\b|images/s|img/s)"
    r"|(?:acc\w*|loss|accuracy)[ =:]*(\d\.\d{2,})"
)


def test_the_readme_quotes_no_figure_that_results_md_lacks():
    """The README is a guide: a measured figure appears there only as docs/RESULTS.md states
    it (with its record), and it names no date."""
    readme = re.sub(r"```.*?```", " ", README, flags=re.S)  # commands and examples
    readme = re.sub(r"`[^`]*`", " ", readme)  # config values and code
    quoted = [a or b for a, b in MEASURED.findall(readme)]
    numbers = [abs(float(n.replace(",", ""))) for n in FIGURE.findall(RESULTS_MD)]
    assert not [q for q in quoted if not found(q, numbers)], quoted
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", README), "a date in the README"


LONG_RECORDS = ("reference_10_epochs", "fast_cpu", "degradation_cpu")
PRESETS = sorted((ROOT / "src" / "fashion_resnet" / "conf" / "experiment").glob("*.yaml"))
assert PRESETS, "no presets found: the conf/ folder moved?"
UNMEASURED = "ACCURACY NOT YET MEASURED"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_each_preset_states_its_measured_accuracy_or_that_it_has_none(preset):
    """A preset's comment says ACCURACY NOT YET MEASURED, or states `test accuracy X` (or, for
    one that does not test, `training error X`) with the record it comes from
    (docs/results/<name>/), rounded as written. One that says unmeasured
    names no record that exists: once its record is made, the comment has to say what it shows."""
    header = "\n".join(line for line in preset.read_text().splitlines() if line.startswith("#"))
    if "Deprecated name of experiment=" in header:  # an alias: its target says it
        return
    recorded = [n for n in records_named(header) if (RESULTS / n / "record.json").is_file()]
    if UNMEASURED in header:
        assert not recorded, f"{preset.name} says unmeasured, but results/{recorded[0]}/ exists"
        return
    stated = re.findall(r"test accuracy (\d\.\d+)", header)
    errors = re.search(r"training error(.*?)\.\s", header, re.S)  # up to the sentence's end
    stated += re.findall(r"\b0\.\d+", errors.group(1)) if errors else []
    assert stated and recorded, f"{preset.name}: state its record's test accuracy or {UNMEASURED}"
    numbers = record_numbers(recorded)
    assert all(found(s, numbers) for s in stated), (preset.name, stated, recorded)


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


def test_record_script_dry_run_lists_every_record_and_runs_nothing(tmp_path):
    names = ("smoke", "predict_export", "demo_sweep", "bench_cpu", "gpu_check_dry_run",
             *LONG_RECORDS)  # fmt: skip
    script = str(ROOT / "scripts" / "record_results.py")
    out = subprocess.run([sys.executable, script, "--dry-run", *names],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    for name in names:
        assert f"[{name}]" in out.stdout and str(RESULTS / name) in out.stdout
    assert "experiment=smoke" in out.stdout and "demo_sweep.sh" in out.stdout
    assert "gpu_deps.py --env" in out.stdout and "gpu_check.sh --dry-run" in out.stdout
    for command in ("experiment=reference", "notebook_epochs.py", "experiment=fast trainer=cpu",
                    "experiment=degradation_cpu", "--curves 1-train/acc"):  # fmt: skip
        assert command in out.stdout, command
    for kept in ("reference_10_epochs/metrics.csv", "reference_10_epochs/epochs.md",
                 "fast_cpu/curves.png", "degradation_cpu/jobs/3/metrics.csv"):  # fmt: skip
        assert str(RESULTS / kept) in out.stdout, kept
    script = str(ROOT / "scripts" / "record_results.py")
    bad = subprocess.run([sys.executable, script, "--dry-run", "predict_export"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "record smoke in the same call" in bad.stderr
    tiny = subprocess.run([sys.executable, script, "--dry-run", "fast_cpu", "--tiny", "data"],
                          capture_output=True, text=True)  # fmt: skip
    assert tiny.returncode == 2 and "give --results DIR" in tiny.stderr  # never docs/results


def test_a_record_keeps_its_note(tmp_path, monkeypatch):
    """--note: a sentence in record.json (what else loaded the machine, say)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as when it runs: its imports beside it
    script = runpy.run_path(str(ROOT / "scripts" / "record_results.py"))
    record, results = script["record"], tmp_path / "results"
    record.__globals__.update(plan=lambda name, work, py, tiny=(): [(["true"], {})])
    record("smoke", tmp_path / "work", sys.executable, "shared with other jobs", results)
    saved = json.loads((results / "smoke" / "record.json").read_text())
    assert saved["note"] == "shared with other jobs" and saved["commands"][0]["command"] == "true"
