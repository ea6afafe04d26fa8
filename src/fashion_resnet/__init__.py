"""ResNet-18 (and family) on FashionMNIST with PyTorch Lightning and Hydra."""

from pathlib import Path

# The configs ship inside the package (wheels carry them: pyproject's package-data), so an
# editable install, a wheel and any working directory find the same folder. An absolute path:
# Hydra reads a relative config_path as a Python package when the entry point is a console script.
CONF_DIR = str(Path(__file__).resolve().parent / "conf")
