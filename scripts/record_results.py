"""Re-run the CPU commands behind the figures docs/RESULTS.md quotes, and keep
what they produced as records: docs/results/<name>/ holds record.json (the commands, the
commit, the date, the hardware, the machine's load while it ran, the wall time of each
command) and the output files that matter (metrics.json, run.json, report.md, ...).

    python scripts/record_results.py --dry-run           # what it would run and write
    python scripts/record_results.py                     # smoke, predict_export, demo_sweep
    python scripts/record_results.py bench_cpu           # the CPU benchmark (minutes)
    python scripts/record_results.py --note "..."        # a sentence kept in each record.json
    python scripts/record_results.py gpu_check_dry_run   # the GPU check's CPU dry run in the
                                                         # GPU image's packages plus its wheels
    python scripts/record_results.py degradation_cpu     # the long runs: one at a time, on a
    python scripts/record_results.py fast_cpu            # quiet machine (minutes to an hour)
    python scripts/record_results.py reference_10_epochs # (hours on a 2-core CPU)

Records: smoke (`fashion-train experiment=smoke`), predict_export (the README's demo pictures,
`fashion-predict` and `fashion-export` on the smoke run's checkpoint; needs smoke in the same
call), demo_sweep (`scripts/demo_sweep.sh`), bench_cpu (`scripts/bench.py`), gpu_check_dry_run
(the wheels fetched with pip, an environment of only the image's packages, `gpu_check.sh
--dry-run` on the real files, which it installs the wheels into as on the GPU machine);
reference_10_epochs (`experiment=reference`, its epochs beside the notebook's:
scripts/notebook_epochs.py), fast_cpu (`experiment=fast trainer=cpu`), degradation_cpu
(`experiment=degradation_cpu`, its training errors on one plot): these three log to TensorBoard
and CSV and keep each run's metrics.json, metrics.csv and run.json, and the report's figures.
Commands run in a scratch folder (logs/records/<stamp>/) with the interpreter running this
script; an existing record is replaced only when its commands succeed. `--tiny` runs them at a
tiny size on the data given (the script's test; its figures mean nothing) into --results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from record_long_runs import LONG, tiny_overrides

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
NAMES = ("smoke", "predict_export", "demo_sweep", "bench_cpu", "gpu_check_dry_run",
         "reference_10_epochs", "fast_cpu", "degradation_cpu")  # fmt: skip
DEFAULT = ("smoke", "predict_export", "demo_sweep")
TEXT = {".json", ".yaml", ".csv", ".md", ".txt"}
SYSTEM_DATA = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def plan(
    name: str, work: Path, py: str, tiny: list[str] = ()
) -> list[tuple[list[str], dict[str, str]]]:
    """The commands of one record, each with {file in the record: file it produced}; `tiny`:
    overrides appended to the training commands of the long records."""
    if name in LONG:
        return LONG[name](work, py, tiny)
    train = [py, "-m", "fashion_resnet.train"]
    smoke_run = f"{work}/smoke/train/runs/smoke"
    if name == "smoke":
        cmd = [*train, "experiment=smoke", f"paths.log_dir={work}/smoke",
               f"hydra.run.dir={smoke_run}"]  # fmt: skip
        files = {f: f"{smoke_run}/{f}" for f in ("metrics.json", "run.json")}
        return [(cmd, files | {"overrides.yaml": f"{smoke_run}/.hydra/overrides.yaml"})]
    if name == "predict_export":  # relative picture paths, as in the README
        return [
            ([py, str(ROOT / "scripts" / "demo_pictures.py"), "demo/"], {}),
            ([py, "-m", "fashion_resnet.predict", f"ckpt_path={smoke_run}", "images=demo/",
              f"hydra.run.dir={work}/predict"],
             {"predictions.csv": f"{work}/predict/predictions.csv",
              "predictions.json": f"{work}/predict/predictions.json"}),
            ([py, "-m", "fashion_resnet.export", f"ckpt_path={smoke_run}",
              f"hydra.run.dir={work}/export"], {"model.json": f"{work}/export/model.json"}),
        ]  # fmt: skip
    if name == "demo_sweep":
        sweep = f"{work}/demo_sweep"
        files = {f: f"{sweep}/{f}" for f in ("report.md", "report.csv", "report.png")}
        for job in range(3):
            files |= {f"jobs/{job}/{f}": f"{sweep}/{job}/{f}" for f in ("metrics.json", "run.json")}
        return [(["env", f"PY={py}", f"SWEEP={sweep}", str(ROOT / "scripts" / "demo_sweep.sh")],
                 files)]  # fmt: skip
    if name == "bench_cpu":
        # One torch thread per process: on a 2-core machine that other jobs load, two threads
        # wait on each other and a step takes several times longer (docs/RESULTS.md).
        out = f"{work}/bench.json"
        cmd = [py, str(ROOT / "scripts" / "bench.py"), "--cores", "1", "--out", out]
        return [(cmd, {"bench.json": out})]
    if name == "gpu_check_dry_run":
        deps, out, raw = (
            str(ROOT / "scripts" / "gpu_deps.py"),
            f"{work}/gpu_check",
            f"{work}/gpu_data",
        )
        link = (
            f"mkdir -p {raw}/FashionMNIST/raw && ln -sf {SYSTEM_DATA}/*.gz {raw}/FashionMNIST/raw/"
        )
        check = ["env", "-u", "PYTHONPATH", f"PYTHON={work}/gpu-env/bin/python",
                 f"WHEELS={work}/whl", f"DATA_DIR={raw}", f"RUNS={work}/gpu_check_runs",
                 "OMP_NUM_THREADS=1", "bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run",
                 out]  # fmt: skip
        return [
            ([py, deps, "--download", f"{work}/whl"], {}),
            ([py, deps, "--env", f"{work}/gpu-env", "--image-only"], {}),
            (["sh", "-c", link], {}),
            (check, {f: f"{out}/{f}" for f in ("summary.txt", "results.json", "env.txt")}),
        ]
    raise SystemExit(f"unknown record {name!r}; choose from: {', '.join(NAMES)}")


def hardware() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "GPU present" if list(Path("/dev").glob("nvidia[0-9]*")) else "no GPU"
    return f"{os.cpu_count()}-core {cpu} ({platform.machine()}, {platform.system()}), {gpu}"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout


class LoadSampler:
    """The 1-minute load average every 5 s while a record runs: other work on the machine
    slows every timing in it, so the record says how busy the machine was."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(round(os.getloadavg()[0], 2))
            if self._stop.wait(5):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        s = self.samples or [0.0]
        return {"min": min(s), "mean": round(sum(s) / len(s), 2), "max": max(s)}


def record(
    name: str, work: Path, py: str, note: str | None = None, results: Path = RESULTS,
    tiny: list[str] = (),
) -> None:
    steps = plan(name, work, py, tiny)
    staged = work / "staged" / name
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    commands = []
    started = datetime.now(timezone.utc)
    # The code that runs: read before, since the checkout may change while it runs.
    commit = git("rev-parse", "HEAD").strip() or None
    # docs/results/ aside: the records of this same call, written one after another
    modified = bool(git("status", "--porcelain", "-uno", "--", ".", ":!docs/results").strip())
    with LoadSampler() as load:
        for cmd, files in steps:
            t0 = time.perf_counter()
            out = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            wall = round(time.perf_counter() - t0, 1)
            log = staged / f"{len(commands)}.stdout.txt"
            log.write_text(out.stdout.replace(str(work), "<scratch>"))
            if out.returncode != 0:
                raise SystemExit(f"{name}: {' '.join(cmd)} failed ({out.returncode}):\n"
                                 f"{out.stderr[-3000:]}")  # fmt: skip
            for dest, src in files.items():
                (staged / dest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, staged / dest)
                if (staged / dest).suffix in TEXT:  # no machine-specific paths in the record
                    text = (staged / dest).read_text().replace(str(work), "<scratch>")
                    (staged / dest).write_text(text)
            commands.append({"command": " ".join(cmd).replace(str(work), "<scratch>"),
                             "wall_s": wall, "stdout": log.name})  # fmt: skip
            print(f"{name}: {wall} s  {commands[-1]['command']}", file=sys.stderr, flush=True)
    meta = {
        "name": name,
        "date": started.isoformat(timespec="seconds"),
        "commit": commit,
        "tracked_files_modified": modified,
        "hardware": hardware(),
        "python": platform.python_version(),
        "load_1min": load.summary(),
        **({"note": note} if note else {}),
        "commands": commands,
        "files": sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()),
    }
    (staged / "record.json").write_text(json.dumps(meta, indent=2) + "\n")
    dest = results / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(staged, dest)
    print(f"wrote {dest}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("names", nargs="*", default=list(DEFAULT), help=f"any of {', '.join(NAMES)}")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--note", help="a sentence for each record.json, e.g. what else loaded the "
                                  "machine while it ran")  # fmt: skip
    p.add_argument(
        "--tiny",
        metavar="DATA_DIR",
        help=f"run {', '.join(LONG)} at a tiny size on DATA_DIR (needs --results)",
    )
    p.add_argument("--no-verify", action="store_true", help="--tiny on generated data: no MD5")
    p.add_argument("--results", type=Path, default=RESULTS, help="where records go (docs/results)")
    p.add_argument("--work", type=Path, help="scratch folder (default logs/records/<stamp>)")
    args = p.parse_args(argv)
    bad = [n for n in args.names if n not in NAMES]
    if bad:
        p.error(f"unknown record(s) {bad}; choose from: {', '.join(NAMES)}")
    if "predict_export" in args.names and "smoke" not in args.names:
        p.error("predict_export uses the smoke run's checkpoint: record smoke in the same call")
    if args.tiny and (args.results == RESULTS or set(args.names) - set(LONG)):
        p.error(f"--tiny figures mean nothing: give --results DIR, and only {', '.join(LONG)}")
    names = [n for n in NAMES if n in args.names]  # smoke before predict_export
    work = args.work or ROOT / "logs" / "records" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for name in names:
        tiny = tiny_overrides(name, args.tiny, not args.no_verify) if args.tiny else []
        if args.dry_run:
            for cmd, files in plan(name, work, sys.executable, tiny):
                print(f"[{name}] (cd {work} && {' '.join(cmd)})")
                for dest in files:
                    print(f"[{name}]   -> {args.results / name / dest}")
            continue
        work.mkdir(parents=True, exist_ok=True)
        if (ROOT / "data").is_dir() and not (work / "data").exists():
            (work / "data").symlink_to(ROOT / "data")  # commands run in `work` look in data/
        record(name, work, sys.executable, args.note, args.results, tiny)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
