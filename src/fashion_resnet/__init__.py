"""ResNet-18 (and family) on FashionMNIST with PyTorch Lightning and Hydra."""

from pathlib import Path

# The configs live beside the package in the repository (conf/). An absolute path: Hydra reads
# a relative config_path as a Python package when the entry point is a console script.
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
