"""scripts/gpu_check.sh and what it needs on the GPU machine: its wheel list is what the core
requirements need beyond that machine's image (scripts/gpu_deps.py), the `gpu` tier imports
with the core dependencies alone, the stage limits fit one 9-minute command, and its dry run,
in an environment with only the image's packages and the wheel list's, fills OUTDIR with what
a remote run hands back after every stage."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from test_bench import script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


DEPS = script("gpu_deps.py")


def test_wheel_list_is_what_the_requirements_need_beyond_the_image():
    """gpu_wheels.txt equals the derivation: every package the core requirements reach,
    transitively, that the image lacks; pinned to versions that meet every requirement."""
    image = {DEPS.normalize(n) for n in DEPS.listed(DEPS.IMAGE)}
    assert DEPS.main(["--check"]) == 0
    wheels = dict(line.split("==") for line in DEPS.listed(DEPS.WHEELS))
    assert {"hydra-core", "omegaconf", "antlr4-python3-runtime", "hydra-colorlog", "colorlog",
            "python-dotenv"} <= set(wheels)  # fmt: skip  # the GPU issue's findings
    assert not set(wheels) & image
    reached = [*DEPS.core_requirements()]  # each requirement on the way meets its pin
    for name in wheels:
        reached += [Requirement(r) for r in md.requires(name) or []]
    for req in reached:
        name = DEPS.normalize(req.name)
        if name in wheels and DEPS.applies(req, set()):
            assert req.specifier.contains(wheels[name], prereleases=True), (req, wheels[name])


def test_the_derivation_follows_requirements_through_what_the_image_lacks(monkeypatch):
    """A package missing from the image brings its own requirements (the image's stop it)."""
    image = {DEPS.normalize(n) for n in DEPS.listed(DEPS.IMAGE)}
    monkeypatch.setattr(DEPS, "core_requirements", lambda: [Requirement("hydra-colorlog")])
    assert set(DEPS.derive(image)) == {"hydra-colorlog", "colorlog", "hydra-core", "omegaconf",
                                       "antlr4-python3-runtime"}  # fmt: skip
    assert set(DEPS.derive(image - {"pyyaml"})) >= {"pyyaml"}  # omegaconf's, once missing


def core_import_names() -> set[str]:
    """Top-level import names of every distribution the core requirements reach here."""
    dists, todo = set(), list(DEPS.core_requirements())
    while todo:
        req = todo.pop()
        name = DEPS.normalize(req.name)
        if name in dists or not DEPS.applies(req, set()):
            continue
        dists.add(name)
        todo += [Requirement(r) for r in md.requires(name) or []]
    return {mod for mod, ds in md.packages_distributions().items()
            if any(DEPS.normalize(d) in dists for d in ds)}  # fmt: skip


def test_no_test_module_imports_an_optional_extra_at_module_level():
    """`pytest -m gpu` imports every test module: one module-level import of an extra's
    package (optuna) stopped the GPU machine's collection. Optional tests importorskip."""
    ours = {"fashion_resnet", "hydra_plugins", "conftest", "pytest",
            *(p.stem for p in (ROOT / "tests").rglob("*.py"))}  # fmt: skip
    allowed = ours | core_import_names() | set(sys.stdlib_module_names)
    for path in (ROOT / "tests").rglob("*.py"):  # unit/, integration/, gpu/ too
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def stage_limits() -> dict[str, int]:
    text = SCRIPT.read_text()
    return {k: int(v) for k, v in re.findall(r"\b(\w+_S)=\$\{\w+:-(\d+)\}", text)}


def test_stage_limits_fit_one_nine_minute_command():
    limits = stage_limits()
    stages = ["GPU_TESTS_S", "REF_S", "FAST_S", "BEST_S", "NOTEBOOK_S", "BENCH_S"]
    kill = int(re.search(r"KILL_S=(\d+)", SCRIPT.read_text())[1])
    assert sum(limits[s] for s in stages) + kill * len(stages) <= limits["TOTAL_S"] <= 540
    assert "--full --repeats 1" in SCRIPT.read_text()  # one round: the bench fits its stage


@pytest.fixture(scope="module")
def gpu_python(tmp_path_factory) -> str:
    """A Python that sees only the GPU image's packages and the wheel list's (linked from
    this environment), as the GPU machine does after installing the wheels."""
    return str(DEPS.make_env(tmp_path_factory.mktemp("gpu-env") / "env",
                             {DEPS.normalize(n) for n in DEPS.listed(DEPS.IMAGE)}
                             | {DEPS.normalize(w.split("==")[0]) for w in
                                DEPS.listed(DEPS.WHEELS)}))  # fmt: skip


def test_the_gpu_environment_lacks_the_extras(gpu_python):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import fashion_resnet.train, hydra, colorlog, dotenv\nimport optuna"
    done = subprocess.run([gpu_python, "-c", code], capture_output=True, text=True, env=env)
    assert "No module named 'optuna'" in done.stderr, done.stderr[-2000:]


def dry_run_into(tmp: Path, gpu_python: str, data_dir: Path, **env: str) -> Path:
    """scripts/gpu_check.sh --dry-run in the GPU machine's dependency set (no PYTHONPATH of
    ours: the script sets its own), `env` added; returns its OUTDIR."""
    out = tmp / "out"
    env = {**os.environ, "DATA_DIR": str(data_dir), "RUNS": str(tmp / "runs"),
           "PYTHON": gpu_python, "WHEELS": str(tmp / "no-wheels"), "OMP_NUM_THREADS": "1",
           **env}  # fmt: skip
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(out)], capture_output=True,
                          text=True, env=env, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def dry_run(gpu_python, fake_data_dir, tmp_path_factory) -> Path:
    """The dry run's OUTDIR (three tiny trainings, the gpu tier's collection, the notebook loop
    and the bench's dry run)."""
    return dry_run_into(tmp_path_factory.mktemp("dry-run"), gpu_python, fake_data_dir)


def stage_log(out: Path, name: str) -> str:
    with tarfile.open(out / "logs.tar.gz") as logs:
        return logs.extractfile(f"logs/{name}.log").read().decode()


@pytest.mark.slow
def test_dry_run_in_the_gpu_environment_fills_outdir_stage_by_stage(dry_run):
    out = dry_run
    assert sorted(p.name for p in out.iterdir()) == [
        "env.txt", "logs.tar.gz", "results.json", "summary.txt"]  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["gpu_tests", "reference", "fast", "best", "notebook", "bench"]
    assert all(res["rc"] == "0" for res in results.values()), results
    tests = results["gpu_tests"]["tests"]  # collected in the GPU environment, skipped here
    assert tests["tests"] >= 4 and tests["errors"] == 0 and tests["skipped"] == tests["tests"]
    for name in ("reference", "fast", "best"):
        res = results[name]
        assert 0 <= res["metrics"]["test/acc"] <= 1
        assert [e for e, _ in res["val_acc_per_epoch"]] == [0, 1]  # from the CSV log
        assert res["device"]["chosen"]["precision"] in ("bf16-mixed", "32-true")  # trainer=cpu
    assert results["notebook"]["notebook"]["epochs"][0]["train_images_per_s"] > 0
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in summary[1:7]] == list(results)
    assert any(line.startswith("best val/acc per epoch: 0:") for line in summary)
    with tarfile.open(out / "logs.tar.gz") as logs:
        names = set(logs.getnames())
    assert {f"logs/{n}.log" for n in results} <= names


@pytest.mark.slow
def test_the_bench_dry_run_runs_every_contender_and_keeps_every_step(dry_run):
    """scripts/bench.py --dry-run, as the check's bench stage runs it (tested here, where it
    runs anyway, rather than once more in test_bench.py)."""
    result = json.loads((dry_run / "results.json").read_text())["bench"]["bench"]
    training = result["runs"]["training"]
    assert set(training) == {"ref", "plain:default", "bare:default", "shipped:default"}
    for runs in [*training.values(), *result["runs"]["pipeline"].values()]:
        assert len(runs) == 1 and len(runs[0]["step_ms"]) == 2  # 2 timed steps, all kept
        assert all(ms > 0 for ms in runs[0]["step_ms"])
    printed = stage_log(dry_run, "bench")
    assert "fashion-train as shipped (default)" in printed and "bare Trainer.fit" in printed
    assert set(result["summary"]["lightning_cost"]) == {"bare", "shipped"}
    assert "load" in result["environment"] and result["load_1min"]["start"] >= 0


def test_a_stage_past_the_total_time_is_skipped_and_recorded(gpu_python, fake_data_dir, tmp_path):
    out = dry_run_into(tmp_path, gpu_python, fake_data_dir, TOTAL_S="1")
    results = json.loads((out / "results.json").read_text())
    assert {res["rc"] for res in results.values()} == {"skipped"} and len(results) == 6
