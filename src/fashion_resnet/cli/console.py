"""A quiet, informative console: silence what a user cannot act on (narrowly: one message from
one module each), say where a run's results are, and warn before hours of CPU training."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

from omegaconf import DictConfig

# Lightning's own info lines that say nothing about this run (logger: its rank_zero module).
LIGHTNING_LOGGER = "pytorch_lightning.utilities.rank_zero"
QUIET_LIGHTNING = (
    "💡 Tip: For seamless cloud logging",  # an advertisement for a hosted service
    "Trainer already configured with model summary callbacks",  # ours, configured on purpose
)
# The ONNX exporter's optimiser reports each pass at INFO (Hydra logs INFO): warnings only.
QUIET_LOGGERS = ("onnxscript", "onnx_ir")
# (message regex, category, module regex) of warnings raised inside libraries, not by our use.
QUIET_WARNINGS = [
    # Lightning 2.6's pytree helper on torch 2.14; nothing to change on our side.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning,
     r"pytorch_lightning\.utilities\._pytree"),
    # Every bf16 run (the GPU's and a bf16 CPU's default): the summary counts fp32 weights.
    (r"Precision bf16-mixed is not supported by the model summary", UserWarning,
     r"pytorch_lightning\.utilities\.model_summary"),
]  # fmt: skip

# The reference recipe as `make train` runs it on a 2-core CPU (bf16-mixed there; README "Quick
# start", record docs/results/reference_10_epochs: 124.1 training images/s, the median of its 10
# epochs): a step of 256 images at 96 px took 2.06 s.
CPU_STEP_S, CPU_STEP_IMAGES, CPU_STEP_PX = 2.06, 256, 96
SMOKE = 'make train ARGS="experiment=smoke" (or fashion-train experiment=smoke)'


class _DropMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_LIGHTNING)


def quiet() -> None:
    """Install the filters: process state, so each entry point calls it once at its start."""
    logger = logging.getLogger(LIGHTNING_LOGGER)
    if not any(isinstance(f, _DropMessages) for f in logger.filters):
        logger.addFilter(_DropMessages())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message, category, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def quiet_resume() -> None:
    """A run resumed in its own folder: ModelCheckpoint's note that checkpoints/ is not empty is
    the point of resuming there, not news."""
    warnings.filterwarnings(
        "ignore", message=r"Checkpoint directory .* exists and is not empty",
        module=r"pytorch_lightning\.callbacks\.model_checkpoint",
    )  # fmt: skip


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def results(run_dir: Path, tensorboard: bool) -> str:
    """Where a finished run's results are: the last lines it prints."""
    lines = [f"Run folder:  {run_dir}", f"Metrics:     {run_dir / 'metrics.json'}"]
    if tensorboard:
        lines.append(f"TensorBoard: tensorboard --logdir {run_dir}")
    return "\n".join(lines)


def cpu_epoch_estimate(steps: int, batch_size: int, image_size: int) -> str | None:
    """Expected time of one epoch on a CPU from the one measured point, or None when this run
    is not near it (smaller images cost far less per image, and we have no number for them)."""
    if image_size < CPU_STEP_PX:
        return None
    seconds = steps * CPU_STEP_S * batch_size / CPU_STEP_IMAGES
    span = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"  # not "0 min"
    return (
        f"about {span} per epoch of {steps} steps (a step of {CPU_STEP_IMAGES} images "
        f"at {CPU_STEP_PX} px took {CPU_STEP_S} s on a 2-core CPU; larger images or models: more)"
    )


def cpu_notice(cfg: DictConfig, train_images: int) -> str | None:
    """A warning for a training run that will take hours on this machine's CPU, else None."""
    import torch

    trainer = cfg.trainer
    on_cpu = trainer.get("accelerator") == "cpu" or (
        trainer.get("accelerator") in ("auto", None) and not torch.cuda.is_available()
    )
    if not on_cpu or trainer.get("fast_dev_run"):
        return None
    steps = train_images // cfg.data.batch_size
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        steps = min(steps, limit)
    elif isinstance(limit, float):
        steps = int(steps * limit)
    estimate = cpu_epoch_estimate(steps, cfg.data.batch_size, cfg.data.image_size)
    if estimate is None:
        return None
    epochs = trainer.get("max_epochs")
    return (
        f"No GPU: training on the CPU, {estimate}"
        + (f", {epochs} epochs" if epochs else "")
        + f". Going on; Ctrl-C stops with a checkpoint. A run of a few minutes: {SMOKE}"
    )
