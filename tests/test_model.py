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
    for folder in ("src", "scripts"):  # the configs are in src/fashion_resnet/conf
        for path in (root / folder).rglob("*.*"):
            if path.suffix in (".py", ".sh", ".yaml"):
                for doc in re.findall(r"\b(?:docs/)?[A-Z][A-Za-z_]*\.md\b", path.read_text()):
                    assert (root / doc).is_file() or (root / "docs" / doc).is_file(), (path, doc)
