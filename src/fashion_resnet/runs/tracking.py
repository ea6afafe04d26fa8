"""Experiment trackers beside TensorBoard (conf/logger/: mlflow, wandb, many): what Lightning's
loggers do not do on their own. At start: the run's parameters (the flattened resolved config
that TensorBoard's HPARAMS tab shows) and its tags; at the end: the best checkpoint and
metrics.json as artifacts, and the W&B run closed (a multirun's next job must start its own).

Lightning logs the metrics (the contract names) to every logger itself. TensorBoard gets its
parameters from callbacks.HParamsSummary, which writes the HPARAMS summary without the
placeholder metric values that `log_hyperparams(params, metrics)` would also log as scalars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only


@rank_zero_only
def start(loggers: Iterable[Logger], params: dict[str, Any], tags: Sequence[str] = ()) -> None:
    """Log `params` to every logger but TensorBoard, and `tags` where a logger has tags."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            _finish_stale_wandb_run()
        if isinstance(logger, TensorBoardLogger):
            continue
        logger.log_hyperparams(params)
        if not tags:
            continue
        if isinstance(logger, MLFlowLogger):  # MLflow tags are key/value: one key per tag
            for tag in tags:
                logger.experiment.set_tag(logger.run_id, f"tag.{tag}", "true")
        elif isinstance(logger, WandbLogger):
            logger.experiment.tags = tuple(tags)


@rank_zero_only
def finish(loggers: Iterable[Logger], files: Iterable[str | Path | None]) -> None:
    """Upload `files` (None and missing ones skipped) as artifacts of the run; close W&B."""
    paths = [Path(f) for f in files if f and Path(f).is_file()]
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            for path in paths:
                logger.experiment.log_artifact(logger.run_id, str(path))
        elif isinstance(logger, WandbLogger):
            import wandb

            run = logger.experiment
            if paths:
                artifact = wandb.Artifact(f"run-{run.id}", type="run-files")
                for path in paths:
                    artifact.add_file(str(path))
                run.log_artifact(artifact)
            run.finish()


def _finish_stale_wandb_run() -> None:
    """WandbLogger reuses a run still open in this process (a failed job before this one in a
    multirun): close it so that this job gets its own."""
    import wandb

    if wandb.run is not None:
        wandb.run.finish()
