"""runs/checkpoints.py: a checkpoint that is not ours, not whole or of another architecture
is named in one line, before any training."""

import pytest
import torch
from conftest import FULL_NET

from fashion_resnet.models.classifier import Classifier
from fashion_resnet.runs import checkpoints
from fashion_resnet.train import train


def save_fake_checkpoint(path, net=FULL_NET, state_net=FULL_NET):
    """A checkpoint in the layout of before the data's facts were stored: class count and
    channels inside `net`, no class names (it must still load, as FashionMNIST's)."""
    arch = {k: v for k, v in state_net.items() if k not in ("in_channels", "num_classes")}
    model = Classifier(arch, num_classes=state_net["num_classes"])
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {"net": net}}, path)


@pytest.mark.parametrize(
    "write,match",
    [
        (lambda p: p.write_bytes(b"\x00" * 100), "is not a readable checkpoint"),
        (lambda p: p.write_bytes(b""), r"is an empty file \(0 bytes\), not a checkpoint"),
        (lambda p: torch.save({"w": torch.zeros(2)}, p), "is not a fashion_resnet checkpoint"),
        (lambda p: save_fake_checkpoint(p, net={**FULL_NET, "arch": "resnet34"}),
         r"another architecture \(model.net.arch: checkpoint 'resnet34', config 'resnet18'\)"),
    ],
)  # fmt: skip
def test_bad_checkpoint_fails_before_training(compose_cfg, tmp_path, write, match):
    path = tmp_path / "bad.ckpt"
    write(path)
    cfg = compose_cfg("train", [f"ckpt_path={path}", "data.data_dir=/nonexistent"])
    with pytest.raises(checkpoints.CheckpointError, match=match):
        train(cfg)  # raised before the (missing) data is looked for


@pytest.mark.parametrize("content", [torch.zeros(3), [torch.zeros(2)], {"w": torch.zeros(2)}])
def test_a_pt_file_that_is_no_checkpoint_is_named(tmp_path, content):
    """A saved tensor once raised torch's RuntimeError from `"state_dict" in tensor`."""
    path = tmp_path / "weights.pt"
    torch.save(content, path)
    with pytest.raises(checkpoints.CheckpointError, match="is not a fashion_resnet checkpoint"):
        checkpoints.read(path)


def test_an_empty_checkpoint_file_is_one_line_for_eval_predict_and_export(tmp_path):
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(checkpoints.CheckpointError, match="is an empty file"):
        checkpoints.load_model(tmp_path / "empty.ckpt")  # what eval, predict and export call
    # A cause without a message (torch.load's EOFError on some files) is named by its type.
    assert checkpoints.cause(EOFError()) == "EOFError"
    assert checkpoints.cause(ValueError("\nbad value\nmore")) == "ValueError: bad value"


def test_truncated_checkpoint_is_reported(tmp_path):
    path = tmp_path / "t.ckpt"
    save_fake_checkpoint(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(checkpoints.CheckpointError, match="is not a readable checkpoint"):
        checkpoints.load_model(path)


def test_weights_of_another_architecture_are_reported(tmp_path):
    path = tmp_path / "m.ckpt"
    save_fake_checkpoint(path, state_net={**FULL_NET, "arch": "resnet34"})
    with pytest.raises(checkpoints.CheckpointError, match="weights do not match the architecture"):
        checkpoints.load_model(path)
