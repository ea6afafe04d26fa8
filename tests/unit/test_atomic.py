"""runs/atomic.py: a file is replaced whole or not at all."""

import json

import pytest
from conftest import half_write_then_fail

from fashion_resnet.runs import atomic


def test_interrupted_metrics_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"test/acc": 0.9})
    monkeypatch.setattr(json, "dump", lambda data, f, **kw: half_write_then_fail(f))
    with pytest.raises(OSError):
        atomic.write_json(path, {"test/acc": 0.1})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"test/acc": 0.9}
    assert list(tmp_path.iterdir()) == [path]
    assert path.stat().st_mode & 0o044  # readable by others, like any file (umask permitting)
