"""callbacks/figures.py: the pictures come back as RGB arrays, at one scale for a whole grid."""

import numpy as np
import pytest
import torch

from fashion_resnet.callbacks import figures


def grey_levels(grid: np.ndarray) -> np.ndarray:
    """The grey pixels' levels: R == G == B (text is black on white, tiles grey)."""
    grey = (grid[..., 0] == grid[..., 1]) & (grid[..., 1] == grid[..., 2])
    return grid[..., 0][grey]


def test_image_grid_is_rgb_with_one_scale_for_every_tile():
    images = torch.stack([torch.zeros(1, 16, 16), torch.ones(1, 16, 16)])  # black, then white
    grid = figures.image_grid(images, ["a", "b"], value_range=(0.0, 2.0), title="one scale")
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    levels = np.bincount(grey_levels(grid), minlength=256)
    # on the scale 0..2 the ones are mid-grey, not white: a tile's own min/max is not used
    assert levels[:8].sum() > 1000 and levels[120:136].sum() > 1000


def test_image_grid_draws_colour_and_many_tiles():
    grid = figures.image_grid(torch.rand(10, 3, 12, 20), [f"{i}\nas x" for i in range(10)])
    assert grid.shape[2] == 3 and grid.shape[0] > 100


def test_image_grid_needs_a_title_per_image():
    with pytest.raises(ValueError, match="3 images but 2 titles"):
        figures.image_grid(torch.rand(3, 1, 8, 8), ["a", "b"])
