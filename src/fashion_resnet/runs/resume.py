"""Resuming a stopped run in its own folder.

`fashion-train ckpt_path=<run folder>` (or `ckpt_path=last`: the newest run with a last.ckpt)
is rewritten, before Hydra composes, into the run's original overrides plus the new ones,
`hydra.run.dir=<run folder>` and `ckpt_path=<run folder>/checkpoints/last.ckpt`: the same
config, the same folder, the same TensorBoard run. A checkpoint *file* resumes in a new folder.
`fashion-train -m ckpt_path=<sweep folder>` re-runs a sweep in its folder (sweep_resume.py).
"""

from __future__ import annotations

from pathlib import Path

from hydra.errors import OverrideParseException
from omegaconf import DictConfig, OmegaConf

from fashion_resnet.config.hydra_job import override_text, parse_overrides
from fashion_resnet.data.facts import DataFacts
from fashion_resnet.errors import UserError
from fashion_resnet.models import backbones
from fashion_resnet.runs import checkpoints, sweep_resume
from fashion_resnet.runs.folders import LAST, newest_run, runs_dir


def rewrite_args(args: list[str]) -> list[str]:
    """Command-line arguments (sys.argv[1:]) with a run-folder resume expanded; others as given."""
    try:
        parsed = parse_overrides(args)  # once: every look-up below reads these
    except OverrideParseException:
        return args  # not overrides: Hydra reports it
    given = {o.key_or_group: override_text(o) for o in parsed if not o.is_delete()}
    value, run_dir = given.get("ckpt_path"), given.get("hydra.run.dir")
    if value is None or value == "null":
        return args
    if Path(value).is_dir() and (Path(value) / sweep_resume.SAVED).is_file():
        return sweep_resume.rewrite_args(args, Path(value))  # a sweep folder: re-run the sweep
    multirun = any(a in ("-m", "--multirun") for a in args)
    folder = runs_dir(given.get("paths.log_dir"), given.get("paths.root_dir"))
    if value == "last":
        run = Path(run_dir) if run_dir else newest_run(folder)
    elif Path(value).is_dir():
        run = Path(value)
    else:
        return args  # a checkpoint file (or a missing path: validate reports it)
    if multirun:
        raise UserError(
            "resume one run at a time (drop -m/--multirun), or a whole sweep: "
            "fashion-train -m ckpt_path=<sweep folder>"
        )
    if not (run / LAST).is_file():
        raise UserError(
            f"cannot resume {run}: {run / LAST} does not exist (is it a run folder? runs are "
            f"under {folder})"
        )
    saved = run / ".hydra" / "overrides.yaml"
    old = [str(o) for o in OmegaConf.load(saved)] if saved.is_file() else []
    new_keys = {o.key_or_group for o in parsed}
    kept = [o.input_line for o in parse_overrides(old)
            if o.key_or_group not in new_keys | {"ckpt_path"}]  # fmt: skip
    replaced = {o.input_line for o in parsed if o.key_or_group in ("ckpt_path", "hydra.run.dir")}
    args = [a for a in args if a not in replaced]
    return [*kept, *args, f"ckpt_path='{run / LAST}'", f"hydra.run.dir='{run}'"]


def checkpoint_for(cfg: DictConfig, output_dir: Path, facts: DataFacts) -> Path | None:
    """The checkpoint to resume from, checked before any data is read or model built: it must
    load weights_only and hold the architecture this config asks for, on data of the same
    classes and channels (`facts`: the DataModule's)."""
    value = cfg.get("ckpt_path")
    if not value:
        return None
    path = output_dir / LAST if value == "last" else Path(value)
    ckpt = checkpoints.read(path)  # a missing file: a CheckpointError naming it
    trained = checkpoints.upgrade(ckpt["hyper_parameters"], checkpoints.data_hparams(ckpt))
    wanted = OmegaConf.to_container(cfg.model.net, resolve=True)
    trained_net, wanted_net = backbones.spec(trained["net"]), backbones.spec(wanted)
    resume_with = "Resume with the run's own config: fashion-train ckpt_path=<its run folder>"
    diff = [
        f"model.net.{k}: checkpoint {trained_net.get(k)!r}, config {wanted_net.get(k)!r}"
        for k in sorted(set(trained_net) | set(wanted_net))
        if trained_net.get(k) != wanted_net.get(k)
    ]
    if diff:
        raise checkpoints.CheckpointError(
            f"{path} was trained with another architecture ({'; '.join(diff)}). {resume_with}"
        )
    data = {"classes": list(facts.classes), "channels": facts.channels}
    diff = [f"{k}: checkpoint {trained['data'].get(k)!r}, data {v!r}"
            for k, v in data.items() if trained["data"].get(k) != v]  # fmt: skip
    if diff:
        raise checkpoints.CheckpointError(
            f"{path} was trained on other data ({'; '.join(diff)}). {resume_with}"
        )
    return path
