"""models/classifier.py: the LightningModule: loss, metrics, optimizer and scheduler wiring (the
schedules themselves: test_schedules.py), soft targets, EMA and clipping through Lightning,
compile in place."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import NET, make_images
from pytorch_lightning.callbacks import EMAWeightAveraging, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from fashion_resnet.errors import ConfigError
from fashion_resnet.models import resnet
from fashion_resnet.models.classifier import Classifier
from fashion_resnet.runs import checkpoints


def loader(n=64, batch=16):
    labels = torch.arange(n) % 10
    x = make_images(labels, seed=0)[:, None].float() / 255
    return DataLoader(TensorDataset(x, labels), batch_size=batch)


def fit(model, tmp_path, **trainer_kw):
    # A bare Trainer: these are the LightningModule's unit tests (tests/test_train.py and the
    # others run it with the shipped callbacks and loggers); nothing here is a run's output.
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


def test_test_loss_is_the_mean_over_images_with_a_short_last_batch(tmp_path):
    model = Classifier(NET).eval()
    data = loader(n=72, batch=32)  # batches of 32, 32 and 8 images
    # a bare Trainer, as fit() above
    trainer = pl.Trainer(default_root_dir=tmp_path, accelerator="cpu", logger=False,
                         enable_model_summary=False)  # fmt: skip
    trainer.test(model, data)
    x, y = data.dataset.tensors
    with torch.no_grad():
        by_hand = torch.nn.functional.cross_entropy(model(x), y, reduction="sum") / len(y)
        batch_means = [torch.nn.functional.cross_entropy(model(a), b) for a, b in data]
    assert float(trainer.callback_metrics["test/loss"]) == pytest.approx(float(by_hand), rel=1e-5)
    # ... which the mean of the three batch means (torchmetrics 1.9 with nan_strategy="disable")
    # is not, so this test can tell the two apart:
    assert float(torch.stack(batch_means).mean()) != pytest.approx(float(by_hand), rel=1e-4)


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
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1.0"),
    ],
)
def test_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Classifier(NET, **kwargs)


SGD = functools.partial(torch.optim.SGD, lr=0.1)


def test_ema_weights_are_validated_and_checkpointed(tmp_path):
    ema = EMAWeightAveraging(decay=0.5)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model = Classifier(NET, SGD)
    trainer = fit(model, tmp_path, max_epochs=2, callbacks=[ema, ckpt])
    logged = float(trainer.callback_metrics["val/loss"])
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    # the checkpoint's weights are the average; the raw ones are kept beside them
    average = ema._average_model.module.state_dict()
    assert torch.equal(saved["state_dict"]["net.head.2.weight"], average["net.head.2.weight"])
    raw = saved["current_model_state"]["net.head.2.weight"]
    assert not torch.allclose(saved["state_dict"]["net.head.2.weight"], raw)
    # what fashion-eval and fashion-export load is the average
    loaded, _ = checkpoints.load_model(tmp_path / "ckpt" / "last.ckpt")
    assert torch.equal(loaded.state_dict()["net.head.2.weight"], average["net.head.2.weight"])
    # ... and validating the checkpoint's weights gives the val/loss logged during fit
    reloaded = Classifier.load_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    # a bare Trainer, as fit() above: a unit test of the checkpoint's weights, not a run
    check = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    (result,) = check.validate(reloaded, loader(), verbose=False)
    assert result["val/loss"] == pytest.approx(logged, rel=1e-5)


def test_soft_targets_give_the_mixed_loss_and_dominant_label_accuracy():
    model = Classifier(NET)
    x = torch.randn(4, 1, 28, 28)
    y = torch.tensor([1, 2, 3, 4])
    soft = 0.7 * torch.nn.functional.one_hot(y, 10) + 0.3 * torch.nn.functional.one_hot(y - 1, 10)
    with torch.no_grad():
        loss, logits, target = model._step((x, soft))
    hard = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    other = torch.nn.functional.cross_entropy(logits, y - 1, reduction="none")
    assert loss == pytest.approx(float((0.7 * hard + 0.3 * other).mean()), rel=1e-5)
    assert torch.equal(target, y)


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_gradient_clipping_bounds_the_update(tmp_path, clip):
    """Plain SGD with lr 1: the step moves the weights by exactly the (clipped) gradient."""
    model = Classifier(NET, functools.partial(torch.optim.SGD, lr=1.0))
    before = [p.detach().clone() for p in model.parameters()]
    fit(model, tmp_path, max_steps=1, limit_val_batches=0, gradient_clip_val=clip)
    after = model.parameters()
    moved = torch.stack([(p.detach() - b).norm() for p, b in zip(after, before, strict=True)])
    if clip:
        assert moved.norm() == pytest.approx(clip, rel=1e-3)
    else:
        assert moved.norm() > 100 * 1e-3


def test_compile_keeps_state_dict_keys():
    torch.manual_seed(0)
    eager = Classifier(NET)
    torch.manual_seed(0)
    compiled = Classifier(NET, compile=True)
    # nn.Module.compile() in place: no "_orig_mod." prefix, so checkpoints load either way.
    assert compiled.net._compiled_call_impl is not None
    assert eager.net._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    eager.load_state_dict(compiled.state_dict())


def test_compiled_net_trains_like_the_eager_one(monkeypatch):
    """A forward and a backward through the compiled graph: same loss, same gradients.
    Dynamo captures the graphs and AOTAutograd builds the backward as with the default
    backend; aot_eager then runs them with eager kernels (inductor's C++ code generation
    takes minutes on 2 CPU cores: that part is torch's, not ours)."""
    compile_ = torch.nn.Module.compile

    def compile_aot_eager(self, **kw):
        return compile_(self, **{"backend": "aot_eager", **kw})

    monkeypatch.setattr(torch.nn.Module, "compile", compile_aot_eager)
    torch.manual_seed(0)
    eager = Classifier({"arch": "resnet18", "stem": "cifar"})
    compiled = Classifier({"arch": "resnet18", "stem": "cifar"}, compile=True)
    compiled.load_state_dict(eager.state_dict())
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 3, 5, 9])
    grads = []
    for model in (eager, compiled):
        loss = F.cross_entropy(model.train()(x), y)
        loss.backward()
        grads.append((loss.detach(), model.net.stem[0].weight.grad.clone()))
    assert compiled.net._compiled_call_impl is not None
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)


@pytest.mark.slow  # ~20 s on 2 busy cores: inductor compiles C++ kernels
def test_compiled_forward_and_backward_match_eager_on_cpu():
    # A small net of the project's own blocks, compiled in place as Classifier(compile=True)
    # does (nn.Module.compile): inductor's forward and backward code, in seconds not minutes.
    def small() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(
            resnet.BasicBlock(1, 8, stride=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(8, 10),
        )  # fmt: skip

    eager, compiled = small(), small()
    compiled.compile()
    x, y = torch.rand(4, 1, 16, 16), torch.arange(4)
    grads = []
    for model in (eager, compiled):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads.append([p.grad for p in model.parameters()])
    assert compiled._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no _orig_mod. prefix
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)


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
    # checked here only (config/validate.py does not repeat it): one line naming the choices
    with pytest.raises(ConfigError, match="Unknown model.compile_mode='fastest'; choose one of: "
                                          "default, reduce-overhead, max-autotune"):
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

