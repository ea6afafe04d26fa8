"""What a run leaves in its folder, and the composition helpers both entry points share."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig


def output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def overrides() -> list[str]:
    """The command-line overrides of this job (for a multirun job: its own sweep values)."""
    return list(HydraConfig.get().overrides.task)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write next to `path`, then rename over it: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate each entry of a dict group (callbacks, loggers); null entries are skipped."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None]


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}
