"""runs/resume.py: `ckpt_path=<run folder>|last` rewritten into the run's own command line."""

import pytest

from fashion_resnet.data.fashion_mnist import FACTS
from fashion_resnet.errors import UserError
from fashion_resnet.runs import resume


def make_run(folder, overrides):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (folder / "checkpoints").mkdir()
    (folder / resume.LAST).write_bytes(b"")
    return folder


def test_rewrite_args_resumes_a_run_folder_with_its_own_overrides(tmp_path):
    run = make_run(tmp_path / "r", ["data.image_size=28", "+data.verify=false", "ckpt_path=x"])
    args = resume.rewrite_args([f"ckpt_path={run}", "trainer.max_epochs=20", "data.image_size=32"])
    assert args == [
        "+data.verify=false", "trainer.max_epochs=20", "data.image_size=32",
        f"ckpt_path='{run / resume.LAST}'", f"hydra.run.dir='{run}'",
    ]  # fmt: skip


def test_rewrite_args_keeps_flags_in_place_and_ignores_deletions(tmp_path):
    run = make_run(tmp_path / "r", ["seed=1"])
    assert resume.rewrite_args(["~ckpt_path", "seed=2"]) == ["~ckpt_path", "seed=2"]
    args = resume.rewrite_args([f"ckpt_path={run}", "--resolve", "seed=2"])
    assert args[:2] == ["--resolve", "seed=2"]  # the saved seed=1 is replaced by the new seed=2


def test_rewrite_args_last_is_the_newest_run(tmp_path):
    runs_dir = tmp_path / "train" / "runs"
    make_run(runs_dir / "2026-01-01_00-00-00_000001", [])
    newest = make_run(runs_dir / "2026-01-01_00-00-00_000002", [])
    (runs_dir / "2026-01-02_00-00-00_000000").mkdir()  # started, no checkpoint yet
    args = resume.rewrite_args(["ckpt_path=last", f"paths.log_dir={tmp_path}"])
    assert args[-1] == f"hydra.run.dir='{newest}'"
    ckpt = str(tmp_path / "x.ckpt")
    assert resume.rewrite_args([f"ckpt_path={ckpt}"]) == [f"ckpt_path={ckpt}"]  # a file: as is
    with pytest.raises(UserError, match="no run with checkpoints/last.ckpt under"):
        resume.rewrite_args(["ckpt_path=last", f"paths.log_dir={tmp_path / 'empty'}"])


def test_a_missing_resume_checkpoint_is_a_user_error(tmp_path, compose_cfg):
    cfg = compose_cfg("train", ["ckpt_path=last"])
    with pytest.raises(UserError, match="last.ckpt' does not exist"):
        resume.checkpoint_for(cfg, tmp_path, FACTS)






