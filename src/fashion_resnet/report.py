"""One table and two figures for a sweep, or for several run folders, finished or not.

fashion-report logs/train/multiruns/<stamp>          # writes report.csv/.md/.png into it
fashion-report logs/train/runs/A logs/train/runs/B --out comparison/
fashion-report <sweep> --curves train/loss,1-train/acc,val/acc    # curves.png's panels

A job is a folder with Hydra's `.hydra/overrides.yaml`; its results are train.py's
`metrics.json` and the per-epoch values of its TensorBoard (or CSV) log (runs/history.py).
A job without metrics.json (failed, or still running) gets a row that says so, with the epochs
logged so far. curves.png draws chosen metrics per epoch, one panel each, one line per job
named by what differs between the jobs; curves.csv holds the numbers it draws.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from fashion_resnet.cli import exits
from fashion_resnet.config.hydra_job import override_values, swept_keys
from fashion_resnet.errors import UserError
from fashion_resnet.runs import history, report_plot
from fashion_resnet.runs.folders import check_creatable
from fashion_resnet.runs.history import Curve

METRICS = {"val/acc_best": "best val acc", "test/acc": "test acc", "epochs": "epochs",
           "elapsed_s": "wall time (s)"}  # fmt: skip
VAL_CURVE = "val/acc"  # report.png's per-epoch panel
CURVES = ("train/loss", "train/acc", "val/acc")  # curves.png's panels: the notebook's columns


@dataclass
class Job:
    name: str
    overrides: dict[str, str]  # key -> value, as given on the command line
    metrics: dict | None  # metrics.json; None: failed or still running
    history: dict[str, Curve] = field(default_factory=dict)  # metric -> (epoch from 1, value)
    tags: list[str] = field(default_factory=list)  # the run's `tags`

    @property
    def curve(self) -> Curve:
        """val/acc per epoch: how far a job got."""
        return self.history.get(VAL_CURVE, [])

    @property
    def status(self) -> str:
        return "ok" if self.metrics else f"no result ({len(self.curve)} epochs logged)"

    def get(self, metric: str) -> float | None:
        return (self.metrics or {}).get(metric)


def find_job_folders(folders: list[Path]) -> list[Path]:
    """Each folder is a run, or a sweep whose numbered subfolders are runs."""
    found = []
    for folder in folders:
        if (folder / ".hydra").is_dir():
            found.append(folder)
            continue
        subs = [p for p in folder.iterdir() if (p / ".hydra").is_dir()] if folder.is_dir() else []
        found += sorted(subs, key=job_order)
    if not found:
        raise UserError(f"No run folders (with .hydra/) in: {', '.join(map(str, folders))}")
    return found


def job_order(folder: Path) -> tuple:
    """Numbered job folders by number (2 before 10), then anything else by name."""
    return (0, int(folder.name), "") if folder.name.isdigit() else (1, 0, folder.name)


def read_job(folder: Path, name: str, curves: Iterable[str] = ()) -> Job:
    """A job folder's overrides, metrics.json, tags, and the per-epoch values of val/acc and of
    the metrics `curves` names."""
    lines = OmegaConf.to_container(OmegaConf.load(folder / ".hydra" / "overrides.yaml"))
    overrides = override_values(lines)
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    config = folder / ".hydra" / "config.yaml"
    tags = OmegaConf.load(config).get("tags") if config.is_file() else None
    logged = history.epoch_values(folder, [VAL_CURVE, *curves])
    return Job(name, overrides, metrics, logged, list(tags or []))


def varying_keys(jobs: list[Job], swept: set[str] = frozenset()) -> list[str]:
    """Keys whose value differs between jobs, or that the sweep varies (before all jobs ran)."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    return [k for k in keys if k in swept or len({j.overrides.get(k) for j in jobs}) > 1]


def sweep_keys(folders: list[Path]) -> set[str]:
    """Keys a sweep varies, from the multirun.yaml the sweeper saves in its folder."""
    keys = set()
    for saved in (f / "multirun.yaml" for f in folders):
        hydra = OmegaConf.load(saved).get("hydra") if saved.is_file() else None
        if hydra:
            keys |= swept_keys(hydra.overrides.task, hydra.sweeper.get("params"))
    return keys


def write_csv(jobs: list[Job], path: Path) -> None:
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job", "status", "tags", *keys, *METRICS])
        for j in jobs:
            w.writerow([j.name, j.status, " ".join(j.tags), *(j.overrides.get(k, "") for k in keys),
                        *(fmt(j.get(m)) for m in METRICS)])  # fmt: skip


def write_curves_csv(jobs: list[Job], keys: list[str], curves: list[str], path: Path) -> None:
    """The numbers curves.png draws: one row per job and epoch, one column per curve."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job", *keys, "epoch", *curves])
        for j in jobs:
            by_curve = [dict(report_plot.series(j, c)) for c in curves]
            for epoch in sorted(set().union(*by_curve)):
                w.writerow([j.name, *(j.overrides.get(k, "") for k in keys), epoch,
                            *(c.get(epoch, "") for c in by_curve)])  # fmt: skip


# Keys whose values repeat one configuration (seeds, cross-validation folds): jobs that differ
# only in these are one configuration, reported as mean ± std.
REPEAT_KEYS = {"seed": "seeds", "data.fold": "folds"}


def repeat_groups(jobs: list[Job], keys: list[str]) -> dict[str, list[Job]]:
    """Jobs that differ only in REPEAT_KEYS, keyed by their other swept values."""
    others = [k for k in keys if k not in REPEAT_KEYS]
    groups: dict[str, list[Job]] = {}
    for j in jobs:
        if j.metrics:
            label = " ".join(f"{k}={j.overrides.get(k, '')}" for k in others) or "(all)"
            groups.setdefault(label, []).append(j)
    return groups


def markdown(jobs: list[Job], folders: list[Path], keys: list[str]) -> str:
    done = [j for j in jobs if j.metrics]
    out = [f"# Report: {', '.join(map(str, folders))}", "",
           f"{len(jobs)} jobs, {len(done)} with results."]  # fmt: skip
    missing = [f"{j.name} ({j.status})" for j in jobs if not j.metrics]
    if missing:
        out.append(f"No metrics.json (failed or still running): {', '.join(missing)}.")
    common = {k: v for k, v in jobs[0].overrides.items() if k not in keys}
    if common:
        out.append("Same in every job: " + " ".join(f"`{k}={v}`" for k, v in common.items()))
    tagged = any(j.tags for j in jobs)  # a tags column only when some run has tags
    out += ["", table(["job", *(["tags"] * tagged), *keys, *METRICS.values()],
                      [[j.name, *([" ".join(j.tags)] * tagged),
                        *(fmt(j.overrides.get(k, "")) for k in keys),
                        *(fmt(j.get(m)) for m in METRICS)] for j in jobs])]  # fmt: skip
    repeated = [name for k, name in REPEAT_KEYS.items() if k in keys]
    if repeated:
        pair = ("val/acc_best", "test/acc")
        rows = [[label, len(g), *(mean_std([j.get(m) for j in g]) for m in pair)]
                for label, g in repeat_groups(jobs, keys).items()]  # fmt: skip
        out += ["", f"Across {' and '.join(repeated)} (mean ± sample std):", "",
                table(["config", "runs", "best val acc", "test acc"], rows)]  # fmt: skip
    for folder in folders:
        results = folder / "optimization_results.yaml"
        if results.is_file():
            best = OmegaConf.load(results)
            out += ["", f"Optuna best value {best.best_value:.4f} with {dict(best.best_params)}"]
    return "\n".join(out) + "\n"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def fmt(x) -> str:
    """4 significant digits for numbers (also numeric override values), the rest as is."""
    if x is None:
        return ""
    try:
        return f"{float(x):.4g}" if not isinstance(x, bool) else str(x)
    except ValueError:
        return str(x)


def mean_std(xs: list[float | None]) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return ""
    std = f" ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else ""
    return f"{statistics.fmean(xs):.4f}{std}"


def check_metric(metric: str | None, jobs: list[Job]) -> None:
    """A --metric no finished job logged would plot nothing: name the ones they have."""
    logged = sorted({k for j in jobs for k in (j.metrics or {}) if "/" in k})
    if metric and logged and metric not in logged:
        raise UserError(f"--metric {metric!r} is not in any job's metrics; choose one of: "
                        f"{', '.join(logged)}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    with exits.reported("fashion-report"):
        return report(argv)


def report(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fashion-report", description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="a sweep folder, or run folders")
    parser.add_argument("--out", type=Path, help="where to write (default: the one folder given)")
    parser.add_argument("--metric", help="y axis against swept values (default: test/acc)")
    parser.add_argument(
        "--curves",
        type=metric_names,
        default=list(CURVES),
        help="per-epoch metrics for curves.png, one panel each; 1-NAME draws one "
        f"minus NAME (1-train/acc: training error) (default: {','.join(CURVES)})",
    )
    args = parser.parse_args(argv)
    if args.out is None and len(args.folders) > 1:
        parser.error("several folders given: say where the report goes with --out")
    out = args.out or args.folders[0]
    check_creatable(out, "--out <folder>")
    paths = find_job_folders(args.folders)
    names = [p.name if len(args.folders) == 1 else f"{p.parent.name}/{p.name}" for p in paths]
    logged = [report_plot.logged_metric(c) for c in args.curves]
    jobs = [read_job(p, n, logged) for p, n in zip(paths, names, strict=True)]
    check_metric(args.metric, jobs)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(jobs, out / "report.csv")
    keys = varying_keys(jobs, sweep_keys(args.folders))
    text = markdown(jobs, args.folders, keys)
    (out / "report.md").write_text(text)
    report_plot.plot(jobs, keys, out / "report.png", args.metric)
    write_curves_csv(jobs, keys, args.curves, out / "curves.csv")
    report_plot.curves(jobs, keys, args.curves, out / "curves.png")
    wrote = ", ".join(str(out / f) for f in ("report.csv", "report.md", "report.png",
                                              "curves.csv", "curves.png"))  # fmt: skip
    print(text + f"\nWrote {wrote}")
    return 0


def metric_names(text: str) -> list[str]:
    """`train/loss,val/acc` -> its metric names; none at all is a usage error."""
    found = [n.strip() for n in text.split(",") if n.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"no metric names in {text!r} (e.g. {','.join(CURVES)})")
    return found


if __name__ == "__main__":
    raise SystemExit(main())
