"""Importing the package changes nothing: entry points set up process state, once, visibly."""

import json
import subprocess
import sys

# Runs in a fresh interpreter: snapshot the process state after the third-party imports, import
# every module of the package, snapshot again.
PROBE = r"""
import json, pkgutil, importlib, signal
import matplotlib, omegaconf, pytorch_lightning, torch, hydra, tensorboard
from omegaconf.basecontainer import BaseContainer
import fashion_resnet

def state():
    with open("/proc/self/status") as f:
        umask = [line.split()[1] for line in f if line.startswith("Umask:")]
    return {
        "umask": umask,
        "backend": str(dict.__getitem__(matplotlib.rcParams, "backend")),
        "signals": {s.name: repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM,
                                                                signal.SIGUSR1, signal.SIGHUP)},
        "resolvers": sorted(BaseContainer._resolvers),
    }

before = state()
names = sorted(m.name for m in pkgutil.walk_packages(fashion_resnet.__path__, "fashion_resnet."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"before": before, "after": state(), "modules": names}))
"""


def test_importing_every_module_changes_no_process_state():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    expected = {"train", "data.fashion_mnist", "runs.report_plot", "config.hydra_job",
                "runs.atomic"}
    assert {f"fashion_resnet.{m}" for m in expected} <= set(seen["modules"])
    assert seen["after"] == seen["before"]
