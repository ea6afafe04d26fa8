"""The GPU machine's dependency set: the packages its image has (scripts/gpu_image.txt) and the
wheels to carry there for the rest of this package's requirements (scripts/gpu_wheels.txt).

The wheel list is derived, not written by hand: pyproject.toml's core requirements, followed
through every requirement of every package the image lacks (markers evaluated for the GPU
machine's Linux x86-64 Python 3.12), at the versions installed in this environment.

    python scripts/gpu_deps.py                  # print the derived list
    python scripts/gpu_deps.py --check          # exit 1 naming the difference to gpu_wheels.txt
    python scripts/gpu_deps.py --write          # rewrite gpu_wheels.txt
    python scripts/gpu_deps.py --download .whl  # fetch the wheels (pip download; pip wheel
                                                # for a source-only package such as antlr4)
    python scripts/gpu_deps.py --env DIR        # DIR/bin/python sees only the image's packages
                                                # and the wheel list's, linked from this
                                                # environment: the GPU check's CPU dry run
    python scripts/gpu_deps.py --env DIR --image-only   # the image's alone: the GPU check then
                                                # installs .whl/ as it does on the GPU machine
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
import venv
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
IMAGE, WHEELS = ROOT / "scripts" / "gpu_image.txt", ROOT / "scripts" / "gpu_wheels.txt"
# The GPU machine's interpreter, for requirement markers and wheel tags
GPU_PYTHON = {
    "python_version": "3.12", "python_full_version": "3.12.3", "os_name": "posix",
    "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}  # fmt: skip
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(path: Path) -> list[str]:
    """A list file's entries: one per line, '#' comments and blank lines skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def core_requirements() -> list[Requirement]:
    """pyproject.toml's [project] dependencies (Python 3.10 has no tomllib: the installed
    package's metadata then, without its extras)."""
    try:
        import tomllib
    except ImportError:
        reqs = [Requirement(r) for r in md.requires("fashion_resnet") or []]
        return [r for r in reqs if not (r.marker and "extra" in str(r.marker))]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def applies(req: Requirement, extras: set[str]) -> bool:
    """Whether the requirement holds on the GPU machine, for a package wanted with `extras`."""
    if req.marker is None:
        return True
    env = {**default_environment(), **GPU_PYTHON}
    return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def derive(image: set[str]) -> dict[str, str]:
    """{name: version installed here} of every package the closure needs and the image lacks."""
    needed: dict[str, str] = {}
    todo = [(r, set()) for r in core_requirements()]
    while todo:
        req, extras = todo.pop()
        name = normalize(req.name)
        if not applies(req, extras) or name in image or name in needed:
            continue
        dist = md.distribution(name)  # not installed here: PackageNotFoundError names it
        needed[name] = dist.version
        todo += [(Requirement(r), set(req.extras)) for r in dist.requires or []]
    return dict(sorted(needed.items()))


def download(wheels: dict[str, str], folder: Path) -> None:
    """Pure-Python or manylinux cp312 wheels of each, else a wheel built from its sdist."""
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    tags = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            *[f"--platform={p}" for p in PLATFORMS]]  # fmt: skip
    for name, version in wheels.items():
        spec = f"{name}=={version}"
        got = subprocess.run([*pip, "download", "--no-deps", *tags, "-d", str(folder), spec])
        if got.returncode != 0:  # no wheel published (antlr4-python3-runtime 4.9.3)
            subprocess.run([*pip, "wheel", "--no-deps", "-w", str(folder), spec], check=True)


def linked_entries(dist: md.Distribution, site: Path) -> set[Path]:
    """The top-level files and folders of an installed distribution, one level deeper inside
    a namespace folder (nvidia/, google/, hydra_plugins/: shared with other distributions)."""
    entries = set()
    for f in dist.files or []:
        parts = Path(f).parts
        if parts[0] in ("..", "__pycache__"):
            continue
        top = site / parts[0]
        shared = top.is_dir() and not (top / "__init__.py").exists() and "." not in parts[0]
        entries.add(Path(*parts[:2]) if shared and len(parts) > 2 else Path(parts[0]))
    return entries


def make_env(folder: Path, names: set[str]) -> Path:
    """A venv at `folder` whose only packages are `names`, linked from this environment's
    site-packages (no copies: seconds, a few MB). Returns its python."""
    venv.create(folder, with_pip=False, clear=True)
    farm = folder / "packages"
    farm.mkdir()
    found = set()
    for dist in md.distributions():
        name = normalize(dist.metadata["Name"])
        if name not in names or name in found:
            continue
        found.add(name)
        site = Path(dist.locate_file(""))
        for entry in linked_entries(dist, site):
            link = farm / entry
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists() and (site / entry).exists():
                link.symlink_to(site / entry)
    (pth,) = folder.glob("lib/python*/site-packages")
    (pth / "gpu_image.pth").write_text(f"import site; site.addsitedir({str(farm)!r})\n")
    return folder / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    act = p.add_mutually_exclusive_group()
    act.add_argument("--check", action="store_true", help="compare with gpu_wheels.txt")
    act.add_argument("--write", action="store_true", help="rewrite gpu_wheels.txt")
    act.add_argument("--download", metavar="DIR", help="fetch the wheels of gpu_wheels.txt")
    act.add_argument("--env", metavar="DIR", help="make the dry run's environment")
    p.add_argument("--image-only", action="store_true", help="--env without the wheel list")
    args = p.parse_args(argv)
    image = {normalize(n) for n in listed(IMAGE)}
    derived = [f"{n}=={v}" for n, v in derive(image).items()]
    written = listed(WHEELS) if WHEELS.exists() else []
    if args.check:
        if derived != written:
            print(f"scripts/gpu_wheels.txt is {written}, the requirements need {derived}: run "
                  "python scripts/gpu_deps.py --write", file=sys.stderr)  # fmt: skip
            return 1
    elif args.write:
        head = "# Made by scripts/gpu_deps.py --write: what the GPU image lacks, at the versions\n"
        WHEELS.write_text(head + "# installed here. The GPU check carries their wheels.\n"
                          + "\n".join(derived) + "\n")  # fmt: skip
    elif args.download:
        download(dict(line.split("==") for line in written), Path(args.download))
    elif args.env:
        wheels = {normalize(line.split("==")[0]) for line in written}
        print(make_env(Path(args.env).resolve(), image if args.image_only else image | wheels))
    else:
        print("\n".join(derived))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
