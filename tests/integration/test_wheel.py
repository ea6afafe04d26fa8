"""The package as a user installs it: a wheel built from the checkout, installed into a fresh venv
that sees the core's packages and nothing else (no extra, no checkout on the path), trains a tiny
run from an empty folder; the options that need an extra say which one, in one line.

The venv is not given the packages by pip (offline, and minutes): a .pth line adds a folder of
symlinks to the core's distributions as this environment has them installed (the closure of the
wheel's own core requirements), so `import mlflow` fails there as it does after `make train`."""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import pytest
from conftest import CONF_DIR, ROOT, tiny_overrides, write_fake_fashion_mnist
from packaging.requirements import Requirement

from fashion_resnet import extras

pytestmark = pytest.mark.slow
SHIPPED = ["pyproject.toml", "README.md", "LICENSE", "src"]  # what the wheel is built from
# tiny_overrides without the folders and the progress bar: the run uses the defaults (./data,
# ./logs) and the shipped callbacks.
FOLDERS = ("data.data_dir=", "paths.log_dir=", "hydra.run.dir=", "callbacks.progress_bar=")


def name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """cmd without the checkout on the path (PYTHONPATH) or our own settings."""
    ours = ("PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in ours and "FASHION_RESNET_" not in k}
    options = {"check": True, "capture_output": True, "text": True, "timeout": 300, **kwargs}
    return subprocess.run(cmd, env=env, **options)


def build_wheel(out: Path) -> Path:
    source = out / "source"
    source.mkdir()
    for item in SHIPPED:
        if (ROOT / item).is_dir():
            skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "local")
            shutil.copytree(ROOT / item, source / item, ignore=skip)
        else:
            shutil.copy2(ROOT / item, source / item)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
           "--no-build-isolation", "-q", "-w", str(out), str(source)]  # fmt: skip
    run(cmd)
    (wheel,) = out.glob("fashion_resnet-*.whl")
    return wheel


def core_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        fields = email.parser.Parser().parsestr(z.read(meta).decode())
    reqs = [Requirement(r) for r in fields.get_all("Requires-Dist")]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(reqs: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions these requirements pull in, with the extras they name."""
    found, todo, seen = {}, list(reqs), set()
    while todo:
        req = todo.pop()
        key = (name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(key[0], metadata.distribution(req.name))
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = {"", *req.extras}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(sub)
    return found


def link_view(dists: dict[str, metadata.Distribution], view: Path) -> None:
    """Symlink into `view` every file or folder of site-packages that only `dists` own; a folder
    shared with other distributions (hydra_plugins/) is linked entry by entry."""
    sites = {Path(d.locate_file("")) for d in dists.values()}
    for site in sites:
        owners: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for dist in metadata.distributions(path=[str(site)]):
            owner = name(dist.metadata["Name"])
            for file in dist.files or []:
                if file.parts[0] != "..":
                    for depth in range(1, len(file.parts) + 1):
                        owners[file.parts[:depth]].add(owner)
        children = defaultdict(set)
        for parts in owners:
            children[parts[:-1]].add(parts)
        todo = sorted(children[()])
        while todo:
            parts = todo.pop()
            if owners[parts] <= set(dists):
                (view / Path(*parts)).parent.mkdir(parents=True, exist_ok=True)
                (view / Path(*parts)).symlink_to(site / Path(*parts))
            elif owners[parts] & set(dists):
                todo += sorted(children[parts])


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A venv holding the wheel, seeing the core and nothing else."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    python = str(venv / "bin" / "python")
    site = Path(run([python, "-c", where]).stdout.strip())
    link_view(closure(core_requirements(wheel)), tmp / "core")
    (site / "core.pth").write_text(f"{tmp / 'core'}\n")
    cmd = [sys.executable, "-m", "pip", "--python", python, "install",
           "--no-deps", "--no-index", "-q", str(wheel)]  # fmt: skip
    run(cmd)
    return venv


def run_in(venv: Path, folder: Path, *cmd: str) -> subprocess.CompletedProcess:
    return run([str(venv / "bin" / cmd[0]), *cmd[1:]], cwd=folder, check=False)


@pytest.fixture(scope="module")
def trained(wheel_venv, tmp_path_factory) -> Path:
    """`fashion-train` from a folder that holds only (generated) data; returns that folder."""
    folder = tmp_path_factory.mktemp("empty")
    write_fake_fashion_mnist(folder / "data" / "FashionMNIST" / "raw")
    over = [o for o in tiny_overrides(folder, folder) if not o.startswith(FOLDERS)]
    proc = run_in(wheel_venv, folder, "fashion-train", *over)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


def test_the_wheel_trains_from_an_empty_folder_with_the_core_only(wheel_venv, trained):
    probe = ("import fashion_resnet, importlib.util as u; print(fashion_resnet.CONF_DIR); "
             "print([m for m in ('mlflow', 'wandb', 'optuna', 'ray', 'onnx', 'submitit') "
             "if u.find_spec(m)])")  # fmt: skip
    conf, found = run_in(wheel_venv, trained, "python", "-c", probe).stdout.splitlines()
    assert Path(conf).is_relative_to(wheel_venv)  # the installed package, not the checkout
    shipped = {p.relative_to(conf) for p in Path(conf).rglob("*.yaml")}
    ours = {p.relative_to(CONF_DIR) for p in Path(CONF_DIR).rglob("*.yaml")}
    assert shipped == {p for p in ours if p.parts[0] != "local"}  # every config, no local one
    assert found == "[]"  # the core and no extra
    (run_dir,) = (trained / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1 and metrics["global_step"] == 3
    assert list(run_dir.glob("checkpoints/*.ckpt")) and list(run_dir.glob("tensorboard/events.*"))


@pytest.mark.parametrize("cmd,what,extra", [
    (["fashion-train", "logger=mlflow"], "logger=mlflow", "mlflow"),
    (["fashion-train", "hparams_search=optuna"], "hparams_search=optuna", "optuna"),
    (["fashion-train", "-m", "hydra/launcher=ray", "seed=1,2"], "hydra/launcher=ray", "ray"),
    (["fashion-export", "ckpt_path=last"], "fashion-export", "export"),
])  # fmt: skip
def test_an_option_without_its_extra_names_it(wheel_venv, trained, tmp_path, cmd, what, extra):
    if extra == "export":  # the trained run folder (its best checkpoint)
        (run,) = (trained / "logs" / "train" / "runs").iterdir()
        cmd = [cmd[0], f"ckpt_path={run}"]
    proc = run_in(wheel_venv, tmp_path, *cmd)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr == f"{cmd[0]}: error: {extras.message(what, extra)}\n"
