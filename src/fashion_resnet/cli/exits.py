"""What a user meets at the command line. A mistake the user can fix (a config value, a missing
or foreign file, a full disk) ends in one line on stderr and exit status 2; a bug keeps its
traceback (exit status 1). `HYDRA_FULL_ERROR=1` shows the traceback of either.

Each entry point runs as `cli.run(<its @hydra.main function>, "fashion-train")` and does its work
inside `with cli.job():`.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fashion_resnet.errors import UserError

USER_ERROR = 2  # exit status of a user's mistake (argparse, git and pip use 2 as well)
FULL_ERROR = "HYDRA_FULL_ERROR"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


# Set by run() for the process: the program's name, and HYDRA_FULL_ERROR as the user set it.
_state: dict[str, Any] = {"prog": "", "inside_run": False, "user_full_error": None}


def run(hydra_main: Callable[[], Any], prog: str) -> None:
    """Call an @hydra.main function, turning user errors into one line and exit status 2."""
    _state.update(prog=prog, inside_run=True, user_full_error=os.environ.get(FULL_ERROR))
    # Unless HYDRA_FULL_ERROR is set, Hydra prints its own multi-line report and exits 1; set,
    # it re-raises the exception and we decide how to show it.
    os.environ[FULL_ERROR] = "1"
    try:
        hydra_main()
    except Exception as e:
        message = user_message(e)
        if message is None or _state["user_full_error"] == "1":
            raise
        fail(prog, message)
    finally:
        _restore_full_error()
        _state["inside_run"] = False


@contextmanager
def job() -> Iterator[None]:
    """The body of a Hydra job. A single run reports a user error here (Hydra would first print
    "Error executing job with overrides"); a multirun job re-raises it, so that its sweeper
    counts a failed job. What the job starts (DDP ranks) sees the user's HYDRA_FULL_ERROR."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if _state["inside_run"]:
        _restore_full_error()
    try:
        yield
    except Exception as e:
        message = user_message(e)
        single = not HydraConfig.initialized() or HydraConfig.get().mode == RunMode.RUN
        if message is None or not single or os.environ.get(FULL_ERROR) == "1":
            raise
        fail(_state["prog"], message)
    finally:
        if _state["inside_run"]:
            os.environ[FULL_ERROR] = "1"


@contextmanager
def reported(prog: str) -> Iterator[None]:
    """Work an entry point does outside Hydra (reading its own arguments): a UserError there
    ends as one line and exit status 2 too."""
    try:
        yield
    except UserError as e:
        if os.environ.get(FULL_ERROR) == "1":
            raise
        fail(prog, one_line(str(e)))


def _restore_full_error() -> None:
    if _state["user_full_error"] is None:
        os.environ.pop(FULL_ERROR, None)
    else:
        os.environ[FULL_ERROR] = _state["user_full_error"]


def fail(prog: str, message: str) -> None:
    prefix = f"{prog}: " if prog else ""
    print(f"{prefix}error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR)


def user_message(e: BaseException) -> str | None:
    """The one-line message of a user error, None for anything else (a bug)."""
    from hydra.errors import CompactHydraException, InstantiationException, OverrideParseException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if disk_full(e):
        return disk_full_message(e)
    if isinstance(e, UserError):
        return one_line(str(e))
    if isinstance(e, OSError) and e.filename and raised_by(e, "hydra"):
        # Hydra makes the job's folder (and writes .hydra/ there) before our code runs
        return (
            f"cannot make the output folder {e.filename} ({e.strerror}): choose another with "
            "hydra.run.dir=<folder> (hydra.sweep.dir=<folder> with -m)"
        )
    if isinstance(e, MissingMandatoryValue):  # a `???` the command line did not fill in
        key = getattr(e, "full_key", None) or "a required value"
        return f"{key} is required: add {key}=<value> to the command"
    if isinstance(e, InstantiationException):
        cause = e.__cause__
        if cause is not None and (message := user_message(cause)) is not None:
            return message
        text = str(e)
        misspelt = isinstance(cause, TypeError) and "unexpected keyword argument" in str(cause)
        return one_line(text) if misspelt or text.startswith("Error locating target") else None
    if isinstance(e, CompactHydraException):  # unknown option or key, bad override syntax
        from fashion_resnet.extras import for_missing_config

        if (missing_plugin := for_missing_config(str(e))) is not None:
            return missing_plugin  # a config that an extra's Hydra plugin registers
        text = str(e).split("Config search path:")[0]  # where Hydra looked: not the point
        if isinstance(e, OverrideParseException) and getattr(e, "override", None):
            text = f"cannot read the override {e.override!r}: {text}"
        if isinstance(e.__cause__, OmegaConfBaseException):  # "Key 'x' is not in struct"
            text += "\n" + str(e.__cause__)
        return one_line(text)
    return None


def raised_by(e: BaseException, package: str) -> bool:
    """Whether the innermost frame of e's traceback outside the standard library (pathlib's
    mkdir, say) belongs to `package`."""
    frames = []
    tb = e.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    outside = [m for m in frames if m.split(".")[0] not in sys.stdlib_module_names]
    return bool(outside) and outside[-1].split(".")[0] == package


def disk_full(e: BaseException | None) -> bool:
    """An OSError 'no space left' (or quota) anywhere in the exception's chain: torch reports a
    failed write as its own RuntimeError, raised while handling the OSError."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return True
        if isinstance(e, UserError):  # ours, already worded
            return False
        e = e.__cause__ or e.__context__
    return False


def disk_full_message(e: BaseException) -> str:
    while not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    where = f" writing {e.filename}" if e.filename else ""
    return f"no space left on the device{where} ({e.strerror}): free some space and run it again"


def one_line(text: str) -> str:
    """Hydra's and OmegaConf's multi-line messages as one line; their `full_key:` and
    `object_type=` trailers are dropped (the key is already in the message)."""
    drop = ("full_key:", "object_type=", "reference_type=")
    parts: list[str] = []
    listing = False  # after "Available options in 'model':" come the options, one a line
    for line in (x.strip() for x in text.splitlines()):
        if not line or line.startswith(drop):
            continue
        if listing and " " not in line:
            parts[-1] += ("" if parts[-1].endswith(":") else ",") + f" {line}"
            continue
        listing = line.endswith(":")
        parts.append(line)
    return "".join(p if i == 0 else (" " if parts[i - 1].endswith((".", ":")) else "; ") + p
                   for i, p in enumerate(parts))  # fmt: skip
