"""Multiruns end to end, as a person runs them: `python -m fashion_resnet.train -m ...` on the
generated data with a few batches per job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_extra, tiny_overrides
from omegaconf import OmegaConf

from fashion_resnet import report
from fashion_resnet.extras import OPTUNA

pytestmark = pytest.mark.slow
LEAN = ["~callbacks.model_checkpoint"]  # no 45 MB checkpoints: these tests read metrics only
# One thread per process: joblib's jobs run side by side, and CI machines have few cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def multirun(data_dir, tmp_path, name: str, *args: str, env: dict = ENV):
    sweep = tmp_path / name
    cmd = [sys.executable, "-m", "fashion_resnet.train", "-m", *tiny_overrides(data_dir, tmp_path),
           *LEAN, f"hydra.sweep.dir={sweep}", *args]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return sweep, proc


def metrics(job) -> dict:
    return json.loads((job / "metrics.json").read_text())


def test_joblib_launcher_runs_jobs_in_their_own_processes_one_gpu_each(fake_data_dir, tmp_path):
    # FASHION_RESNET_GPUS=2 simulates two GPUs (gpu_slots.py); each job's run.json records the
    # CUDA_VISIBLE_DEVICES it was given. accelerator=auto: only GPU jobs get a GPU slot.
    env = {**ENV, "FASHION_RESNET_GPUS": "2"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    sweep, _ = multirun(
        fake_data_dir, tmp_path, "sweep", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "trainer.accelerator=auto", "seed=1,2", env=env,
    )  # fmt: skip
    runs = [json.loads((sweep / n / "run.json").read_text()) for n in ("0", "1")]
    assert runs[0]["pid"] != runs[1]["pid"]  # two processes side by side ...
    assert sorted(r["device"]["cuda_visible_devices"] for r in runs) == ["0", "1"]  # 1 GPU each
    assert [metrics(sweep / n)["overrides"][-1] for n in ("0", "1")] == ["seed=1", "seed=2"]


@needs_extra("optuna", OPTUNA)
def test_optuna_search_reports_a_best_value_and_resumes_from_sqlite(fake_data_dir, tmp_path):
    import optuna

    db = f"sqlite:///{tmp_path}/study.db"
    search = ["hparams_search=optuna", f"hydra.sweeper.storage={db}", "hydra.sweeper.n_jobs=3",
              "hydra.sweeper.study_name=t", "hydra.sweeper.sampler.seed=0",
              "test=false"]  # fmt: skip
    sweep, _ = multirun(fake_data_dir, tmp_path, "first", *search, "hydra.sweeper.n_trials=3")
    accs = [metrics(sweep / str(n))["val/acc_best"] for n in range(3)]
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == pytest.approx(max(accs))
    assert set(best.best_params) >= {"optimizer", "optimizer.lr", "++optimizer.weight_decay"}

    multirun(fake_data_dir, tmp_path, "second", *search, "hydra.sweeper.n_trials=1")
    study = optuna.load_study(study_name="t", storage=db)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4


@needs_extra("optuna", OPTUNA)
def test_optuna_survives_a_failed_trial_and_the_report_names_it(fake_data_dir, tmp_path):
    # Seed 0 of the random sampler draws 'tiny' (fails the config check at once), then 'imagenet'.
    # (The grid sampler would be deterministic, but it raises when its last trial fails.)
    sweep, proc = multirun(
        fake_data_dir, tmp_path, "sweep", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0", "hydra.sweeper.direction=maximize",
        "model.net.stem=choice(imagenet,tiny)", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_failure_rate=0.5", "test=false",
    )  # fmt: skip
    assert "Unknown model.net.stem='tiny'" in proc.stderr + proc.stdout
    assert not (sweep / "0" / "metrics.json").exists()
    assert "model.net.stem=imagenet" in metrics(sweep / "1")["overrides"]
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_params == {"model.net.stem": "imagenet"}
    report.main([str(sweep)])
    assert "0 (no result (0 epochs logged))" in (sweep / "report.md").read_text()


def test_the_demo_sweep_script_runs_its_three_jobs_and_prints_their_report(fake_data_dir, tmp_path):
    """scripts/demo_sweep.sh as the README gives it, on the generated data: its own overrides
    (three learning rates, 2 epochs) with the data and batches shrunk by overrides after them."""
    sweep = tmp_path / "demo"
    tiny = [o for o in tiny_overrides(fake_data_dir, tmp_path)
            if not o.startswith(("+trainer.limit_test_batches", "trainer.max_epochs"))]  # fmt: skip
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "demo_sweep.sh")
    env = {**ENV, "PY": sys.executable, "SWEEP": str(sweep)}
    proc = subprocess.run(["bash", script, *tiny, "data.train_subset=256", *LEAN],
                          capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    lrs = [metrics(sweep / str(j))["overrides"][0] for j in range(3)]
    assert lrs == ["optimizer.lr=0.0003", "optimizer.lr=0.001", "optimizer.lr=0.003"]
    for j, lr in enumerate(lrs):  # one folder per job: its metrics, TensorBoard log, provenance
        job = sweep / str(j)
        assert metrics(job)["epochs"] == 2 and 0 <= metrics(job)["val/acc_best"] <= 1
        assert list((job / "tensorboard" / lr).glob("events.out.tfevents.*"))
        run = json.loads((job / "run.json").read_text())
        assert len(run["git"]["commit"]) == 40 and isinstance(run["git"]["dirty"], bool)
        assert run["packages"]["torch"] and run["device"]["accelerator"] == "CPUAccelerator"
    assert "| job | optimizer.lr | best val acc |" in proc.stdout  # the report it prints
    rows = (sweep / "report.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[1].startswith("0,ok,") and ",0.003," in rows[3]
    assert "| job | optimizer.lr | best val acc |" in (sweep / "report.md").read_text()
    assert (sweep / "report.png").stat().st_size > 10_000
