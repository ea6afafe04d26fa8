import functools
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import NET, make_images
from torch.utils.data import DataLoader, TensorDataset

from fashion_resnet.model import Classifier


def loader(n=64, batch=16):
    labels = torch.arange(n) % 10
    x = make_images(labels, seed=0)[:, None].float() / 255
    return DataLoader(TensorDataset(x, labels), batch_size=batch)


def fit(model, tmp_path, **trainer_kw):
    kw = dict(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer = pl.Trainer(default_root_dir=tmp_path, accelerator="cpu", **{**kw, **trainer_kw})
    trainer.fit(model, loader(), loader())
    return trainer


@pytest.mark.parametrize(
    "scheduler,interval",
    [
        (None, "epoch"),
        (functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5), "epoch"),
        (functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01), "step"),
        (functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR), "epoch"),
    ],
)
def test_trains_with_and_without_scheduler(tmp_path, scheduler, interval):
    opt = functools.partial(torch.optim.SGD, lr=0.01)
    model = Classifier(NET, opt, scheduler, scheduler_interval=interval)
    trainer = fit(model, tmp_path)
    metrics = trainer.callback_metrics
    for name in ["train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best"]:
        assert torch.isfinite(metrics[name]), name
    if scheduler is not None:
        sched = trainer.lr_scheduler_configs[0]
        assert sched.interval == interval
        if interval == "step":  # total_steps filled with the run length: 2 epochs x 4 batches
            assert sched.scheduler.total_steps == 8
        if isinstance(sched.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            assert sched.scheduler.T_max == 2


def test_val_acc_best_is_the_max_over_epochs(tmp_path):
    model = Classifier(NET, functools.partial(torch.optim.Adam, lr=1e-3))
    seen = []

    class Record(pl.Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            seen.append(float(pl_module.val_acc.compute()))

    fit(model, tmp_path, callbacks=[Record()], num_sanity_val_steps=0, max_epochs=3)
    assert float(model.val_acc_best.compute()) == pytest.approx(max(seen))


def test_checkpoint_reloads_with_weights_only(tmp_path):
    model = Classifier(NET, functools.partial(torch.optim.Adam, lr=1e-3), label_smoothing=0.1)
    trainer = fit(model, tmp_path, max_epochs=1)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)  # torch's safe unpickler
    assert ckpt["hyper_parameters"]["net"] == NET
    reloaded = Classifier.load_from_checkpoint(path).eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(reloaded(x), model.eval()(x), atol=1e-6)
    assert reloaded.hparams.label_smoothing == 0.1


def test_label_smoothing_changes_the_loss():
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    a = Classifier(NET, label_smoothing=0.0)
    torch.manual_seed(0)
    b = Classifier(NET, label_smoothing=0.3)
    assert a._step((x, y))[0] != b._step((x, y))[0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"scheduler_interval": "batch"}, "scheduler_interval must be 'epoch' or 'step'"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1.0"),
    ],
)
def test_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Classifier(NET, **kwargs)


def test_documents_the_code_cites_exist():
    """model.py cited DESIGN.md, which the repository does not have."""
    root = Path(__file__).resolve().parents[1]
    for folder in ("src", "scripts", "conf"):
        for path in (root / folder).rglob("*.*"):
            if path.suffix in (".py", ".sh", ".yaml"):
                for doc in re.findall(r"\b(?:docs/)?[A-Z][A-Za-z_]*\.md\b", path.read_text()):
                    assert (root / doc).is_file() or (root / "docs" / doc).is_file(), (path, doc)


def test_optimizer_is_fused_unless_lightning_clips_under_mixed_precision(tmp_path):
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    trainer = fit(Classifier(NET, adam), tmp_path, max_epochs=1, limit_train_batches=1)
    assert trainer.optimizers[0].defaults["fused"] is True  # CPU params: fused kernels
    # Lightning's mixed precision refuses to clip the gradients of a fused optimizer
    trainer = fit(Classifier(NET, adam), tmp_path, max_epochs=1, limit_train_batches=1,
                  precision="bf16-mixed", gradient_clip_val=1.0)  # fmt: skip
    assert not trainer.optimizers[0].defaults["fused"]


def test_compile_mode_reaches_torch_compile_and_marks_cuda_graph_steps(monkeypatch):
    calls, steps = [], []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: calls.append(kw))
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([0, 1])
    Classifier(NET, compile=True)._step((x, y))
    assert calls == [{"mode": None}] and steps == []  # torch's default mode: no graphs
    Classifier(NET, compile=True, compile_mode="reduce-overhead")._step((x, y))
    assert calls[-1] == {"mode": "reduce-overhead"} and steps == [1]  # one mark per step
    Classifier(NET, compile_mode="reduce-overhead")._step((x, y))  # compile off: mode unused
    assert len(calls) == 2 and steps == [1]
    with pytest.raises(ValueError, match="compile_mode must be one of"):
        Classifier(NET, compile=True, compile_mode="fastest")


def test_step_loss_logged_at_logging_steps_epoch_metrics_over_every_step(tmp_path, monkeypatch):
    logged, losses = [], []
    log = Classifier.log
    monkeypatch.setattr(Classifier, "log", lambda self, name, *a, **k: (
        logged.append((self.trainer.global_step, name)), log(self, name, *a, **k)))  # fmt: skip

    class Losses(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    trainer = fit(Classifier(NET, adam), tmp_path, max_epochs=2, limit_val_batches=0,
                  log_every_n_steps=3, callbacks=[Losses()])  # fmt: skip
    train_logs = [(s, n) for s, n in logged if n.startswith("train/")]
    # 4 steps per epoch: train/loss and train/acc once per epoch, the step loss where Lightning
    # writes it (steps 2 and 5: every 3rd) and nowhere else
    assert train_logs == [(0, "train/loss"), (0, "train/acc"), (2, "train/loss_step"),
                          (4, "train/loss"), (4, "train/acc"), (5, "train/loss_step")]  # fmt: skip
    # ... yet the epoch's train/loss is the mean over all of its 4 steps (equal batches)
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(
        sum(losses[4:]) / 4, rel=1e-5)  # fmt: skip
