"""The composed config as a tree (rich): printed when a run starts and saved in its folder, so
that what a run used is on screen and beside its results (.hydra/config.yaml has it unresolved)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

# Groups shown first, in the order a reader checks them; the rest follow as composed.
FIRST = ("data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths")


def tree(cfg: DictConfig, first: Sequence[str] = FIRST) -> Tree:
    """One branch per top-level key (Hydra's own config left out), values resolved."""
    root = Tree("CONFIG", style="bold", guide_style="dim")
    keys = [k for k in first if k in cfg] + [k for k in cfg if k not in first and k != "hydra"]
    for key in keys:
        node = cfg[key]
        if isinstance(node, DictConfig | ListConfig):
            text = OmegaConf.to_yaml(node, resolve=True)
        else:
            text = str(node)
        root.add(str(key), style="bold").add(Syntax(text, "yaml"))
    return root


@rank_zero_only
def show(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the tree; write it as plain text to `save_to` too."""
    config_tree = tree(cfg)
    Console().print(config_tree)
    if save_to is not None:
        with save_to.open("w") as f:
            Console(file=f, width=100, no_color=True, color_system=None).print(config_tree)
