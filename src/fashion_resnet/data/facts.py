"""A dataset's facts: what the model head, the views, predict and export need to know about it,
read from its DataModule (or from a checkpoint, which stores them) instead of constants of their
own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFacts:
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]  # one image as stored and batched: (H, W) grey, or (C, H, W)
    mean: tuple[float, ...] | None  # per channel, of pixels scaled to [0, 1]; None: not measured
    std: tuple[float, ...] | None
    train_images: int  # before the validation split
    test_images: int

    @property
    def channels(self) -> int:
        return 1 if len(self.image_shape) == 2 else self.image_shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)
