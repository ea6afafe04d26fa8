"""Optional features and the extra that installs each (pyproject's optional-dependencies). An
option that needs a missing extra ends, before any work, in one line that names the extra:
`logger=mlflow needs the 'mlflow' extra: pip install 'fashion_resnet[mlflow]'`, exit status 2."""

from __future__ import annotations

import importlib.util

from fashion_resnet.errors import UserError

# A `_target_` that imports an extra when it is instantiated -> (module, extra).
TARGETS = {
    "pytorch_lightning.loggers.MLFlowLogger": ("mlflow", "mlflow"),
    "pytorch_lightning.loggers.WandbLogger": ("wandb", "wandb"),
}
# Configs that a Hydra plugin registers (Hydra cannot find them without it) -> (plugin module,
# extra, what the user picked).
OPTUNA, SUBMITIT = "hydra_plugins.hydra_optuna_sweeper", "hydra_plugins.hydra_submitit_launcher"
PLUGIN_CONFIGS = {
    "hydra/sweeper/optuna": (OPTUNA, "optuna", "hparams_search=optuna"),
    "hydra/launcher/submitit_slurm": (SUBMITIT, "slurm", "hydra/launcher=slurm"),
    "hydra/launcher/submitit_local": (SUBMITIT, "slurm", "hydra/launcher=submitit_local"),
}


class MissingExtra(UserError):
    """An option whose extra is not installed."""


def message(what: str, extra: str) -> str:
    return f"{what} needs the {extra!r} extra: pip install 'fashion_resnet[{extra}]'"


def installed(module: str) -> bool:
    """`module` can be imported (it is not imported here)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # its parent package is missing, or a stub in sys.modules
        return False


def require(module: str, extra: str, what: str) -> None:
    """MissingExtra naming `extra` unless `module` is installed; `what` is the option."""
    if not installed(module):
        raise MissingExtra(message(what, extra))


def require_target(target: str, what: str) -> None:
    """require() for a `_target_` that needs an extra; other targets pass."""
    if target in TARGETS:
        require(*TARGETS[target], what)


def for_missing_config(text: str) -> str | None:
    """The message for Hydra's "Could not find '<config>'" when that config is a missing
    plugin's; None otherwise (a typo keeps Hydra's own message with the options)."""
    for name, (module, extra, what) in PLUGIN_CONFIGS.items():
        if f"'{name}'" in text and not installed(module):
            return message(what, extra)
    return None
