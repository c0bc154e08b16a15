"""Inspection functions: snapshots, activations, pooling winners, spectra, receptive windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from playground.analysis import network as I
from playground.analysis import spectra as SP
from playground import spec as S
from playground.model.build import analyze, build_model

PRESETS = Path(__file__).resolve().parents[2] / "assets" / "presets"

BOX = np.ones((3, 3)) / 9
GAUSSIAN = np.outer(*[np.exp(-np.arange(-2, 3) ** 2 / 2.0)] * 2)
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)


def preset(name: str) -> S.ModelSpec:
    return S.load_spec(PRESETS / f"{name}.json")


def network_for(name: str, seed: int = 0) -> nn.Module:
    return build_model(preset(name), "cpu", torch.Generator().manual_seed(seed))


def probe_for(model_spec: S.ModelSpec, seed: int = 0) -> torch.Tensor:
    return torch.randn(*model_spec.input, generator=torch.Generator().manual_seed(seed))


def tiny_spec(layers: list[dict], input_shape=(1, 4, 4)) -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": "tiny", "input": list(input_shape),
                         "num_classes": 2, "layers": layers})


# --- snapshots ----------------------------------------------------------------------------

def test_snapshot_is_independent_eval_and_frozen():
    network = network_for("resnet_cifar10").train()
    snapshot = I.snapshot_model(network)
    before = {k: v.clone() for k, v in snapshot.state_dict().items()}
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(1.0)
    for key, value in snapshot.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not snapshot.training and not any(m.training for m in snapshot.modules())
    assert not any(p.requires_grad for p in snapshot.parameters())
    assert network.training  # the original is left as it was


def test_snapshot_copies_a_dropout_with_a_generator():
    network = build_model(tiny_spec([{"type": "conv", "out_channels": 2, "kernel_size": 3},
                                     {"type": "dropout"}]))
    network[1].generator = torch.Generator().manual_seed(0)
    snapshot = I.snapshot_model(network)
    assert snapshot[1].generator is None and network[1].generator is not None


def test_model_from_state_loads_the_weights():
    model_spec = preset("mnist_fast")
    network = network_for("mnist_fast", seed=3)
    rebuilt = I.model_from_state(model_spec, network.state_dict())
    assert not rebuilt.training
    probe = probe_for(model_spec)
    np.testing.assert_allclose(I.predict(rebuilt, probe), I.predict(network, probe), atol=1e-6)
    np.testing.assert_array_equal(I.kernels(rebuilt, 3), I.kernels(network, 3))


# --- kernels and activations ------------------------------------------------------------

def test_conv_layers_and_kernels():
    network = network_for("lenet5")
    assert I.conv_layers(network) == [0, 3]
    weights = I.kernels(network, 3)
    assert weights.dtype == np.float32 and weights.shape == (16, 6, 5, 5)
    np.testing.assert_array_equal(weights, network[3].weight.detach().numpy())
    with pytest.raises(ValueError, match="not a conv"):
        I.kernels(network, 1)


def test_activations_one_entry_per_layer_with_shapes():
    model_spec = preset("lenet5")
    network = network_for("lenet5")
    result = I.activations(network, probe_for(model_spec))
    infos = analyze(model_spec).layers
    assert [a.index for a in result] == [info.index for info in infos]
    assert [a.type for a in result] == [info.type for info in infos]
    assert [a.output.shape for a in result] == [info.output_shape for info in infos]
    assert result[0].output.shape == (6, 28, 28)
    # tanh after the first conv: its pre-activation is the conv's output
    np.testing.assert_array_equal(result[1].pre_activation, result[0].output)
    np.testing.assert_allclose(result[1].output, np.tanh(result[0].output), atol=1e-6)
    assert result[0].pre_activation is None


def test_activation_stats_and_batched_probe():
    model_spec = preset("mnist_fast")
    network = network_for("mnist_fast")
    probe = probe_for(model_spec)
    relu = I.activations(network, probe.unsqueeze(0))[1]
    assert relu.type == "relu"
    out = relu.output
    assert (relu.min, relu.max, relu.mean) == pytest.approx((out.min(), out.max(), out.mean()))
    np.testing.assert_array_equal(out, np.maximum(relu.pre_activation, 0))


def test_activations_on_a_batchnorm_model_leave_it_untouched():
    model_spec = preset("resnet_cifar10")
    network = network_for("resnet_cifar10").train()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    result = I.activations(network, probe_for(model_spec))  # one image: eval mode needed
    assert [a.output.shape for a in result][:6] == [
        (16, 32, 32), (16, 32, 32), (16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8)]
    block = result[4]
    assert block.type == "residual"
    np.testing.assert_allclose(block.output, np.maximum(block.pre_activation, 0))
    assert network.training and all(m.training for m in network.modules())
    for key, value in network.state_dict().items():  # running stats included
        assert torch.equal(value, before[key]), key
    assert not network._forward_hooks and not network[4].relu._forward_hooks


def test_hooks_are_removed_after_an_error():
    network = network_for("mnist_fast")
    with pytest.raises(RuntimeError):
        I.activations(network, torch.zeros(3, 28, 28))  # wrong channel count
    assert all(not child._forward_hooks for child in network.children())
    assert network.training


def test_predict_is_a_distribution():
    model_spec = preset("tinyvgg_cifar10")
    probabilities = I.predict(I.snapshot_model(network_for("tinyvgg_cifar10")),
                              probe_for(model_spec))
    assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert (probabilities >= 0).all()


# --- max pooling --------------------------------------------------------------------------

def test_max_pool_winners_on_a_hand_made_example():
    image = np.array([[1., 9., 2., 3.],
                      [4., 5., 8., 1.],
                      [7., 0., 2., 2.],
                      [3., 6., 4., 5.]], dtype=np.float32).reshape(1, 4, 4)
    result = I.pool_compare(image, 2)
    np.testing.assert_array_equal(result.max_output[0], [[9, 8], [7, 5]])
    np.testing.assert_array_equal(result.argmax_rows[0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(result.argmax_cols[0], [[1, 2], [0, 3]])


def test_max_pool_winners_with_padding_index_the_unpadded_input():
    image = -np.arange(16.0, dtype=np.float32).reshape(1, 4, 4)  # top-left is the largest
    result = I.pool_compare(image, 3, stride=2, padding=1)
    # windows start at rows/cols -1 and 1: the winner is each window's first real pixel
    np.testing.assert_array_equal(result.argmax_rows[0], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(result.argmax_cols[0], [[0, 1], [0, 1]])
    values = image[0][result.argmax_rows[0], result.argmax_cols[0]]
    np.testing.assert_array_equal(values, result.max_output[0])


def test_max_pool_winners_in_a_preset_agree_with_activations():
    model_spec = preset("mnist_fast")
    network = network_for("mnist_fast")
    outputs = {a.index: a.output for a in I.activations(network, probe_for(model_spec))}
    pools = [i for i, layer in enumerate(model_spec.layers) if layer.TYPE == "maxpool"]
    assert pools == [2, 5]
    for index in pools:
        layer, features = model_spec.layers[index], outputs[index - 1]
        result = I.pool_compare(features, layer.kernel_size, layer.stride, layer.padding)
        channels = np.arange(features.shape[0])[:, None, None]
        winners = features[channels, result.argmax_rows, result.argmax_cols]
        np.testing.assert_array_equal(winners, result.max_output)
        np.testing.assert_array_equal(result.max_output, outputs[index])


# --- frequency response -------------------------------------------------------------------

def numpy_spectrum(kernel: np.ndarray, size: int) -> np.ndarray:
    return np.abs(np.fft.fftshift(np.fft.fft2(kernel, s=(size, size))))


@pytest.mark.parametrize("k,size", [(3, 32), (5, 16), (1, 8), (7, 33)])
def test_kernel_spectrum_matches_numpy(k, size):
    kernel = np.random.default_rng(k).normal(size=(k, k)).astype(np.float32)
    expected = numpy_spectrum(kernel, size)
    np.testing.assert_allclose(SP.kernel_spectrum(kernel, size), expected, atol=1e-5)
    np.testing.assert_allclose(SP.kernel_spectrum(kernel, size, db=True),
                               20 * np.log10(expected + SP.DB_EPS), atol=1e-4)


def test_kernel_spectrum_has_dc_in_the_centre():
    spectrum = SP.kernel_spectrum(BOX, 16)
    assert spectrum[8, 8] == pytest.approx(1.0)  # DC of a normalised box is its sum
    assert spectrum.argmax() == 8 * 16 + 8


def test_kernel_spectra_of_a_layer_match_one_by_one():
    network = network_for("tinyvgg_cifar10")
    spectra = I.kernel_spectra(network, 2, size=16)
    weights = I.kernels(network, 2)
    assert spectra.shape == (32, 32, 16, 16)
    for out, inp in [(0, 0), (5, 17), (31, 31)]:
        np.testing.assert_allclose(spectra[out, inp], numpy_spectrum(weights[out, inp], 16),
                                   atol=1e-5)
    db = I.kernel_spectra(network, 2, size=16, db=True)
    np.testing.assert_allclose(db, 20 * np.log10(spectra + SP.DB_EPS), atol=1e-4)


def test_radial_profile_of_a_delta_is_flat():
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    radii, values = SP.radial_profile(SP.kernel_spectrum(delta, 32))
    assert radii[0] == 0 and radii[-1] == pytest.approx(0.5) and len(radii) == 17
    np.testing.assert_allclose(values, 1.0)


def test_radial_profile_of_a_blur_falls():
    radii, values = SP.radial_profile(SP.kernel_spectrum(GAUSSIAN / GAUSSIAN.sum(), 32))
    assert values[0] == pytest.approx(1.0)
    assert (np.diff(values) <= 1e-9).all()


@pytest.mark.parametrize("kernel,label", [
    (BOX, "low-pass"), (np.ones((5, 5)), "low-pass"), (GAUSSIAN, "low-pass"),
    (LAPLACIAN, "high-pass"), (-LAPLACIAN, "high-pass"),
    (np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]]), "high-pass"),
    (SOBEL_X, "band-pass"), (SOBEL_X.T, "band-pass"),
    (np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), "mixed/flat"), (np.zeros((3, 3)), "mixed/flat"),
])
def test_frequency_labels(kernel, label):
    assert SP.frequency_label(kernel) == label


# --- receptive windows --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lenet5", "mnist_fast", "resnet_cifar10", "tinyvgg_cifar10"])
def test_receptive_window_size_matches_the_analysis(name):
    infos = analyze(preset(name)).layers
    for info in infos:
        if info.receptive_field is None:
            with pytest.raises(ValueError):
                I.receptive_window(infos, info.index, 0, 0)
            continue
        _, height, width = info.output_shape
        row, col = height // 2, width // 2
        top, left, bottom, right = I.receptive_window(infos, info.index, row, col)
        assert bottom - top + 1 == info.receptive_field, info
        assert right - left + 1 == info.receptive_field, info
        # the next pixel's window moves by the layer's jump
        if col + 1 < width:
            assert I.receptive_window(infos, info.index, row, col + 1)[1] - left == info.jump


def test_receptive_window_of_a_padded_conv_starts_in_the_padding():
    infos = analyze(preset("lenet5")).layers
    assert I.receptive_window(infos, 0, 0, 0) == (-2, -2, 2, 2)
    assert I.receptive_window(infos, 1, 27, 27) == (25, 25, 29, 29)  # tanh keeps the window
    # after the avgpool (2x2, stride 2) the window is 6 wide and steps by 2
    assert I.receptive_window(infos, 2, 0, 1) == (-2, 0, 3, 5)


def test_receptive_window_through_a_dilated_strided_conv():
    infos = analyze(tiny_spec([{"type": "conv", "out_channels": 1, "kernel_size": 3,
                                "stride": 2, "padding": 1, "dilation": 2}],
                              input_shape=(1, 9, 9))).layers
    # output pixel 1 starts at 1*2 - 1 = 1 and reaches (3-1)*2 = 4 further
    assert I.receptive_window(infos, 0, 1, 0) == (1, -1, 5, 3)
    assert 5 - 1 + 1 == infos[0].receptive_field


def test_receptive_window_through_bottleneck_blocks_and_pools():
    infos = analyze(tiny_spec([
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "dilation": 2},
        {"type": "residual", "out_channels": 8, "stride": 2, "bottleneck_width": 2},
        {"type": "maxpool", "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "residual", "out_channels": 8},
    ], input_shape=(1, 32, 32))).layers
    for info in infos[:4]:
        row = info.output_shape[1] // 2
        top, left, bottom, right = I.receptive_window(infos, info.index, row, row)
        assert bottom - top + 1 == right - left + 1 == info.receptive_field, info


# --- convs inside residual blocks ---------------------------------------------------------

BLOCKS = tiny_spec([
    {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "residual", "out_channels": 4},                                  # identity
    {"type": "residual", "out_channels": 8, "stride": 2, "bottleneck_width": 2},  # projection
], input_shape=(1, 8, 8))


def test_conv_units_name_every_conv_in_forward_order():
    network = build_model(BLOCKS)
    units = I.conv_units(network)
    assert [u.label for u in units] == [
        "layer 0 conv (3x3, 1→4)",
        "layer 1 residual · conv1 (3x3, 4→4)",
        "layer 1 residual · conv2 (3x3, 4→4)",
        "layer 2 residual · conv1 (1x1, 4→2)",
        "layer 2 residual · conv2 (3x3, 2→2, stride 2)",
        "layer 2 residual · conv3 (1x1, 2→8)",
        "layer 2 residual · projection shortcut (1x1, 4→8, stride 2)",
    ]
    convs = {n: m for n, m in network.named_modules() if isinstance(m, nn.Conv2d)}
    assert {u.name for u in units} == set(convs)  # nothing left out
    state = network.state_dict()
    for unit in units:
        assert state[unit.weight_key].shape == convs[unit.name].weight.shape


def test_conv_activation_inside_a_block_is_that_conv_applied_to_what_it_saw():
    network = I.snapshot_model(build_model(BLOCKS, "cpu", torch.Generator().manual_seed(1)))
    probe = probe_for(BLOCKS)
    seen = I.conv_activation(network, probe, "2.body.3")   # the strided 3x3 of the bottleneck
    conv = network.get_submodule("2.body.3")
    expected = conv(torch.as_tensor(seen.input)[None])[0].numpy()
    np.testing.assert_allclose(seen.output, expected, atol=1e-6)
    assert seen.input.shape == (2, 8, 8) and seen.output.shape == (2, 4, 4)
    # it feeds BatchNorm then ReLU: before = BN output, after = its ReLU
    bn = network.get_submodule("2.body.4")
    before = bn(torch.as_tensor(seen.output)[None])[0].numpy()
    np.testing.assert_allclose(seen.pre_activation, before, atol=1e-5)
    np.testing.assert_allclose(seen.activated, np.maximum(before, 0), atol=1e-5)
    # the last conv of a block has no ReLU of its own (it comes after the add)
    last = I.conv_activation(network, probe, "2.body.6")
    assert last.pre_activation is None and last.activated is None
    with pytest.raises(ValueError, match="not a conv"):
        I.conv_activation(network, probe, "2.body.4")


def test_receptive_window_of_convs_inside_blocks():
    network = build_model(BLOCKS)
    units = {u.name: u for u in I.conv_units(network)}
    infos = analyze(BLOCKS).layers
    # layer 0 (3x3, pad 1) maps pixel (2, 2) to rows 1..3; conv1 of block 1 adds one more
    # ring, conv2 (= the whole block) another
    assert I.receptive_window(infos, 1, 2, 2, units["1.body.0"]) == (0, 0, 4, 4)
    assert I.receptive_window(infos, 1, 2, 2, units["1.body.3"]) == I.receptive_window(
        infos, 1, 2, 2)
    # the projection shortcut: 1x1 stride 2 from block 1's output, pixel (1, 1) -> (2, 2)
    assert I.receptive_window(infos, 2, 1, 1, units["2.shortcut.0"]) == (-1, -1, 5, 5)
    with pytest.raises(ValueError, match="not part of layer 1"):
        I.receptive_window(infos, 1, 0, 0, units["2.body.0"])


# --- orientation, references, convolution theorem, pooling, Grad-CAM ----------------------

def test_reference_kernel_characters():
    """Box and Gaussian are low-pass, the Laplacian high-pass, Sobel x orientation-selective
    at 0 degrees (it responds to change along x) and Sobel y at 90 degrees."""
    references = SP.reference_kernels()
    assert SP.kernel_character(references["box (mean)"]) == ("low-pass", None)
    assert SP.kernel_character(references["Gaussian"]) == ("low-pass", None)
    assert SP.kernel_character(references["Laplacian"]) == ("high-pass", None)
    label, angle = SP.kernel_character(references["Sobel x"])
    assert label == "orientation-selective" and angle == pytest.approx(0, abs=1e-6)
    label, angle = SP.kernel_character(references["Sobel y"])
    assert label == "orientation-selective" and angle == pytest.approx(90, abs=1e-6)


def test_dominant_orientation_of_a_diagonal_edge():
    diagonal = np.array([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], dtype=float)  # ramps up-right
    angle, selectivity = SP.dominant_orientation(diagonal)
    assert angle == pytest.approx(45, abs=1) and selectivity > 0.2
    assert SP.dominant_orientation(np.zeros((3, 3))) == (0.0, 0.0)


@pytest.mark.parametrize("shape", [(3, 3), (5, 5), (2, 4)])
def test_convolution_theorem_with_circular_padding(shape):
    generator = np.random.default_rng(1)
    image, kernel = generator.normal(size=(12, 10)), generator.normal(size=shape)
    filtered = SP.circular_filter(image, kernel)
    assert filtered.shape == image.shape
    np.testing.assert_allclose(np.fft.fft2(filtered),
                               np.fft.fft2(image) * SP.kernel_transfer(kernel, image.shape),
                               atol=1e-9)
    # and the filter is conv2d's cross-correlation in the interior
    reference = torch.nn.functional.conv2d(torch.tensor(image)[None, None],
                                           torch.tensor(kernel)[None, None])[0, 0].numpy()
    top, left = shape[0] // 2, shape[1] // 2
    np.testing.assert_allclose(filtered[top:top + reference.shape[0],
                                        left:left + reference.shape[1]], reference, atol=1e-9)


def test_centred_magnitude_has_dc_in_the_middle():
    magnitude = SP.centred_magnitude(np.ones((8, 8)))
    assert magnitude[4, 4] == pytest.approx(64) and magnitude.sum() == pytest.approx(64)


def test_pool_compare_on_a_hand_made_example():
    x = np.array([[[1, 5, 0, 0], [2, 3, 0, 8], [0, 0, 4, 4], [9, 0, 4, 4]]], dtype=float)
    result = I.pool_compare(x, 2)
    np.testing.assert_array_equal(result.max_output[0], [[5, 8], [9, 4]])
    np.testing.assert_allclose(result.avg_output[0], [[2.75, 2], [2.25, 4]])
    assert (result.argmax_rows[0, 0, 0], result.argmax_cols[0, 0, 0]) == (0, 1)
    assert (result.argmax_rows[0, 1, 0], result.argmax_cols[0, 1, 0]) == (3, 0)


def test_grad_cam_on_a_preset_snapshot():
    model_spec = preset("lenet5")
    network = I.snapshot_model(network_for("lenet5"))
    infos = analyze(model_spec).layers
    index = I.last_spatial_layer(infos)
    assert index == 5
    cam, chosen = I.grad_cam(network, probe_for(model_spec), index)
    assert cam.shape == (5, 5) and 0 <= cam.min() and cam.max() <= 1
    assert chosen == int(np.argmax(I.predict(network, probe_for(model_spec))))
    assert not any(p.requires_grad for p in network.parameters())
    assert all(p.grad is None for p in network.parameters())
    with pytest.raises(ValueError, match="flat output"):
        I.grad_cam(network, probe_for(model_spec), 7)
