"""scripts/gpu_check.sh's dry run: every training stage on the CPU with tiny data, the summary
read from the runs' metrics.json and CSV logs, and OUTDIR within what a remote run hands back."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


@pytest.mark.slow  # three tiny training runs in subprocesses: ~22 s of CPU
def test_dry_run_fills_outdir_with_at_most_8_files_in_2_levels(fake_data_dir, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "DATA_DIR": str(fake_data_dir), "RUNS": str(tmp_path / "runs"),
           "PYTHON": sys.executable}  # fmt: skip
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", str(out)], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8, files
    assert all(len(p.relative_to(out).parts) <= 2 for p in out.rglob("*"))
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in summary[1:5]] == ["reference", "fast", "best", "bench"]
    results = json.loads((out / "results.json").read_text())
    for name in ("reference", "fast", "best"):
        res = results[name]
        assert res["rc"] == "0", (name, (out / f"{name}.log").read_text()[-2000:])
        acc = res["metrics"]["test/acc"]
        assert 0 <= acc <= 1 and summary[1 + list(results).index(name)].split()[3] == str(acc)
        assert [e for e, _ in res["val_acc_per_epoch"]] == [0, 1]  # from the CSV log
        assert res["device"]["chosen"]["precision"] == "32-true"  # trainer=cpu in the dry run
    assert results["bench"]["rc"] == "skipped"
    assert any(line.startswith("best val/acc per epoch: 0:") for line in summary)
