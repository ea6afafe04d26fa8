"""scripts/gpu_check.sh's results.json and summary.txt, from what its stages left in WORK: each
stage's exit code and wall time (stages.tsv), each training run's metrics.json, run.json and CSV
log, the gpu tier's JUnit XML, the notebook loop's and the benchmark's JSON. The check runs it
after every stage, so a run cut short still hands back every stage it finished.

    python scripts/gpu_check_results.py OUT WORK
"""

from __future__ import annotations

import csv
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

TRAINED = ("reference", "fast", "best")  # stages that are fashion-train runs


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def training_run(folder: Path) -> dict[str, Any]:
    """The newest run under a stage's log folder: its metrics, device choice, val/acc per epoch."""
    run = max(folder.glob("train/runs/*"), default=None, key=lambda p: p.stat().st_mtime)
    if run is None:
        return {"run_dir": None}
    log = run / "csv" / "metrics.csv"
    rows = list(csv.DictReader(log.open())) if log.is_file() else []
    return {
        "run_dir": str(run),
        "metrics": read_json(run / "metrics.json"),
        "device": (read_json(run / "run.json") or {}).get("device"),
        "val_acc_per_epoch": [
            [int(r["epoch"]), float(r["val/acc"])] for r in rows if r.get("val/acc")
        ],  # fmt: skip
    }


def gpu_tests(xml: Path) -> dict[str, int] | None:
    if not xml.is_file():
        return None
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"]
            - counts["skipped"]}  # fmt: skip


def stage_result(name: str, work: Path) -> dict[str, Any]:
    if name in TRAINED:
        return training_run(work / "runs" / name)
    if name == "gpu_tests":
        return {"tests": gpu_tests(work / "gpu_tests.xml")}
    return {name: read_json(work / f"{name}.json")}  # notebook, bench


def line(name: str, res: dict[str, Any]) -> str:
    """One summary line: the stage's headline figures."""
    head = f"{name} {res['rc']} {res['wall_s']}"
    if name in TRAINED:
        m = res.get("metrics") or {}
        return (f"{head} test/acc {m.get('test/acc', '-')} elapsed_s {m.get('elapsed_s', '-')} "
                f"train_images_per_s {m.get('perf/train_images_per_s', '-')}")  # fmt: skip
    if name == "gpu_tests" and res.get("tests"):
        return head + " " + ", ".join(f"{v} {k}" for k, v in res["tests"].items())
    if name == "notebook" and res.get("notebook"):
        last = res["notebook"]["epochs"][-1]
        return f"{head} test_acc {last['test_acc']} train_images_per_s {last['train_images_per_s']}"
    if name == "bench" and (res.get("bench") or {}).get("summary"):
        ratios = res["bench"]["summary"]["training_ratio"].items()
        return head + " vs the reference loop: " + ", ".join(f"{v} {r:.2f}x" for v, r in ratios)
    return head


def targets(results: dict[str, dict]) -> list[str]:
    """The GPU issue's targets, where their stages finished."""
    out = []
    ref, fast, nb = (results.get(n, {}) for n in ("reference", "fast", "notebook"))
    ref_m, fast_m = ref.get("metrics") or {}, fast.get("metrics") or {}
    if ref_m:
        out.append(f"target reference <= 60 s end to end: {ref['wall_s']} s")
    if ref_m and nb.get("notebook"):
        ratio = ref_m["perf/train_images_per_s"] / nb["notebook"]["epochs"][-1][
            "train_images_per_s"]  # fmt: skip
        out.append(f"target reference >= 3x the notebook loop's training images/s: {ratio:.2f}x")
    if fast_m:
        acc, run_s = fast_m["test/acc"], fast_m["elapsed_s"]
        out.append(f"target fast >= 0.918 test accuracy in <= 20 s: {acc:.4f} in "
                   f"{fast['wall_s']} s end to end ({run_s} s in the run)")  # fmt: skip
    return out


def main(out: Path, work: Path) -> None:
    results, lines = {}, ["stage rc wall_s figures"]
    for row in (work / "stages.tsv").read_text().splitlines():
        name, rc, wall_ms = row.split("\t")
        res = {"rc": rc, "wall_s": round(int(wall_ms) / 1000, 1), **stage_result(name, work)}
        results[name] = res
        lines.append(line(name, res))
    for name in TRAINED:
        if (results.get(name) or {}).get("val_acc_per_epoch"):
            pairs = " ".join(f"{e}:{a:.4f}" for e, a in results[name]["val_acc_per_epoch"])
            lines.append(f"{name} val/acc per epoch: {pairs}")
    lines += targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "summary.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
