"""callbacks/pictures.py: the validation figures' confusion matrix, per-class accuracy and
worst mistakes, fed by hand."""

import types

import pytest
import torch

from fashion_resnet.callbacks.pictures import ValidationFigures


class Recorder:
    device = torch.device("cpu")

    def __init__(self):
        self.logged = {}

    def log_dict(self, values, **how):
        self.logged.update(values)
        self.how = how  # under DDP the values must say they are synced (no warning per class)


def test_validation_figures_accumulate_confusion_and_keep_the_worst_mistakes():
    cb = ValidationFigures(max_misclassified=2, class_names=["a", "b", "c"])
    trainer = types.SimpleNamespace(sanity_checking=False, is_global_zero=True, loggers=[])
    module = Recorder()
    cb.on_validation_epoch_start(trainer, module)
    y = torch.tensor([0, 1, 2, 2])
    # predictions 0 (right), 2 (wrong, p high), 0 (wrong, p low), 2 (right)
    logits = torch.tensor([[5.0, 0, 0], [0, 0, 9], [1, 0, 0.5], [0, 0, 3]])
    x = torch.arange(4.0).view(4, 1, 1, 1)
    cb.on_validation_batch_end(trainer, module, logits, (x, y), 0)
    cb.on_validation_batch_end(trainer, module, logits[:1] * 0 + torch.tensor([0, 7.0, 0]),
                               (x[:1] + 10, y[:1]), 1)  # fmt: skip
    cb.on_validation_epoch_end(trainer, module)
    assert cb.confmat.compute().tolist() == [[1, 1, 0], [0, 0, 1], [1, 0, 1]]
    assert module.logged == {"val_class_acc/a": 0.5, "val_class_acc/b": 0.0, "val_class_acc/c": 0.5}
    assert module.how == {"sync_dist": True, "reduce_fx": "max"}  # equal on all ranks: exact
    conf, images, labels, preds = cb.worst
    assert images.flatten().tolist() == [1.0, 10.0]  # the two most confident mistakes
    assert preds.tolist() == [2, 1] and labels.tolist() == [1, 0]
    with pytest.raises(TypeError, match="needs validation_step to return the logits"):
        cb.on_validation_batch_end(trainer, module, None, (x, y), 2)


class Writer:
    def __init__(self):
        self.images = []

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, step))



def test_validation_figures_in_a_fit_at_most_once_per_interval_and_the_last(monkeypatch):
    import fashion_resnet.callbacks.pictures as views

    writer, clock, epoch = Writer(), [0.0], [0]
    monkeypatch.setattr(views, "tensorboard", lambda trainer: writer)
    monkeypatch.setattr(views, "step", lambda trainer: epoch[0])
    monkeypatch.setattr(views.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(views.figures, "confusion_matrix", lambda counts, names: "cm")
    cb = ValidationFigures(class_names=["a", "b"], interval_s=60)
    fit = types.SimpleNamespace(sanity_checking=False, state=types.SimpleNamespace(fn="fit"))
    module = Recorder()
    logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])  # right: no mistakes to show
    for epoch[0], clock[0] in enumerate([0.0, 10.0, 70.0, 75.0]):  # seconds into the run
        cb.on_validation_epoch_start(fit, module)
        cb.on_validation_batch_end(fit, module, logits, (torch.zeros(1, 1, 2, 2), y), 0)
        cb.on_validation_epoch_end(fit, module)
    assert writer.images == [("val/confusion_matrix", 0), ("val/confusion_matrix", 2)]
    cb.on_train_end(fit, module)  # the last validation's turn was skipped: drawn now
    assert writer.images[-1] == ("val/confusion_matrix", 3) and len(writer.images) == 3
    cb.on_train_end(fit, module)
    assert len(writer.images) == 3  # nothing pending: nothing drawn twice
    check = types.SimpleNamespace(sanity_checking=False, state=types.SimpleNamespace(fn="validate"))
    cb.on_validation_epoch_start(check, module)
    cb.on_validation_epoch_end(check, module)  # Trainer.validate, not a fit: always drawn
    assert len(writer.images) == 4
    with pytest.raises(ValueError, match="interval_s must be >= 0"):
        ValidationFigures(interval_s=-1)

