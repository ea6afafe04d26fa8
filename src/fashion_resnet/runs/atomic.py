"""Writing files so that a crash or a kill mid-write leaves the old file (or none), never half."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """`write(f)` into a hidden file beside `path`, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # os.open with 0o666 lets the kernel apply the process umask: the usual permissions, without
    # reading the umask (which can only be read by setting it).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    def write(f: IO) -> None:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")

    atomic_write(path, write)
