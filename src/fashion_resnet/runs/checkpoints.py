"""Loading and validating checkpoints: torch's `weights_only=True` unpickler, and errors that say
what is wrong with the file rather than a stack trace from deep inside torch."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningDataModule

from fashion_resnet.data.fashion_mnist import FashionMNISTDataModule
from fashion_resnet.data.image_datamodule import ImageDataModule
from fashion_resnet.errors import ConfigError, UserError
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


def upgrade(hparams: dict[str, Any], data_hparams: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's model hyperparameters in today's layout. Checkpoints from before the data's
    facts were stored hold the class count and channels inside `net` and no `data`: all of them
    were trained on FashionMNIST, so its facts (and the run's image size) fill the gap."""
    hparams, net = dict(hparams), dict(hparams.get("net") or {})
    for key in ("num_classes", "in_channels"):
        if key in net:
            hparams.setdefault(key, net.pop(key))
    hparams["net"] = net
    if hparams.get("data") is None:
        hparams["data"] = FashionMNISTDataModule(**data_hparams).checkpoint_facts()
    return hparams


def data_hparams(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The DataModule's arguments the checkpoint was trained with ({} when it holds none)."""
    return dict(ckpt.get(LightningDataModule.CHECKPOINT_HYPER_PARAMS_KEY) or {})


def load_model(path: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the Classifier from the checkpoint's own hyperparameters and load its weights.
    Returns the model (eval mode, CPU; `model.hparams.data`: the data's facts) and the
    datamodule hyperparameters it was trained with."""
    ckpt = read(path)
    hparams = upgrade(ckpt["hyper_parameters"], data_hparams(ckpt))
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
    return model.eval(), data_hparams(ckpt)


def datamodule_class(data: dict[str, Any]) -> type[ImageDataModule]:
    """The DataModule class a checkpoint's model was trained on (its stored facts name it)."""
    module, _, name = data["datamodule"].rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"the checkpoint was trained on {data['datamodule']}, which cannot be "
                        f"imported here ({e})") from e  # fmt: skip


def datamodule_for(
    data: dict[str, Any], data_hparams: dict[str, Any], overrides: dict[str, Any],
    where_only: tuple[str, ...] = ("data_dir",),
) -> ImageDataModule:  # fmt: skip
    """The DataModule a checkpoint was trained on, rebuilt with its own arguments (image size,
    normalisation and its statistics as trained) and `overrides` on top (where the files are,
    how to batch them). Keys in `where_only` apply to the DataModules that take them."""
    cls = datamodule_class(data)
    takes = accepted_arguments(cls)
    unknown = sorted(k for k in overrides if k not in takes and k not in where_only)
    if unknown:
        raise ConfigError(f"data.{unknown[0]}: {cls.__name__} takes no such argument; it "
                          f"takes {', '.join(sorted(takes))}")  # fmt: skip
    stats = {"mean": data["mean"], "std": data["std"]} if data.get("mean") else {}
    args = {**data_hparams, **stats, **{k: v for k, v in overrides.items() if k in takes}}
    datamodule = cls(**args)
    if list(datamodule.facts.classes) != list(data["classes"]):
        raise ConfigError(f"the data's classes {list(datamodule.facts.classes)} are not the "
                          f"{list(data['classes'])} the checkpoint was trained on")  # fmt: skip
    return datamodule


def accepted_arguments(cls: type) -> set[str]:
    """The keyword arguments a class takes, following **kwargs up to its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def cause(e: BaseException) -> str:
    """An exception's type and the first line of its message (some have none)."""
    line = next((x.strip() for x in str(e).splitlines() if x.strip()), "")
    return f"{type(e).__name__}: {line}" if line else type(e).__name__
