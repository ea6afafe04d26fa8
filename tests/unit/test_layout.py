"""The package's layout rules: the learning core (models/, data/) imports nothing of the run
machinery; importing any module changes no process state; every test file sits where its name
says (unit/test_<module>.py names a module)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fashion_resnet

PACKAGE = Path(fashion_resnet.__file__).parent
TESTS = Path(__file__).resolve().parents[1]
CORE = ("models", "data")
# The run machinery and the entry points on top of it; errors.py is shared by everyone.
MACHINERY = ("callbacks", "runs", "launch", "config", "cli",
             "train", "eval", "predict", "export", "report")  # fmt: skip
NOT_IN_CORE = ("hydra", "omegaconf")  # the core takes values, never a config object


def imports(path: Path, source: str | None = None) -> set[str]:
    """Every module a file imports, anywhere in it (inside functions too), as absolute dotted
    names: `from fashion_resnet import train` gives both `fashion_resnet` and
    `fashion_resnet.train`; relative imports are resolved against the file's package."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def core_files() -> list[Path]:
    files = sorted(f for part in CORE for f in (PACKAGE / part).rglob("*.py"))
    assert len(files) >= 6, files  # models/ and data/ hold the core: the test sees them
    return files


def test_imports_finds_absolute_relative_and_nested_imports():
    """The parser the rule rests on: a check that sees no import passes everything."""
    source = (
        "from fashion_resnet import train\nfrom ..runs import folders\nfrom . import batches\n"
        "def f():\n    import fashion_resnet.cli.exits\n"
        "    importlib.import_module('fashion_resnet.config.tree')\n"
    )
    assert imports(PACKAGE / "data" / "probe.py", source) >= {
        "fashion_resnet.train", "fashion_resnet.runs.folders", "fashion_resnet.data.batches",
        "fashion_resnet.cli.exits", "fashion_resnet.config.tree",
    }  # fmt: skip


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_nothing_of_the_machinery(path):
    machinery = {f"fashion_resnet.{m}" for m in MACHINERY}
    bad = sorted(
        name for name in imports(path)
        if ".".join(name.split(".")[:2]) in machinery or name.split(".")[0] in NOT_IN_CORE
    )  # fmt: skip
    assert not bad, (
        f"{path.relative_to(PACKAGE)} imports {bad}: the core (models/, data/) may import torch, "
        "Lightning, each other and fashion_resnet.errors, nothing of the run machinery"
    )


def test_every_test_file_is_where_its_name_says():
    """unit/test_<module>.py for a module of src/ (or conf/, for test_configs.py, and this
    file); integration/ and gpu/ by what they run; at the top only the docs' own checks."""
    src = PACKAGE.parent
    modules = {p.stem for p in src.rglob("*.py") if not p.name.startswith("_")}
    unit = {p.stem.removeprefix("test_") for p in (TESTS / "unit").glob("test_*.py")}
    assert not unit - modules - {"configs", "layout"}, "unit tests named after no module"
    folders = {p.parent.name for p in TESTS.rglob("test_*.py")}
    assert folders <= {"tests", "unit", "integration", "gpu"}, folders
    top = {p.name for p in TESTS.glob("test_*.py")}
    assert top <= {"test_results.py", "test_repo.py"}, f"{top}: put them in unit/ or integration/"


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
    expected = {
        "train",
        "data.fashion_mnist",
        "runs.report_plot",
        "config.hydra_job",
        "runs.atomic",
    }
    assert {f"fashion_resnet.{m}" for m in expected} <= set(seen["modules"])
    assert seen["after"] == seen["before"]
