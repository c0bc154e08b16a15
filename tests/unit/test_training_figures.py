"""The Train page's figure builders, by the layout of the figures they build."""
from __future__ import annotations

import numpy as np

from playground.figures import training

RNG = np.random.default_rng(0)


def test_a_colour_first_layer_is_a_near_square_grid_of_colour_tiles():
    """TinyVGG's first conv on CIFAR-10: 32 kernels of 3 channels. As a heatmap they were
    one thin strip, 32 rows of three specks; as colour pictures they wrap into a grid."""
    figure = training.first_layer_kernels(RNG.normal(size=(32, 3, 3, 3)), "t", height=460)
    image = figure.data[0]
    assert image.type == "image"
    rows, columns, channels = np.asarray(image.z).shape
    assert channels == 3
    assert 0.5 <= rows / columns <= 2  # near square, not a strip
    tiles_across = (columns + 1) // 4  # 3x3 kernels, a 1-pixel gap between tiles
    assert tiles_across >= 5
    assert figure.layout.height == 460


def test_a_grey_first_layer_keeps_its_heatmap():
    figure = training.first_layer_kernels(RNG.normal(size=(6, 1, 5, 5)), "t")
    assert figure.data[0].type == "heatmap"
