"""Loading and validating checkpoints: torch's `weights_only=True` unpickler, and errors that say
what is wrong with the file rather than a stack trace from deep inside torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.errors import UserError
from fashion_resnet.models.classifier import Classifier


class CheckpointError(UserError, RuntimeError):
    pass


def read(path: str | Path) -> dict[str, Any]:
    """The checkpoint as a dict of plain values and tensors (nothing arbitrary is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is an empty file (0 bytes), not a checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"{path} is not a readable checkpoint ({cause(e)})") from e
    if not isinstance(ckpt, dict):  # a saved tensor or list: `in` would not even work on it
        raise CheckpointError(
            f"{path} is not a fashion_resnet checkpoint (it holds a {type(ckpt).__name__})"
        )
    missing = [k for k in ("state_dict", "hyper_parameters") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} is not a fashion_resnet checkpoint (missing {missing})")
    return ckpt


def load_model(path: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the Classifier from the checkpoint's own hyperparameters and load its weights.
    Returns the model (eval mode, CPU) and the datamodule hyperparameters it was trained with."""
    ckpt = read(path)
    hparams = dict(ckpt["hyper_parameters"])
    hparams.pop("compile", None)  # saved by earlier versions: a training choice, not the model's
    try:
        model = Classifier(**hparams)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the model from {hparams}: {e}") from e
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        first = lines[1] if len(lines) > 1 else cause(e)  # after "Error(s) in loading ...:"
        raise CheckpointError(
            f"{path}: weights do not match the architecture {hparams.get('net')}: {first}"
        ) from e
    return model.eval(), dict(ckpt.get(FashionMNISTDataModule.CHECKPOINT_HYPER_PARAMS_KEY, {}))


def cause(e: BaseException) -> str:
    """An exception's type and the first line of its message (some have none)."""
    line = next((x.strip() for x in str(e).splitlines() if x.strip()), "")
    return f"{type(e).__name__}: {line}" if line else type(e).__name__
