"""Checkpoint files written aside and renamed over the old one, a full disk named in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from fashion_resnet.cli import exits
from fashion_resnet.errors import UserError
from fashion_resnet.runs.atomic import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a hidden file beside the target, fsync, then rename over it: a kill or a
    full disk mid-write leaves the previous checkpoint in place. (Lightning's own save writes to
    the system temp folder and moves the file: a copy, not a rename, when that is another disk.)"""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path):  # remote storage: fsspec's transaction is the best on offer
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        try:
            atomic_write(path, lambda f: torch.save(checkpoint, f), mode="wb")
        except (OSError, RuntimeError) as e:
            if not exits.disk_full(e):
                raise
            raise DiskFullError(disk_full_message(path)) from e


class DiskFullError(UserError, OSError):
    pass


def disk_full_message(path: Path) -> str:
    """Which folder is full, which checkpoint is still good, and how to go on."""
    folder = path.parent
    kept = [p for p in folder.glob("*.ckpt") if p.is_file()]  # hidden partial files excluded
    intact = max(kept, key=lambda p: p.stat().st_mtime) if kept else None
    message = f"No space left on the device of {folder}: {path.name} was not written"
    if intact is None:
        return message + "; there is no earlier checkpoint. Free some space and start again"
    resume = folder.parent if (folder.name == "checkpoints" and (folder / "last.ckpt").is_file()) \
        else intact  # fmt: skip
    return (
        f"{message}; the previous checkpoint {intact} is intact. Free some space, then resume "
        f"with: fashion-train ckpt_path={resume}"
    )
