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
