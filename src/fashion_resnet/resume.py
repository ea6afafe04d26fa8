"""Resuming a stopped run in its own folder.

`fashion-train ckpt_path=<run folder>` (or `ckpt_path=last`: the newest run with a last.ckpt)
is rewritten, before Hydra composes, into the run's original overrides plus the new ones,
`hydra.run.dir=<run folder>` and `ckpt_path=<run folder>/checkpoints/last.ckpt`: the same
config, the same folder, the same TensorBoard run. A checkpoint *file* resumes in a new folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fashion_resnet import checkpoints

LAST = Path("checkpoints") / "last.ckpt"


def _key(arg: str) -> str:
    """`+data.verify=false` -> `data.verify`; `~scheduler` -> `scheduler`."""
    return arg.lstrip("+~").split("=", 1)[0]


def _value(args: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in args if "=" in a and _key(a) == key]
    return values[-1].strip("'\"") if values else None


def runs_dir(args: list[str]) -> Path:
    """Where `fashion-train` puts runs (mirrors conf/paths and conf/hydra: logs/train/runs)."""
    log_dir = _value(args, "paths.log_dir")
    if log_dir is None:
        root = _value(args, "paths.root_dir") or os.environ.get("FASHION_RESNET_ROOT", ".")
        log_dir = f"{root}/logs"
    return Path(log_dir) / "train" / "runs"


def newest_run(folder: Path) -> Path:
    runs = sorted(p.parent.parent for p in folder.glob(f"*/{LAST}"))
    if not runs:
        raise SystemExit(f"ckpt_path=last: no run with {LAST} under {folder}")
    return runs[-1]  # folder names start with the date and time: the last sorts newest


def rewrite_args(args: list[str]) -> list[str]:
    """Command-line arguments (sys.argv[1:]) with a run-folder resume expanded; others as given."""
    value = _value(args, "ckpt_path")
    if value is None or value == "null":
        return args
    run_dir = _value(args, "hydra.run.dir")
    if value == "last":
        run = Path(run_dir) if run_dir else newest_run(runs_dir(args))
    elif Path(value).is_dir():
        run = Path(value)
    else:
        return args  # a checkpoint file (or a missing path: check_config reports it)
    if any(a in ("-m", "--multirun") for a in args):
        raise SystemExit("resume one run at a time: drop -m/--multirun")
    if not (run / LAST).is_file():
        raise SystemExit(
            f"cannot resume {run}: {run / LAST} does not exist (is it a run folder? runs are "
            f"under {runs_dir(args)})"
        )
    saved = run / ".hydra" / "overrides.yaml"
    old = [str(o) for o in OmegaConf.load(saved)] if saved.is_file() else []
    new_keys = {_key(a) for a in args if not a.startswith("-")}
    kept = [o for o in old if _key(o) not in new_keys | {"ckpt_path"}]
    given = [a for a in args if _key(a) not in ("ckpt_path", "hydra.run.dir")]
    return [*kept, *given, f"ckpt_path='{run / LAST}'", f"hydra.run.dir='{run}'"]


def checkpoint_for(cfg: DictConfig, output_dir: Path) -> Path | None:
    """The checkpoint to resume from, checked before any data or model is built: it must load
    weights_only and hold the architecture this config asks for."""
    value = cfg.get("ckpt_path")
    if not value:
        return None
    path = output_dir / LAST if value == "last" else Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={str(path)!r} does not exist")
    ckpt = checkpoints.read(path)
    trained: dict[str, Any] = ckpt["hyper_parameters"].get("net", {})
    wanted = OmegaConf.to_container(cfg.model.net, resolve=True)
    diff = [
        f"model.net.{k}: checkpoint {trained.get(k)!r}, config {wanted.get(k)!r}"
        for k in sorted(set(trained) | set(wanted))
        if trained.get(k) != wanted.get(k)
    ]
    if diff:
        raise checkpoints.CheckpointError(
            f"{path} was trained with another architecture ({'; '.join(diff)}). Resume with the "
            "run's own config: fashion-train ckpt_path=<its run folder>"
        )
    return path
