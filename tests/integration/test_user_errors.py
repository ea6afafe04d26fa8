"""A user's mistake, through the real entry points: one line on stderr naming the key or file,
exit status 2, before any data is read; a bug keeps its traceback."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import NET, needs_extra, tiny_overrides
from hydra.core.global_hydra import GlobalHydra

from fashion_resnet import errors, export, predict, train
from fashion_resnet import eval as eval_
from fashion_resnet.callbacks import interrupt
from fashion_resnet.cli import exits
from fashion_resnet.config import validate
from fashion_resnet.runs import checkpoints


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    text, tensor, empty = tmp_path / "notes.ckpt", tmp_path / "tensor.ckpt", tmp_path / "0.ckpt"
    text.write_text("not a checkpoint\n")
    torch.save(torch.zeros(3), tensor)
    empty.write_bytes(b"")  # an IndexError once: its cause has no message to quote
    return {"missing": tmp_path / "nope.ckpt", "text": text, "tensor": tensor, "empty": empty}


@pytest.fixture
def no_data(tmp_path) -> list[str]:
    """Where no data set is to be found: reading data would fail with another message."""
    return [f"paths.data_dir={tmp_path}/no_data", f"paths.log_dir={tmp_path}/logs"]


def call(entry, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run an entry point's main() in this process: (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["prog", *args])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as exited:
        entry.main()
    GlobalHydra.instance().clear()
    return exited.value.code, capsys.readouterr().err


TRAIN_MISTAKES = {
    "string for a number": (["data.image_size=abc"], "data.image_size='abc': expected an integer"),
    "negative lr": (["optimizer.lr=-1"], "optimizer.lr=-1: expected a number > 0"),
    "zero batch": (["data.batch_size=0"], "data.batch_size=0: expected an integer >= 1"),
    "val set = data": (["data.val_size=60000"], "data.val_size=60000: expected an integer in"),
    "subset too big": (["data.train_subset=58000"], "data.train_subset=58000: expected"),
    "unknown option": (["model=resnet19"], "Could not find 'model/resnet19'; Available options"),
    "unknown key": (["trainer.max_epoch=3"], "Could not override 'trainer.max_epoch'"),
    "misspelt +key": (["+trainer.max_epoch=3"], "unexpected keyword argument 'max_epoch'"),
    "bad syntax": (["data.image_size=[1"], "cannot read the override 'data.image_size=[1'"),
    "unknown stem": (["model.net.stem=tiny"], "Unknown model.net.stem='tiny'; choose one of"),
    "not a metric": (["optimized_metric=val/acc_bset"], "'val/acc_bset' is not a logged metric"),
    "too many devices": (["trainer.devices=99"], "trainer.devices=99: this machine has"),
    "missing checkpoint": (["ckpt_path={missing}"], "nope.ckpt' does not exist"),
    "text checkpoint": (["ckpt_path={text}"], "notes.ckpt is not a readable checkpoint"),
    "tensor checkpoint": (["ckpt_path={tensor}"], "tensor.ckpt is not a fashion_resnet checkpoint"),
    "empty checkpoint": (["ckpt_path={empty}"], "0.ckpt is an empty file (0 bytes)"),
    # values that would leave the run nothing to do (it used to end "successfully")
    "no epochs": (["trainer.max_epochs=0"], "trainer.max_epochs=0 leaves the run nothing to do"),
    "no steps": (["trainer.max_steps=0"], "trainer.max_steps=0 leaves the run nothing to do"),
    "no batches": (["+trainer.limit_train_batches=0.001"],
                   "trainer.limit_train_batches=0.001 leaves the run nothing to do"),
    "batch > data": (["data.train_subset=100", "data.batch_size=128"],
                     "data.batch_size=128 exceeds the 100 training images of an epoch"),
    "no validation": (["+trainer.limit_val_batches=0"],
                      "no validation, but callbacks.model_checkpoint.monitor=val/acc watches"),
    "odd DDP batch": (["trainer=ddp_cpu", "data.batch_size=33"],
                      "data.batch_size=33 is the global batch and must divide evenly"),
    "unmakeable run folder": (["hydra.run.dir={text}/run"],
                              "notes.ckpt/run (Not a directory): choose another with"),
}  # fmt: skip


def check_one_line(status: int, err: str, expected: str) -> None:
    assert status == exits.USER_ERROR, err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err


@pytest.mark.parametrize("mistake", TRAIN_MISTAKES)
def test_train_mistakes_are_one_line_and_status_2(mistake, bad_files, no_data, monkeypatch,
                                                  capsys):  # fmt: skip
    args, expected = TRAIN_MISTAKES[mistake]
    args = [a.format(**bad_files) for a in args]
    status, err = call(train, [*no_data, "data.download=false", "+data.system_dir=null", *args],
                       monkeypatch, capsys)  # fmt: skip
    err = err.replace("Seed set to 42\n", "")  # Lightning's, from the misspelt +key case
    check_one_line(status, err, expected)
    assert err.startswith("fashion-train: error: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_trainer_gpu_without_a_gpu(no_data, monkeypatch, capsys):
    status, err = call(train, [*no_data, "trainer=gpu"], monkeypatch, capsys)
    check_one_line(status, err, "trainer.accelerator='gpu' needs a CUDA GPU")


def test_devices_beyond_the_cpu_cores(no_data, monkeypatch, capsys):
    monkeypatch.setattr(validate, "cpu_count", lambda: 2)
    status, err = call(train, [*no_data, "trainer=ddp_cpu", "trainer.devices=3"],
                       monkeypatch, capsys)  # fmt: skip
    check_one_line(status, err, "trainer.devices=3: this machine has 2 CPU cores")


NEEDS_EXPORT = needs_extra("export", *export.EXPORT_MODULES)


@pytest.mark.parametrize("kind", ["missing", "text", "tensor", "empty"])
@pytest.mark.parametrize("entry", [eval_, pytest.param(export, marks=NEEDS_EXPORT), predict])
def test_bad_checkpoints_in_every_entry_point(entry, kind, bad_files, no_data, monkeypatch,
                                              capsys):  # fmt: skip
    args = [*no_data, f"ckpt_path={bad_files[kind]}"]
    if entry is predict:
        args.append(f"images={bad_files['text'].parent}")
    status, err = call(entry, args, monkeypatch, capsys)
    check_one_line(status, err, bad_files[kind].name)


@pytest.mark.parametrize(
    "entry,args,expected",
    [
        # eval's data.batch_size is its DataModule's to check (test_fashion_mnist.py), after the
        # checkpoint is read
        (eval_, [], "ckpt_path is required: add ckpt_path=<value>"),
        (predict, ["batch_size=-4", "images=."], "batch_size=-4: expected an integer >= 1"),
        (predict, ["images=/no/such/folder"], "images='/no/such/folder': no such file or folder"),
        (predict, ["invert=maybe", "images=."], "invert='maybe'; choose one of"),
        (export, ["n_verify=0"], "n_verify=0: expected an integer >= 1"),
        (eval_, ["+trainer.limit_test_batches=0"], "limit_test_batches=0 leaves the run nothing"),
    ],
)
def test_other_entry_points_name_the_key(entry, args, expected, bad_files, no_data,
                                         monkeypatch, capsys):  # fmt: skip
    ckpt = [] if "required" in expected else [f"ckpt_path={bad_files['missing']}"]
    status, err = call(entry, [*no_data, *ckpt, *args], monkeypatch, capsys)
    check_one_line(status, err, expected)


def test_empty_inputs_and_unmakeable_outputs(bad_files, no_data, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.png").write_text("not a picture")
    blocked = bad_files["text"]  # a file where a folder would have to be
    ckpt = f"ckpt_path={bad_files['missing']}"
    cases = [
        (predict, [ckpt, f"images={tmp_path}/empty"], "empty': no files to label"),
        (predict, [ckpt, f"images={tmp_path}", f"output={blocked}/x/p"], "notes.ckpt is a file"),
        (export, [ckpt, f"output_dir={blocked}/export"], "notes.ckpt is a file; choose another"),
        (eval_, [ckpt, f"hydra.run.dir={blocked}/eval"], "(Not a directory): choose another"),
    ]
    for entry, args, expected in cases:
        check_one_line(*call(entry, [*no_data, *args], monkeypatch, capsys), expected)
    # A folder of files none of which is a picture: known only once they are read.
    from fashion_resnet.models.classifier import Classifier

    model = tmp_path / "model.ckpt"
    torch.save({"state_dict": Classifier(NET).state_dict(), "hyper_parameters": {"net": NET}},
               model)  # fmt: skip
    with pytest.raises(errors.ConfigError, match="none of its 1 files is a picture"):
        predict.predict(str(model), str(tmp_path / "texts"))
    from fashion_resnet import report

    for argv, expected in [([str(tmp_path), "--out", f"{blocked}/r"], "notes.ckpt is a file"),
                           ([str(tmp_path / "empty")], "No run folders")]:  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            report.main(argv)
        assert stop.value.code == exits.USER_ERROR and expected in capsys.readouterr().err


def test_full_error_switch_shows_the_traceback(no_data, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["prog", *no_data, "optimizer.lr=-1"])
    GlobalHydra.instance().clear()
    with pytest.raises(errors.ConfigError, match="optimizer.lr=-1"):
        train.main()
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_a_bug_keeps_its_traceback(no_data, monkeypatch):
    def broken(cfg):
        raise KeyError("a bug of ours")

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(validate, "check_train", broken)
    monkeypatch.setattr(sys, "argv", ["prog", *no_data])
    GlobalHydra.instance().clear()
    with pytest.raises(KeyError, match="a bug of ours"):
        train.main()
    assert "HYDRA_FULL_ERROR" not in os.environ  # put back as the user had it


def test_entry_point_process_exits_2_with_one_line(tmp_path):
    """The real process, as a shell sees it (the others run main() in this process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_resnet.train", "optimizer.lr=-1",
         f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}/none"],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == "fashion-train: error: optimizer.lr=-1: expected a number > 0\n"


class FullDisk(io.RawIOBase):
    """A file that takes `budget` bytes, then fails as a full disk does."""

    def __init__(self, f, budget: int) -> None:
        self.f, self.left = f, budget

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if len(b) > self.left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= len(b)
        return self.f.write(b)


def test_full_disk_during_a_checkpoint_save(fake_data_dir, tmp_path, monkeypatch, capsys):
    """Epoch 0 saves; epoch 1's save meets a full disk (torch then raises its own
    'enforce fail at inline_container.cc' over the OSError): one line, the old one intact."""
    real_save = torch.save

    def save(obj, f):
        if isinstance(obj, dict) and obj.get("epoch", 0) >= 1:
            f = FullDisk(f, budget=4096)
        real_save(obj, f)

    monkeypatch.setattr(interrupt.torch, "save", save)
    args = [*tiny_overrides(fake_data_dir, tmp_path), "trainer.max_epochs=2", "test=false"]
    status, err = call(train, args, monkeypatch, capsys)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    check_one_line(status, err, f"No space left on the device of {run / 'checkpoints'}: ")
    assert "is intact. Free some space, then resume with: " in err
    assert err.strip().endswith(f"fashion-train ckpt_path={run}")
    assert checkpoints.read(last)["epoch"] == 0  # still the complete epoch-0 checkpoint
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
