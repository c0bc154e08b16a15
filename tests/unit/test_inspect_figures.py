"""Figure builders of the Inspect page: shapes, colour ranges, windows, labels."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from playground.analysis import network as I
from playground.analysis import spectra as SP
from playground.figures import inspection as IF


def weights(out=4, inn=2, k=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(out, inn, k, k)).astype(np.float32)


def test_tile_places_maps_with_gaps_and_owners():
    maps = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    tiled, owner = IF.tile(maps)
    assert tiled.shape == (2 * 2 + 1, 3 * 3 + 2)  # 3 columns x 2 rows of 2x3 tiles
    np.testing.assert_array_equal(tiled[:2, :3], maps[0])
    np.testing.assert_array_equal(tiled[3:5, 4:7], maps[4])
    assert np.isnan(tiled[2]).all() and (owner[2] == -1).all()
    assert owner[3, 4] == 4


def test_kernel_grid_layer_scale_is_symmetric_and_hover_has_real_values():
    w = weights()
    figure = IF.kernel_grid(w, "layer", first_out=8)
    heatmap = figure.data[0]
    limit = float(np.abs(w).max())
    assert heatmap.zmin == pytest.approx(-limit) and heatmap.zmax == pytest.approx(limit)
    assert heatmap.zmid == 0 and len(figure.data) == 1
    custom = np.asarray(heatmap.customdata)
    assert custom.shape == np.asarray(heatmap.z).shape + (3,)
    assert custom[0, 0, 1] == 8 and custom[0, 4, 2] == 1  # out 8, in 1 at the 2nd column
    assert custom[0, 0, 0] == pytest.approx(w[0, 0, 0, 0])


def test_kernel_grid_per_kernel_scale_stretches_each_kernel():
    w = weights()
    w[1] *= 100
    heatmap = IF.kernel_grid(w, "kernel").data[0]
    z = np.asarray(heatmap.z, dtype=float)
    custom = np.asarray(heatmap.customdata, dtype=float)
    assert np.nanmax(np.abs(z)) == pytest.approx(1.0)
    for out in range(w.shape[0]):  # each kernel stretched to its own largest |weight|
        for inn in range(w.shape[1]):
            pixels = z[(custom[..., 1] == out) & (custom[..., 2] == inn)]
            assert len(pixels) == 9 and np.abs(pixels).max() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        IF.kernel_grid(w, "global")


def test_kernel_grid_wraps_a_layer_with_few_inputs_into_a_wide_grid():
    w = weights(out=32, inn=3)
    heatmap = IF.kernel_grid(w).data[0]
    z = np.asarray(heatmap.z, dtype=float)
    custom = np.asarray(heatmap.customdata, dtype=float)
    assert z.shape[1] > z.shape[0]  # wider than tall, not a 3-kernel-wide strip
    for out in (0, 17, 31):  # every kernel is there once, with its real weights
        for inn in range(3):
            where = (custom[..., 1] == out) & (custom[..., 2] == inn)
            np.testing.assert_allclose(np.sort(z[where]), np.sort(w[out, inn].ravel()),
                                       rtol=1e-6)
    # an output channel's kernels sit side by side in one row
    assert len(np.nonzero((custom[..., 1] == 5).any(axis=1))[0]) == 3


def test_kernel_paging():
    w = weights(out=10)
    chunk, first = IF.kernel_page(w, 1, 4)
    assert first == 4 and len(chunk) == 4
    chunk, first = IF.kernel_page(w, 9, 4)  # past the end: the last page
    assert first == 8 and len(chunk) == 2


def test_rgb_kernels_are_an_image_with_grey_zero():
    w = weights(out=5, inn=3)
    w[0] = 0
    figure = IF.rgb_kernel_images(w)
    image = np.asarray(figure.data[0].z)
    assert isinstance(figure.data[0], go.Image) and image.shape[2] == 3
    assert (image[:3, :3] == 128).all()  # an all-zero kernel is mid grey
    with pytest.raises(ValueError):
        IF.rgb_kernel_images(weights(inn=1))


def test_feature_grid_and_clickable_map():
    maps = np.random.default_rng(0).normal(size=(6, 5, 5))
    grid = IF.feature_grid(maps, selected=4)
    assert grid.data[0].zmid == 0 and len(grid.layout.shapes) == 1
    figure = IF.clickable_map(maps[0], selected=(1, 2))
    scatter = figure.data[1]
    assert isinstance(scatter, go.Scatter) and len(scatter.x) == 25
    assert "rgba(0,0,0,0)" in scatter.marker.color
    assert tuple(scatter.customdata[7]) == (1, 2)


@pytest.mark.parametrize("window, clipped", [
    ((2, 3, 6, 7), (2, 3, 6, 7)),
    ((-2, -2, 2, 2), (0, 0, 2, 2)),
    ((25, 26, 29, 30), (25, 26, 27, 27)),
    ((30, 30, 32, 32), None),
])
def test_clip_window(window, clipped):
    assert IF.clip_window(window, (28, 28)) == clipped


def test_receptive_field_figure_shows_padding_when_the_window_leaves_the_image():
    image = np.zeros((28, 28, 1))
    inside = IF.receptive_field_on_input(image, (2, 2, 6, 6))
    assert len(inside.layout.shapes) == 1
    corner = IF.receptive_field_on_input(image, (-2, -2, 2, 2))
    assert len(corner.layout.shapes) == 3  # full window dashed, image border, clipped part
    assert corner.layout.shapes[0].line.dash == "dot"
    assert tuple(corner.layout.xaxis.range) == (-2.5, 27.5)


def test_receptive_window_matches_a_hand_computation():
    from playground import spec as S
    from playground.model.build import analyze

    model_spec = S.parse_spec({"version": 1, "name": "t", "input": [1, 12, 12],
                               "num_classes": 2, "layers": [
                                   {"type": "conv", "out_channels": 2, "kernel_size": 3,
                                    "padding": 1},
                                   {"type": "maxpool", "kernel_size": 2},
                                   {"type": "conv", "out_channels": 2, "kernel_size": 3}]})
    infos = analyze(model_spec).layers
    # conv(3, p1) -> pool(2) -> conv(3): output (0, 0) sees pool rows 0..2, conv rows 0..5,
    # input rows -1..6.
    assert I.receptive_window(infos, 2, 0, 0) == (-1, -1, 6, 6)
    assert IF.clip_window(I.receptive_window(infos, 2, 0, 0), (12, 12)) == (0, 0, 6, 6)


def test_pooling_figure_marks_winners_only_for_max():
    x = np.arange(16, dtype=float).reshape(1, 4, 4)
    result = I.pool_compare(x, 2)
    args = (x[0], result.max_output[0], result.avg_output[0], result.argmax_rows[0],
            result.argmax_cols[0], 2, 2)
    maxed = IF.pooling(*args, mode="max")
    assert [t.name for t in maxed.data if t.name] == ["windows", "max winner"]
    assert list(maxed.data[2].x) == [1, 3, 1, 3] and list(maxed.data[2].y) == [1, 1, 3, 3]
    np.testing.assert_array_equal(np.asarray(maxed.data[-1].z), result.max_output[0])
    averaged = IF.pooling(*args, mode="avg")
    assert "max winner" not in [t.name for t in averaged.data]
    np.testing.assert_array_equal(np.asarray(averaged.data[-1].z), result.avg_output[0])
    windows = maxed.data[1]
    assert sum(v is None for v in windows.x) == 4  # one outline per window
    # a window of ties (a dead ReLU's zeros) gets no winner mark
    x[0, :2, :2] = 0
    result = I.pool_compare(x, 2)
    tied = IF.pooling(x[0], result.max_output[0], result.avg_output[0], result.argmax_rows[0],
                      result.argmax_cols[0], 2, 2, mode="max")
    assert list(tied.data[2].x) == [3, 1, 3] and list(tied.data[2].y) == [1, 3, 3]


@pytest.mark.parametrize("name, label", [("box (mean)", "low-pass"),
                                         ("Laplacian", "high-pass"),
                                         ("Sobel x", "orientation-selective, 0°")])
def test_frequency_response_titles_and_scales(name, label):
    kernel = SP.reference_kernels()[name]
    figure = IF.frequency_response(SP.frequency_view(kernel, db=False))
    assert figure.layout.title.text == label
    spectrum = np.asarray(figure.data[1].z)
    assert spectrum.shape == (32, 32) and spectrum.min() >= 0
    db = IF.frequency_response(SP.frequency_view(kernel, db=True))
    z = np.asarray(db.data[1].z)
    assert z.max() - z.min() <= 60 + 1e-9  # dB view clipped to 60 dB of range


def test_convolution_theorem_and_reference_table():
    image = np.random.default_rng(0).random((16, 16))
    figure = IF.convolution_theorem(SP.theorem_view(image, SP.reference_kernels()["Sobel x"],
                                                        db=False))
    assert len(figure.data) == 6
    product = np.asarray(figure.data[3].z) * np.asarray(figure.data[4].z)
    np.testing.assert_allclose(np.asarray(figure.data[5].z), product, atol=1e-9)
    table = IF.reference_table(SP.reference_views())
    assert len(table.data) == 2 * len(SP.reference_kernels())
    texts = [a.text for a in table.layout.annotations]
    assert any("low-pass" in t for t in texts) and any("high-pass" in t for t in texts)


def test_probabilities_evolution_and_grad_cam():
    bars = IF.probabilities(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], true_class=2)
    assert list(bars.data[0].y) == ["a", "b", "c ✓"]
    evolution = IF.kernel_evolution([(0, np.ones((3, 3))), (50, -np.ones((3, 3)))])
    assert list(evolution.layout.xaxis.ticktext) == ["step 0", "step 50"]
    overlay = IF.grad_cam_overlay(np.zeros((28, 28, 1)), np.eye(7))
    assert np.asarray(overlay.data[1].z).shape == (28, 28)
    assert overlay.data[1].zmin == 0 and overlay.data[1].zmax == 1


def test_feature_grid_sends_little_and_averages_maps_too_big_to_send():
    small = np.random.default_rng(0).normal(size=(16, 32, 32)).astype(np.float32)
    grid = IF.feature_grid(small, "maps")
    assert np.asarray(grid.data[0].customdata).dtype == np.int16
    assert grid.layout.title.text == "maps"  # small enough: every pixel as it is
    big = np.random.default_rng(1).normal(size=(64, 112, 112)).astype(np.float32)
    shrunk, factor = IF.shrink_maps(big)
    assert factor == 3 and shrunk.shape == (64, 37, 37)
    assert shrunk.size <= IF.MAX_GRID_CELLS
    np.testing.assert_allclose(shrunk[5, 2, 3], big[5, 6:9, 9:12].mean(), rtol=1e-5)
    grid = IF.feature_grid(big, "maps", selected=5)
    assert np.asarray(grid.data[0].z).size <= 1.2 * IF.MAX_GRID_CELLS  # gaps included
    assert grid.layout.title.text == "maps (averaged over 3x3 blocks)"


def test_kernel_grid_hover_data_is_float32():
    custom = np.asarray(IF.kernel_grid(weights()).data[0].customdata)
    assert custom.dtype == np.float32
