"""Seconds of callbacks.figures.image_grid for the first training batch's grid as InputGrid
draws it (64 grey 28 px images, a class name each, one title): the median of 5 calls after a
warm-up, in whichever fashion_resnet PYTHONPATH gives.
    PYTHONPATH=<checkout>/src python grid_time.py"""

import statistics
import time

import torch

from fashion_resnet.callbacks import figures

torch.manual_seed(0)
x = torch.rand(64, 1, 28, 28)
titles = ["T-shirt/top", "Ankle boot", "Pullover", "Sneaker"] * 16
title = "model input (1, 28, 28), values in [0.000, 1.000]"
figures.image_grid(x, titles, (0.0, 1.0), title)
times = []
for _ in range(5):
    t0 = time.perf_counter()
    figures.image_grid(x, titles, (0.0, 1.0), title)
    times.append(time.perf_counter() - t0)
print(f"{figures.__file__}: median {statistics.median(times):.3f} s, min {min(times):.3f}, "
      f"max {max(times):.3f}")
