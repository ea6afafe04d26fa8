"""The repository around the package: what the docs and the code cite exists, what the docs
tell users to type works."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_trainer_overrides_the_readme_shows_need_no_plus(compose_cfg):
    """The README told users `trainer.gradient_clip_val=1.0`, a key the config lacked (it
    needed `+`). Each `trainer.<key>=` of the README composes with the trainer of its line."""
    readme = (ROOT / "README.md").read_text()
    checked = 0
    for line in readme.splitlines():
        option = re.search(r"\btrainer=(\w+)", line)
        for key, value in re.findall(r"(?<![+\w.])trainer\.(\w+)=([\w.-]+)", line):
            over = [f"trainer={option[1] if option else 'default'}", f"trainer.{key}={value}"]
            assert str(compose_cfg("train", over).trainer[key]).lower() == value.lower(), line
            checked += 1
    assert checked >= 5


def test_documents_the_code_cites_exist():
    """model.py cited DESIGN.md, which the repository does not have."""
    for folder in ("src", "scripts", "conf"):
        for path in (ROOT / folder).rglob("*.*"):
            if path.suffix in (".py", ".sh", ".yaml"):
                for doc in re.findall(r"\b(?:docs/)?[A-Z][A-Za-z_]*\.md\b", path.read_text()):
                    assert (ROOT / doc).is_file() or (ROOT / "docs" / doc).is_file(), (path, doc)
