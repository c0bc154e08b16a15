"""Every number the lessons on how convolution works (and the going-deeper lesson) show,
checked against torch, OpenCV or SciPy."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal
from torch import nn

from playground import spec as S
from playground.figures.lessons.activations import activation_curves
from playground.figures.lessons.convolution import conv_step
from playground.figures.lessons.grids import heatmaps
from playground.figures.lessons.normalisation import channel_bars
from playground.figures.lessons.pooling import shift_curves
from playground.figures.lessons.receptive_fields import receptive_growth, receptive_window
from playground.figures.lessons.weight_sharing import count_bars
from playground.lessons.activations import (ACTIVATIONS, ACTIVATION_FORMULAS, activate,
                                            activation_curve, compose_convs, stacked_vs_single)
from playground.lessons.channels import conv_params, conv_params_latex, multichannel
from playground.lessons.convolution import (conv_reference, conv_steps, convolution_kind,
                                            mac_terms, output_size, output_size_latex)
from playground.lessons.correlation import correlation_vs_convolution
from playground.lessons.deeper import (MAX_BLOCKS, _digits, bottleneck_count, bottleneck_latex,
                                       conv3x3_layers, degradation_experiment,
                                       plain_stack_spec, residual_stack_spec, resnet_spec,
                                       stage_rows)
from playground.lessons.frequency import (convolution_theorem, gaussian_half_power_frequency,
                                          gaussian_kernel, half_power_cutoff, high_pass,
                                          magnitude_cutoff)
from playground.lessons.kernels import kernel_preset
from playground.lessons.latex import sci_latex
from playground.lessons.normalisation import batchnorm_check, dropout_demo, residual_info
from playground.lessons.pooling import (mnist_digits, model_shift_experiment, pooled, shift,
                                        shift_batch, shift_experiment, shift_network)
from playground.lessons.receptive_fields import (measured_receptive_field, receptive_fields,
                                                 stack_params)
from playground.lessons.samples import crop, sample_digit, sample_gray, sample_photo
from playground.lessons.weight_sharing import connection_counts, connection_latex
from playground.model import build as M


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    return sample_digit(3)


# --- samples ------------------------------------------------------------------------------

def test_samples_are_real_images():
    photo = sample_photo(40)
    assert photo.shape == (40, 40, 3) and 0 <= photo.min() and photo.max() <= 1
    assert photo.std() > 0.05
    gray = sample_gray(32)
    assert gray.shape == (32, 32)
    digit = sample_digit(7)
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(1.0, abs=0.05)
    assert (digit == 0).mean() > 0.5      # MNIST: a white digit on black
    sample = sample_digit(7)
    sample[:] = 0                          # callers get copies, not the cached array
    assert sample_digit(7).max() > 0


# --- lesson 1 -----------------------------------------------------------------------------

@pytest.mark.parametrize("stride,padding,dilation", [
    (1, 0, 1), (1, 1, 1), (2, 1, 1), (1, 2, 2), (3, 3, 1), (2, 0, 3), (1, 2, 1)])
def test_step_by_step_equals_conv2d(digit, stride, padding, dilation):
    grid = crop(digit, 10, 10, 8)
    kernel = kernel_preset("Sobel x")
    steps = conv_steps(grid, kernel, stride, padding, dilation, bias=0.25)
    reference = F.conv2d(torch.tensor(grid)[None, None], torch.tensor(kernel)[None, None],
                         torch.tensor([0.25], dtype=torch.float64), stride=stride,
                         padding=padding, dilation=dilation)[0, 0].numpy()
    assert steps.output.shape == reference.shape
    np.testing.assert_allclose(steps.output, reference, atol=1e-12)
    out_h, out_w = reference.shape
    assert output_size(8, 3, stride, padding, dilation) == out_h
    assert len(steps.steps) == out_h * out_w
    for step in steps.steps:
        assert step.products.sum() + 0.25 == pytest.approx(step.value)
        np.testing.assert_allclose(step.products, step.inputs * kernel)
    assert steps.padded.shape == (8 + 2 * padding,) * 2


def test_output_size_formula_matches_real_conv_module():
    for n, k, s, p, d in [(28, 5, 1, 0, 1), (28, 3, 2, 1, 1), (32, 3, 1, 2, 2), (7, 3, 3, 0, 1)]:
        conv = nn.Conv2d(1, 1, k, s, p, d, device="meta")
        assert conv(torch.empty(1, 1, n, n, device="meta")).shape[-1] == \
            output_size(n, k, s, p, d)
    latex = output_size_latex(7, 3, 2, 1, 2)
    assert latex.endswith("= 3") and r"7 + 2\cdot1 - 2\cdot(3-1) - 1" in latex


def test_convolution_kinds():
    assert convolution_kind(7, 3, 1, 0, 1) == "narrow"
    assert convolution_kind(7, 3, 1, 1, 1) == "same"
    assert convolution_kind(7, 3, 1, 2, 1) == "wide"
    assert output_size(7, 3, 1, 2, 1) == 7 + 3 - 1
    assert convolution_kind(7, 3, 1, 2, 2) == "same"     # dilated 3x3 spans 5
    assert convolution_kind(8, 3, 2, 1, 1) == "same"
    assert convolution_kind(7, 5, 1, 1, 1) == "padded"


def test_too_large_window_is_an_error():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_steps(np.zeros((5, 5)), np.ones((3, 3)), dilation=3)


def test_mac_terms_write_out_the_sum(digit):
    kernel = kernel_preset("Laplacian")
    steps = conv_steps(crop(digit, 10, 10, 5), kernel)
    text = mac_terms(steps.steps[4], kernel)
    assert text.startswith(r"\begin{aligned} y_{1,1} &= (") and text.count("+") == 8
    assert text.count(r"\\") == 3                       # one kernel row per line
    assert text.endswith(f"&= {steps.steps[4].value:.3f} \\end{{aligned}}")


# --- lesson 2 -----------------------------------------------------------------------------

def test_correlation_and_convolution_match_scipy_and_opencv():
    image = sample_gray(32)
    kernel = kernel_preset("emboss")
    result = correlation_vs_convolution(image, kernel)
    np.testing.assert_allclose(result.correlation,
                               signal.correlate2d(image, kernel, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(result.convolution,
                               signal.convolve2d(image, kernel, mode="valid"), atol=1e-12)
    # OpenCV's filter2D is a correlation too (interior pixels: no border effects)
    opencv = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(result.correlation, opencv[1:-1, 1:-1], atol=1e-12)
    assert not result.symmetric and result.max_difference > 0.1


@pytest.mark.parametrize("name", ["box (mean)", "Gaussian", "Laplacian", "sharpen"])
def test_symmetric_kernels_agree(name):
    result = correlation_vs_convolution(sample_gray(32), kernel_preset(name))
    assert result.symmetric and result.max_difference < 1e-12


# --- lesson 3 -----------------------------------------------------------------------------

def test_channel_products_sum_to_conv2d():
    photo = sample_photo(20).transpose(2, 0, 1)
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3))
    result = multichannel(photo, kernel, bias=0.3, padding=1)
    reference = F.conv2d(torch.tensor(photo)[None], torch.tensor(kernel)[None],
                         torch.tensor([0.3], dtype=torch.float64), padding=1)[0, 0]
    np.testing.assert_allclose(result.output, reference.numpy(), atol=1e-12)
    assert result.per_channel.shape == (3, 20, 20)


@pytest.mark.parametrize("d,p,k,bias", [(3, 16, 3, True), (64, 128, 3, False), (1, 6, 5, True)])
def test_conv_params_formula(d, p, k, bias):
    assert conv_params(d, p, k, bias) == p * d * k * k + (p if bias else 0)
    assert conv_params_latex(d, p, k, bias).endswith(
        f"= {conv_params(d, p, k, bias):,}".replace(",", "{,}"))


# --- lesson 4 -----------------------------------------------------------------------------

def test_worked_example_8x8_same_3x3_without_bias():
    counts = connection_counts(8, 8, 1, 1, 3, padding=1, bias=False)
    assert counts.out_shape == (1, 8, 8)
    assert counts.dense_params == 4096 and counts.conv_params == 9
    # interior 6x6 outputs see 9 pixels, 24 edge outputs 6, 4 corners 4
    assert counts.conv_connections == 36 * 9 + 24 * 6 + 4 * 4
    assert counts.dense_connections == 64 * 64


def test_counts_with_channels_bias_and_stride():
    counts = connection_counts(10, 10, 3, 4, 3, padding=0, stride=2, bias=True)
    assert counts.out_shape == (4, 4, 4)
    assert counts.conv_params == 4 * 3 * 9 + 4
    assert counts.dense_params == 300 * 64 + 64
    assert counts.conv_connections == 64 * 27  # no padding: every window is full


# --- lesson 5 -----------------------------------------------------------------------------

def test_gaussian_kernel_is_opencvs():
    kernel = gaussian_kernel(1.5)
    assert kernel.shape == (11, 11) and kernel.sum() == pytest.approx(1.0)
    image = sample_gray(48)
    blurred = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT)
    reference = cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(blurred, reference, atol=1e-6)


@pytest.mark.parametrize("sigma,high", [(1.0, False), (2.0, True)])
def test_convolution_theorem_holds(sigma, high):
    kernel = gaussian_kernel(sigma)
    kernel = high_pass(kernel) if high else kernel
    check = convolution_theorem(sample_gray(64), kernel)
    assert check.max_error < 1e-9
    np.testing.assert_allclose(np.fft.ifft2(check.product_spectrum).real, check.filtered,
                               atol=1e-10)


def test_cutoff_falls_with_sigma_and_matches_the_gaussian_formula():
    # the half-amplitude point (|H| = 1/2, -6 dB)
    cutoffs = [magnitude_cutoff(gaussian_kernel(s), 0.5, size=128) for s in (1.0, 2.0, 3.0)]
    assert cutoffs[0] > cutoffs[1] > cutoffs[2]
    for sigma, cutoff in zip((1.0, 2.0, 3.0), cutoffs):
        analytic = math.sqrt(math.log(2) / 2) / (math.pi * sigma)
        assert cutoff == pytest.approx(analytic, abs=1.5 / 128)


def test_half_power_cutoff_is_where_the_power_halves():
    """|H| = 1/sqrt(2) (-3 dB), not the half-amplitude point the lesson once called it."""
    cutoff = half_power_cutoff(gaussian_kernel(1.5), size=128)
    closed_form = math.sqrt(math.log(2)) / (2 * math.pi * 1.5)
    assert closed_form == pytest.approx(0.0883, abs=1e-4)
    assert gaussian_half_power_frequency(1.5) == pytest.approx(closed_form)
    assert cutoff == pytest.approx(closed_form, abs=0.002)


def test_high_pass_blocks_dc():
    kernel = high_pass(gaussian_kernel(1.0))
    assert abs(kernel.sum()) < 1e-12


# --- lesson 6 -----------------------------------------------------------------------------

def test_activation_curves_and_autograd_derivatives():
    x, y, dy = activation_curve("sigmoid")
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(y, s, atol=1e-12)
    np.testing.assert_allclose(dy, s * (1 - s), atol=1e-12)
    x, y, dy = activation_curve("tanh")
    np.testing.assert_allclose(dy, 1 - np.tanh(x) ** 2, atol=1e-12)
    x, y, dy = activation_curve("leaky ReLU")
    np.testing.assert_allclose(dy[x < 0], 0.1) and np.testing.assert_allclose(dy[x > 0], 1)
    x, y, dy = activation_curve("GELU")
    np.testing.assert_allclose(y, F.gelu(torch.tensor(x)).numpy(), atol=1e-12)
    assert set(ACTIVATIONS) == set(ACTIVATION_FORMULAS)


def test_relu_removes_negatives(digit):
    features = conv_reference(digit, kernel_preset("Sobel x"))
    assert (features < 0).any() and not (activate("ReLU", features) < 0).any()


def test_two_stacked_3x3_equal_one_5x5(digit):
    rng = np.random.default_rng(1)
    k1, k2 = rng.normal(size=(2, 3, 3))
    result = stacked_vs_single(digit, k1, k2)
    assert result.composed.shape == (5, 5)
    assert result.max_error < 1e-5
    np.testing.assert_allclose(result.composed, signal.convolve2d(k1, k2), atol=1e-12)
    assert result.activation_gap > 0.1   # a ReLU in between breaks the equality


def test_compose_multichannel_with_bias_float32():
    torch.manual_seed(0)
    first, second = nn.Conv2d(3, 6, 3), nn.Conv2d(6, 4, 3)
    x = torch.randn(2, 3, 12, 12)
    kernel, bias = compose_convs(first.weight, first.bias, second.weight, second.bias)
    assert kernel.shape == (4, 3, 5, 5)
    with torch.no_grad():
        stacked = second(first(x))
        single = F.conv2d(x, kernel, bias)
    assert (stacked - single).abs().max() < 1e-5


# --- lesson 7 -----------------------------------------------------------------------------

def test_shift_moves_pixels(digit):
    moved = shift(digit, 2, 1)
    np.testing.assert_array_equal(moved[1:, 2:], digit[:-1, :-2])
    assert not moved[0].any() and not moved[:, :2].any()
    np.testing.assert_array_equal(shift(digit, 0), digit)


def test_pooled_matches_torch(digit):
    maxed, averaged = pooled(digit, 4)
    x = torch.tensor(digit)[None, None]
    np.testing.assert_allclose(maxed, F.max_pool2d(x, 4)[0, 0].numpy())
    np.testing.assert_allclose(averaged, F.avg_pool2d(x, 4)[0, 0].numpy())


def test_shift_experiment_is_measured(digit):
    kernels = np.stack([kernel_preset("Sobel x"), kernel_preset("Sobel y")])
    result = shift_experiment(digit, kernels, pool=4, max_shift=4)
    assert result.shifts == [0, 1, 2, 3, 4]
    assert result.change_conv[0] == result.change_max[0] == result.change_avg[0] == 0
    # recompute shift 1 by hand
    weights = torch.tensor(kernels)[:, None]
    def feats(img):
        return F.relu(F.conv2d(torch.tensor(img)[None, None], weights, padding=1))
    base, moved = feats(digit), feats(shift(digit, 1))
    expected = float((F.max_pool2d(moved, 4) - F.max_pool2d(base, 4)).norm()
                     / F.max_pool2d(base, 4).norm())
    assert result.change_max[1] == pytest.approx(expected)
    # pooling makes a one-pixel shift matter less than it does to the raw feature map
    assert result.change_max[1] < result.change_conv[1]
    assert result.change_avg[1] < result.change_conv[1]


# --- lesson 8 -----------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [
    [(3, 1, 1)] * 2, [(3, 1, 1)] * 3, [(5, 1, 1)], [(3, 2, 1)] * 3,
    [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(5, 2, 1), (3, 1, 2), (3, 2, 1)]])
def test_receptive_field_formula_equals_measured_and_analyze(layers):
    rows = receptive_fields(layers)
    assert measured_receptive_field(layers) == rows[-1].rf
    spec = S.parse_spec({"version": 1, "name": "rf", "input": [1, 64, 64], "num_classes": 10,
                         "layers": [{"type": "conv", "out_channels": 2, "kernel_size": k,
                                     "stride": s, "dilation": d} for k, s, d in layers]})
    infos = M.analyze(spec).layers
    assert [info.receptive_field for info in infos[:len(layers)]] == [r.rf for r in rows]


def test_vgg_stacks():
    assert receptive_fields([(3, 1, 1)] * 2)[-1].rf == 5
    assert receptive_fields([(3, 1, 1)] * 3)[-1].rf == 7
    assert stack_params(3, 64, 3) == 3 * 64 * 64 * 9 < stack_params(1, 64, 7)


# --- lesson 9 -----------------------------------------------------------------------------

def test_batchnorm_statistics_match_the_module():
    batch = torch.randn(8, 3, 6, 6) * torch.tensor([1.0, 3.0, 0.5])[:, None, None] + 2
    check = batchnorm_check(batch)
    np.testing.assert_allclose(check.mean, batch.double().mean(dim=(0, 2, 3)).numpy())
    assert check.max_error < 1e-10
    assert check.params == 6 and check.buffers == 6
    np.testing.assert_allclose(check.normalised.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(check.normalised.var(axis=(0, 2, 3)), 1, atol=1e-3)


def test_dropout_masks_scaling_and_eval():
    values = np.ones((40, 40))
    demo = dropout_demo(values, 0.5, samples=4)
    assert demo.masks.shape == (4, 40, 40)
    assert set(np.unique(demo.train_outputs)) <= {0.0, 2.0}
    assert demo.kept_fraction == pytest.approx(0.5, abs=0.05)
    assert demo.train_mean == pytest.approx(1.0, abs=0.1)
    np.testing.assert_array_equal(demo.eval_output, values)
    again = dropout_demo(values, 0.5, samples=4)
    np.testing.assert_array_equal(again.masks, demo.masks)   # seeded
    assert dropout_demo(values, 0.0).kept_fraction == 1.0


def test_residual_identity_and_projection():
    identity = residual_info(16, 16, 1)
    assert not identity.projection and identity.shortcut_params == 0
    assert identity.params == 2 * (16 * 16 * 9 + 2 * 16)
    assert identity.zero_body_error < 1e-6
    projection = residual_info(16, 32, 2)
    assert projection.projection and projection.shortcut_params == 16 * 32 + 2 * 32
    assert projection.out_shape == (32, 8, 8)
    spec = S.parse_spec({"version": 1, "name": "r", "input": [1, 16, 16], "num_classes": 10,
                         "layers": [{"type": "conv", "out_channels": 16, "kernel_size": 3,
                                     "padding": 1},
                                    {"type": "residual", "out_channels": 32, "stride": 2}]})
    assert M.analyze(spec).layers[1].params == projection.params


# --- figures ------------------------------------------------------------------------------

def test_figures_build(digit):
    steps = conv_steps(crop(digit, 10, 10, 6), kernel_preset("Sobel x"), padding=1)
    figure = conv_step(steps, kernel_preset("Sobel x"), 3, title="t")
    out = figure.data[2].z
    assert np.isfinite(np.asarray(out, dtype=float)).sum() == 4   # filled up to step 4
    assert len(heatmaps([digit, digit], ["a", "b"], [False, True]).data) == 2
    assert len(activation_curves({n: activation_curve(n) for n in ACTIVATIONS}).data) == 10
    count_bars(["p"], [9], [4096])
    shift_curves(shift_experiment(digit, kernel_preset("Sobel x"), 2, 2))
    receptive_growth({"a": receptive_fields([(3, 1, 1)] * 3)})
    receptive_window(13, 7)
    channel_bars(["a"], {"m": np.array([1.0])})


def test_shift_batch_moves_right_with_zeros():
    images = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4) + 1
    moved = shift_batch(images, 1)
    assert torch.equal(moved[..., 1:], images[..., :-1]) and not moved[..., 0].any()
    np.testing.assert_array_equal(shift_batch(images, 2)[0, 0].numpy(),
                                  shift(images[0, 0].numpy(), 2))


def test_trained_model_shift_experiment_is_measured():
    result = model_shift_experiment(4, max_shift=3, epochs=1, train_count=1280)
    assert result.shifts == [0, 1, 2, 3] and result.unchanged[0] == 1.0
    assert all(0 <= v <= 1 for v in result.accuracy + result.unchanged)
    assert result.accuracy[0] > 0.3                      # it learned something
    # recompute two numbers from the returned network
    images, labels = mnist_digits()
    test = result.test_indices
    with torch.no_grad():
        base = result.network(images[test]).argmax(1)
        moved = result.network(shift_batch(images[test], 2)).argmax(1)
    assert result.accuracy[0] == pytest.approx(float((base == labels[test]).double().mean()))
    assert result.unchanged[2] == pytest.approx(float((moved == base).double().mean()))
    # the direct measure of invariance: the change of the linear layer's input, per digit
    with torch.no_grad():
        before = result.network[:-1](images[test])
        after = result.network[:-1](shift_batch(images[test], 2))
    change = ((after - before).norm(dim=1) / before.norm(dim=1)).mean()
    assert result.feature_change[0] == 0
    assert result.feature_change[2] == pytest.approx(float(change), rel=1e-5)
    unpooled = model_shift_experiment(1, max_shift=3, epochs=1, train_count=1280)
    assert result.feature_change[2] < unpooled.feature_change[2]   # pooling: smaller change
    assert len(test) == 1000 and len(set(test.tolist())) == 1000
    plain = shift_network(1)
    assert isinstance(plain[2], torch.nn.Flatten)         # no pooling layer
    assert isinstance(shift_network(4)[2], torch.nn.MaxPool2d)


def test_connection_formulas_are_filled_in():
    counts = connection_counts(8, 8, 1, 1, 3, padding=1)
    dense, conv = connection_latex(counts, bias=False)
    assert dense.endswith(r"= (1\cdot8\cdot8)\times(1\cdot8\cdot8) = 4{,}096")
    assert conv.endswith(r"= 1\cdot1\cdot3^2 = 9")
    counts = connection_counts(32, 32, 3, 16, 5, bias=True)
    dense, conv = connection_latex(counts, bias=True)
    assert dense.endswith(f"+ 12,544 = {counts.dense_params:,}".replace(",", "{,}"))
    assert counts.dense_params == 3 * 32 * 32 * 16 * 28 * 28 + 16 * 28 * 28
    assert conv.endswith(r"16\cdot3\cdot5^2 + 16 = 1{,}216")
    for formula in (dense, conv):   # no broken LaTeX spacing commands
        assert r"\{" not in formula and "′" not in formula


def test_sci_latex():
    assert sci_latex(3.6e-15) == r"3.6\times 10^{-15}"
    assert sci_latex(0.0) == "0"
    assert sci_latex(2500.0) == r"2.5\times 10^{3}"


# --- going deeper --------------------------------------------------------------------------

def test_plain_and_residual_stacks_have_the_same_depth_and_come_from_specs():
    plain, residual = plain_stack_spec(MAX_BLOCKS), residual_stack_spec(MAX_BLOCKS)
    assert len(plain.layers) <= S.LIMITS.max_layers
    for model_spec in (plain, residual):
        network = M.build_model(model_spec)
        assert len(conv3x3_layers(network)) == 2 * MAX_BLOCKS + 1
        assert M.analyze(model_spec).output_shape == (10,)


def test_degradation_experiment_measures_vanishing_gradients():
    """A short run (a few steps on a small subset), but every number computed."""
    result = degradation_experiment(blocks=MAX_BLOCKS, steps=6, batch_size=16,
                                       train_count=256, test_count=200)
    plain, residual = result.plain, result.residual
    assert len(plain.losses) == len(residual.losses) == 6
    assert plain.grad_norms.shape == residual.grad_norms.shape == (3, 2 * MAX_BLOCKS + 1)
    assert plain.norm_steps == [1, 5, 6]
    # the plain stack's first conv gets a gradient orders of magnitude smaller ...
    assert plain.first_grad_norms[0] < 1e-3 * residual.first_grad_norms[0]
    assert result.first_layer_ratio > 1e3
    # ... and smaller the further it is from the loss; the residual one does not fade
    assert plain.first_grad_norms[0] < 1e-3 * plain.first_grad_norms[-1]
    assert residual.first_grad_norms[0] > 0.1 * residual.first_grad_norms[-1]
    assert 0 <= plain.test_acc <= 1 and 0 <= residual.test_acc <= 1
    # the first recorded norms are those of the network as built from its spec
    dataset, _ = _digits(256, 200)
    network = M.build_model(plain.spec, generator=torch.Generator().manual_seed(0))
    batch = torch.randint(0, 256, (16,), generator=torch.Generator().manual_seed(1))
    F.cross_entropy(network(dataset.train_x[batch]), dataset.train_y[batch]).backward()
    first = conv3x3_layers(network)[0].weight.grad.norm()
    assert plain.first_grad_norms[0] == pytest.approx(float(first), rel=1e-4)


def test_degradation_experiment_rejects_too_deep_stacks():
    with pytest.raises(ValueError, match="blocks must be"):
        degradation_experiment(blocks=MAX_BLOCKS + 1)


def test_bottleneck_parameter_count_from_the_real_block():
    from playground.model.blocks import ResidualBlock

    count = bottleneck_count(256, 64)
    # two 3x3 convs 256 -> 256 (+ BN) against 1x1 256->64, 3x3 64->64, 1x1 64->256 (+ BN)
    assert count.basic_params == 2 * 256 * 256 * 9 + 4 * 256 == 1_180_672
    assert count.bottleneck_params == 256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256)
    assert count.bottleneck_params == 70_400
    real = ResidualBlock(256, 256, bottleneck_width=64)
    assert count.bottleneck_params == sum(p.numel() for p in real.parameters())
    assert count.bottleneck_macs < count.basic_macs / 10
    basic, bottleneck = bottleneck_latex(count)
    assert basic.endswith("= 1{,}180{,}672") and bottleneck.endswith("= 70{,}400")
    other = bottleneck_count(128, 32)
    assert bottleneck_latex(other)[1].endswith(f"= {other.bottleneck_params:,}"
                                                  .replace(",", "{,}"))


@pytest.mark.parametrize("bottleneck", [False, True])
def test_resnet_stages_halve_resolution_double_channels_project_first_block(bottleneck):
    model_spec = resnet_spec(stages=3, blocks_per_stage=2, base_channels=16,
                                bottleneck=bottleneck)
    rows = stage_rows(model_spec)
    assert [r.stage for r in rows] == [1, 1, 2, 2, 3, 3]
    assert [r.output_shape[1] for r in rows] == [32, 32, 16, 16, 8, 8]
    channels = [r.output_shape[0] for r in rows]
    assert channels[2] == 2 * channels[0] and channels[4] == 2 * channels[2]
    # projection exactly where the shape changes: each stage's first block (stage 1's
    # first block too when the bottleneck expands 16 -> 64 channels)
    assert [r.projection for r in rows] == [bottleneck, False, True, False, True, False]
    assert [r.stride for r in rows] == [1, 1, 2, 1, 2, 1]
    analysis = M.analyze(model_spec)
    assert [analysis.layers[r.index].params for r in rows] == [r.params for r in rows]


# --- registry ------------------------------------------------------------------------------

def test_registry_numbers_slugs_and_modules():
    import importlib

    from playground.lessons import LESSONS, PARTS, lesson

    assert [entry.number for entry in LESSONS] == list(range(1, len(LESSONS) + 1))
    assert len({entry.slug for entry in LESSONS}) == len(LESSONS)
    assert lesson("deeper").label == "13 · Going deeper (ResNets)"
    assert [entry.part for entry in LESSONS[:9]] == [PARTS[0]] * 9
    for entry in LESSONS:   # every topic has its numbers module
        importlib.import_module(f"playground.lessons.{entry.slug}")
