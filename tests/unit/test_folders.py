"""runs/folders.py: run folders, their names and the writability check."""

from datetime import datetime

import pytest

from fashion_resnet.runs import folders
from fashion_resnet.runs.folders import run_stamp


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match=f"cannot write to the run folder {blocker}/run"):
        folders.check_writable(blocker / "run")


def test_ranks_with_different_clocks_share_one_run_folder():
    t0, t1 = datetime(2026, 1, 1, 12, 0, 0, 999_999), datetime(2026, 1, 1, 12, 0, 1, 3)
    srun = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"}
    for env in ({"TORCHELASTIC_RUN_ID": "abc"}, srun, {"FASHION_RESNET_RUN_ID": "x"}):
        assert run_stamp(env, t0) == run_stamp(env, t1)
    assert run_stamp({**srun, "SLURM_ARRAY_TASK_ID": "3"}) == "slurm_7_3_0"
    assert run_stamp({**srun, "SLURM_STEP_ID": "1"}) != run_stamp(srun)  # 2nd srun, own folder
    # A single-task SLURM job (two runs in one allocation) falls back to the clock.
    single = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}
    assert run_stamp(single, t0) == "2026-01-01_12-00-00_999999"
    assert run_stamp({"TORCHELASTIC_RUN_ID": "none"}, t0) == "2026-01-01_12-00-00_999999"
    # Without a shared id, two processes a microsecond apart still get different folders.
    assert run_stamp({}, t0) != run_stamp({}, t0.replace(microsecond=0))
