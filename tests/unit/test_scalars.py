"""callbacks/scalars.py: the config flattened into values TensorBoard's HPARAMS accepts."""

from fashion_resnet.callbacks.scalars import flatten


def test_flatten_gives_tensorboard_types():
    flat = flatten({"a": {"b": 1, "c": {"d": 0.5}}, "e": None, "f": True, "g": [1, 2], "h": "x"})
    assert flat == {"a.b": 1, "a.c.d": 0.5, "e": "None", "f": "True", "g": "[1, 2]", "h": "x"}
