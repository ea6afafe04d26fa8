"""The repository around the package: what the docs and the code cite exists, what the docs
tell users to type works."""

import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import needs_extra

ROOT = Path(__file__).resolve().parents[1]


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_trainer_overrides_the_docs_show_need_no_plus(compose_cfg):
    """The README told users `trainer.gradient_clip_val=1.0`, a key the config lacked (it
    needed `+`). Each `trainer.<key>=` of the docs composes with the trainer of its line."""
    text = "\n".join(doc.read_text() for doc in DOCS)
    checked = 0
    for line in text.splitlines():
        option = re.search(r"\btrainer=(\w+)", line)
        for key, value in re.findall(r"(?<![+\w.])trainer\.(\w+)=([\w.-]+)", line):
            over = [f"trainer={option[1] if option else 'default'}", f"trainer.{key}={value}"]
            assert str(compose_cfg("train", over).trainer[key]).lower() == value.lower(), line
            checked += 1
    assert checked >= 5


def test_what_the_docs_link_and_name_exists():
    """Links (relative to their page) and the repository paths the docs name in backticks:
    the tree moved once, and a guide that points at nothing is worse than none."""
    named = re.compile(r"`((?:src|tests|scripts|conf|docs)/[\w./-]*)`")
    for doc in DOCS:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if not target.startswith("http"):
                assert (doc.parent / target).exists(), (doc.name, target)
        for path in set(named.findall(text)) - {"conf/local/default.yaml"}:  # the user's own
            # `conf/...` is the configs' folder, inside the package
            package = ROOT / "src" / "fashion_resnet"
            where = package / path if path.startswith("conf/") else ROOT / path
            assert where.exists(), (doc.name, path)
    assert len(DOCS) >= 5  # README, RESULTS, design, scaling, troubleshooting


def test_documents_the_code_cites_exist():
    """model.py cited DESIGN.md, which the repository does not have."""
    for folder in ("src", "scripts"):  # the configs are in src/fashion_resnet/conf
        for path in (ROOT / folder).rglob("*.*"):
            if path.suffix in (".py", ".sh", ".yaml"):
                for doc in re.findall(r"\b(?:docs/)?[A-Z][A-Za-z_]*\.md\b", path.read_text()):
                    assert (ROOT / doc).is_file() or (ROOT / "docs" / doc).is_file(), (path, doc)








def test_local_configs_and_env_are_git_ignored():
    """Asked of git itself, not read back from .gitignore; .env.example is tracked."""
    local = [".env", "src/fashion_resnet/conf/local/default.yaml"]
    ignored = subprocess.run(["git", "check-ignore", *local], cwd=ROOT, capture_output=True,
                             text=True)  # fmt: skip
    assert ignored.stdout.split() == local, ignored.stderr
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", ".env.example"], cwd=ROOT,
                             capture_output=True)  # fmt: skip
    assert tracked.returncode == 0


@needs_extra("dev", "pre_commit")
def test_pre_commit_runs_ruff_lint_and_format():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (ruff,) = [r for r in config["repos"] if r["repo"].endswith("astral-sh/ruff-pre-commit")]
    assert [h["id"] for h in ruff["hooks"]] == ["ruff-check", "ruff-format"]
    check = [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"]
    proc = subprocess.run(check, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_config_folder_of_your_own_joins_through_the_searchpath(tmp_path):
    """An installed package's configs are not yours to edit: your folder joins them, with your
    experiments and this machine's local/default.yaml, as `fashion-train` composes them."""
    mine = tmp_path / "my_configs"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "wide.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: resnet34\noptimizer:\n  lr: 0.0123\n"
    )
    (mine / "local").mkdir()
    (mine / "local" / "default.yaml").write_text("# @package _global_\ndata:\n  batch_size: 64\n")
    cmd = [sys.executable, "-m", "fashion_resnet.train", f"hydra.searchpath=[file://{mine}]",
           "experiment=wide", "--cfg", "job"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["net"]["arch"] == "resnet34" and cfg["optimizer"]["lr"] == 0.0123
    assert cfg["data"]["batch_size"] == 64 and cfg["optimizer"]["_target_"] == "torch.optim.Adam"
