"""runs/sweep_resume.py: a sweep job's own folder decides: done (skip), stopped (resume), or
another job's (refused); the short form replays the sweep's command line."""

import json

import pytest

from fashion_resnet.errors import UserError
from fashion_resnet.runs import folders, resume, sweep_resume


def test_a_folder_of_another_job_is_refused(tmp_path, compose_cfg, monkeypatch):
    cfg = compose_cfg("train", ["hydra.mode=MULTIRUN", "seed=3"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"overrides": ["seed=1"]}))
    with pytest.raises(sweep_resume.SweepFolderError, match="holds another job .*seed=1.*seed=3"):
        sweep_resume.skip_or_resume(cfg)
    (out / "metrics.json").write_text(json.dumps({"overrides": ["seed=3"], "val/acc_best": 0.5}))
    assert sweep_resume.skip_or_resume(cfg)["val/acc_best"] == 0.5


def test_short_form_replays_the_saved_command_line(tmp_path):
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    hydra: [hydra.mode=MULTIRUN, hydra/launcher=joblib, "
        "hydra.sweep.dir=old]\n    task: ['optimizer=adam,sgd', seed=1, ckpt_path=a.ckpt]\n"
    )
    args = resume.rewrite_args(["-m", f"ckpt_path={tmp_path}", "seed=2"])
    assert args == ["-m", "hydra/launcher=joblib", "optimizer=adam,sgd", "ckpt_path=a.ckpt",
                    "seed=2", f"hydra.sweep.dir='{tmp_path}'"]  # fmt: skip
    assert resume.rewrite_args([f"ckpt_path={tmp_path}"])[:2] == ["-m", "hydra/launcher=joblib"]
    with pytest.raises(UserError, match="no multirun.yaml"):
        sweep_resume.rewrite_args(["-m"], tmp_path / "nothing")


def test_a_stopped_job_resumes_from_its_own_checkpoint(tmp_path, compose_cfg):
    out = tmp_path / "out"
    (out / folders.LAST).parent.mkdir(parents=True)
    (out / folders.LAST).write_bytes(b"")
    (out / "run.json").write_text(json.dumps({"overrides": ["seed=3"]}))
    single = compose_cfg("train", ["seed=3"])
    assert sweep_resume.skip_or_resume(single) is None and single.ckpt_path is None  # not a sweep
    cfg = compose_cfg("train", ["hydra.mode=MULTIRUN", "seed=3"])
    assert sweep_resume.skip_or_resume(cfg) is None and cfg.ckpt_path == "last"
    (out / "run.json").write_text(json.dumps({"overrides": ["seed=4"]}))
    with pytest.raises(sweep_resume.SweepFolderError, match="run.json: seed=4; this job: seed=3"):
        sweep_resume.skip_or_resume(compose_cfg("train", ["hydra.mode=MULTIRUN", "seed=3"]))
