"""Every number the Learn page's part 2 shows, checked against torch, NumPy and OpenCV."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from playground.figures import lessons_more as PF
from playground.lessons import basics as L
from playground.lessons import more as P


# --- lesson 10: 1-D convolution -----------------------------------------------------------

@pytest.mark.parametrize("signal", P.SIGNALS)
@pytest.mark.parametrize("kernel", P.KERNELS_1D)
def test_causal_convolution_is_the_formula_and_conv1d_with_the_flipped_kernel(signal, kernel):
    x = P.test_signal(signal, length=40)
    w = P.kernel_1d(kernel, 4)
    y = P.causal_convolution(x, w)
    # y_t = sum_k w_k x_(t-k+1), 1-based, x = 0 before t = 1: written out as loops
    by_formula = [sum(w[k - 1] * (x[t - k] if t - k + 1 >= 1 else 0.0)
                      for k in range(1, len(w) + 1)) for t in range(1, len(x) + 1)]
    np.testing.assert_allclose(y, by_formula, atol=1e-12)
    np.testing.assert_allclose(y, np.convolve(x, w)[:len(x)], atol=1e-12)
    flipped = F.conv1d(F.pad(torch.tensor(x), (len(w) - 1, 0))[None, None],
                       torch.tensor(w[::-1].copy())[None, None])[0, 0].numpy()
    np.testing.assert_allclose(y, flipped, atol=1e-12)


def test_unflipped_conv1d_differs_for_an_asymmetric_kernel():
    x = P.test_signal("step", length=20)
    w = P.kernel_1d("difference [1, -1]")
    y, corr = P.causal_convolution(x, w), P.cross_correlation_1d(x, w)
    assert y[10] == 1.0 and corr[10] == -1.0          # the step fires with opposite signs
    np.testing.assert_allclose(corr, -y, atol=1e-12)   # [1, -1] flipped is its negative


def test_moving_average_smooths_and_second_difference_finds_corners():
    x = P.test_signal("noisy sine", noise=0.3)
    smooth = P.causal_convolution(x, P.kernel_1d("moving average", 7))
    assert np.diff(smooth[10:]).std() < 0.5 * np.diff(x[10:]).std()
    triangle = P.test_signal("triangle (corners)", length=80)
    second = P.causal_convolution(triangle, P.kernel_1d("second difference [1, -2, 1]"))
    fired = np.nonzero(np.abs(second) > 1e-9)[0] + 1        # 1-based t
    # y_t looks at x_t, x_(t-1), x_(t-2): a corner at sample c fires at t = c + 1
    corners = np.array([20, 40, 60]) + 1 + 1
    np.testing.assert_array_equal(fired, corners)
    assert second[41] < 0 < second[21]           # the peak bends down, the feet up


def test_filled_in_formula_ends_with_the_output():
    x = P.test_signal("spike", length=30)
    w = np.array([0.5, 0.3, 0.2])
    text = P.convolution_terms_latex(x, w, 17)
    assert text.startswith(r"\begin{aligned} y_{17} &= w_{1}x_{17} + w_{2}x_{16} + w_{3}x_{15}")
    assert text.endswith(f"= {P.causal_convolution(x, w)[16]:.3f} \\end{{aligned}}")
    assert "(0.30)(1.00)" in text and "= 0.300" in text
    long = P.convolution_terms_latex(x, P.kernel_1d("moving average", 9), 3)
    assert r"\cdots" in long and "x_{-5}" in long      # zeros before the start are shown


def test_box_filter_is_separable_and_opencvs():
    box = P.box_filter_2d(L.sample_gray(32), 5)
    assert box.separable_error < 1e-12 and box.opencv_error < 1e-9
    np.testing.assert_allclose(box.box[10, 10], L.sample_gray(32)[8:13, 8:13].mean())
    with pytest.raises(ValueError, match="odd"):
        P.box_filter_2d(L.sample_gray(32), 4)


# --- lesson 11: backward pass -------------------------------------------------------------

@pytest.fixture(scope="module")
def backward() -> P.BackwardPass:
    return P.backward_pass(L.sample_digit(3), 3)


def test_backward_pass_gradients_are_autograds(backward):
    names = [layer.name for layer in backward.layers]
    assert names[:6] == ["0 Conv2d", "1 ReLU", "2 MaxPool2d", "3 Conv2d", "4 ReLU",
                         "5 AvgPool2d"]
    # recompute the conv kernels' gradients with a fresh forward on the same network
    network = backward.network
    network.zero_grad()
    x = torch.tensor(L.sample_digit(3))[None, None]
    F.cross_entropy(network(x), torch.tensor([3])).backward()
    np.testing.assert_allclose(backward.layers[0].grad_weight, network[0].weight.grad.numpy())
    np.testing.assert_allclose(backward.layers[3].grad_weight, network[3].weight.grad.numpy())
    # the loss gradient at the logits is softmax - one-hot
    expected = backward.probabilities - np.eye(10)[3]
    np.testing.assert_allclose(backward.layers[-1].grad_output, expected, atol=1e-12)
    assert backward.loss == pytest.approx(-np.log(backward.probabilities[3]))
    # no gradient gets through a ReLU where it was off
    relu_in = backward.layers[0].output
    assert not backward.layers[0].grad_output[relu_in <= 0].any()


def test_max_pool_gradient_only_at_each_windows_winner(backward):
    for channel in range(4):
        into_pool = backward.layers[1].output[channel]
        grad_in = backward.layers[1].grad_output[channel]   # what max pooling sent back
        grad_out = backward.layers[2].grad_output[channel]
        for r, c in itertools.product(range(14), range(14)):
            window = into_pool[2 * r:2 * r + 2, 2 * c:2 * c + 2]
            grads = grad_in[2 * r:2 * r + 2, 2 * c:2 * c + 2]
            winner = np.unravel_index(np.argmax(window), (2, 2))
            assert grads[winner] == pytest.approx(grad_out[r, c])
            others = np.delete(grads.ravel(), np.ravel_multi_index(winner, (2, 2)))
            assert not others.any()


def test_avg_pool_gradient_spread_evenly(backward):
    grad_in = backward.layers[4].grad_output            # into the average pool
    grad_out = backward.layers[5].grad_output
    np.testing.assert_allclose(grad_in, np.kron(grad_out, np.ones((1, 2, 2))) / 4, atol=1e-15)


def test_busiest_window_is_the_block_with_the_largest_spread():
    values = np.zeros((8, 8))
    values[4:8, 0:4] = [[0, 1, 0, 5]] * 4
    values[0:4, 4:8] = 0.5
    assert P.busiest_window(values) == (1, 0)


def test_pool_rules_against_autograd_on_the_same_window():
    window = np.array([[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 2], [7, 1, 3, 3]])
    upstream = np.array([[10.0, 20], [30, 40]])
    result = P.pool_gradients(window, upstream)
    assert result.max_error == 0
    np.testing.assert_array_equal(result.max_autograd, [[0, 10, 0, 0], [0, 0, 20, 0],
                                                        [0, 0, 0, 0], [30, 0, 40, 0]])
    np.testing.assert_array_equal(result.avg_autograd, np.kron(upstream, np.ones((2, 2))) / 4)
    np.testing.assert_array_equal(result.max_rule, result.max_autograd)


@pytest.mark.parametrize("padding,k", [(0, 3), (1, 3), (2, 5), (0, 1)])
def test_conv_input_gradient_is_a_convolution_with_the_flipped_kernel(padding, k):
    generator = torch.Generator().manual_seed(k + padding)
    x = torch.randn(2, 3, 9, 9, generator=generator, dtype=torch.float64)
    weight = torch.randn(4, 3, k, k, generator=generator, dtype=torch.float64)
    out = 9 + 2 * padding - k + 1
    grad = torch.randn(2, 4, out, out, generator=generator, dtype=torch.float64)
    check = P.conv_input_gradient(x, weight, grad, padding)
    assert check.max_error < 1e-12 and check.weight_error < 1e-12
    # the same through a real nn.Conv2d module's autograd
    layer = nn.Conv2d(3, 4, k, padding=padding, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
    x_in = x.clone().requires_grad_(True)
    layer(x_in).backward(grad)
    np.testing.assert_allclose(check.flipped, x_in.grad[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(check.weight_correlation, layer.weight.grad.numpy(), atol=1e-12)


def test_flipped_kernel_rule_on_the_lessons_network(backward):
    for index in (0, 3):
        check = P.network_conv_check(backward, index)
        assert check.max_error < 1e-12
    # conv 2's input gradient is what the max pool layer received
    np.testing.assert_allclose(P.network_conv_check(backward, 3).autograd,
                               backward.layers[2].grad_output, atol=1e-12)


# --- lesson 12: transposed and dilated ----------------------------------------------------

@pytest.mark.parametrize("n,k,s,p", [(3, 3, 2, 0), (3, 3, 2, 1), (4, 4, 2, 1), (2, 5, 3, 2),
                                     (5, 1, 2, 0), (3, 2, 1, 0), (4, 3, 3, 1)])
def test_transposed_conv_equals_zero_insertion_then_convolution(n, k, s, p):
    x = np.random.default_rng(n * k).normal(size=(n, n))
    kernel = np.random.default_rng(s).normal(size=(k, k))
    result = P.transposed_convolution(x, kernel, s, p)
    layer = nn.ConvTranspose2d(1, 1, k, s, p, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(kernel)[None, None])
        expected = layer(torch.tensor(x)[None, None])[0, 0].numpy()
    assert expected.shape == (result.output_size,) * 2
    assert result.output_size == (n - 1) * s - 2 * p + k
    np.testing.assert_allclose(result.module_output, expected, atol=1e-12)
    np.testing.assert_allclose(result.by_convolution, expected, atol=1e-12)
    zeros = result.stretched[k - 1 - p:result.stretched.shape[0] - (k - 1 - p),
                             k - 1 - p:result.stretched.shape[1] - (k - 1 - p)]
    np.testing.assert_array_equal(zeros[::s, ::s], x)
    assert np.count_nonzero(zeros) == np.count_nonzero(x)   # only zeros in between


def test_transposed_output_size_matches_the_module_with_dilation_and_output_padding():
    for n, k, s, p, d, op in [(7, 3, 2, 1, 1, 1), (5, 4, 2, 1, 2, 0), (6, 3, 3, 0, 1, 2)]:
        layer = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d, device="meta")
        assert layer(torch.empty(1, 1, n, n, device="meta")).shape[-1] == \
            P.transposed_output_size(n, k, s, p, d, op)
    assert P.transposed_size_latex(3, 3, 2, 0).endswith("= 7")


def test_too_much_padding_is_refused():
    with pytest.raises(ValueError, match="larger than K - 1"):
        P.transposed_convolution(np.ones((3, 3)), np.ones((2, 2)), 2, 2)


@pytest.mark.parametrize("k,s,uneven", [(3, 2, True), (4, 2, False), (5, 2, True), (3, 3, False),
                                        (2, 3, True), (6, 3, False), (3, 1, False)])
def test_checkerboard_when_kernel_size_is_not_a_multiple_of_the_stride(k, s, uneven):
    assert P.is_checkerboard(k, s) is uneven
    counts = P.overlap_counts(6, k, s)
    layer = nn.ConvTranspose2d(1, 1, k, s, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        np.testing.assert_array_equal(counts, layer(torch.ones(1, 1, 6, 6).double())[0, 0])
    middle = P.interior(counts, k)
    per_axis = {int(v) for v in np.unique(np.sqrt(middle))} if uneven else set()
    if uneven:
        assert per_axis <= {k // s, -(-k // s)}
    else:
        assert middle.min() == middle.max() == (k // s) ** 2


@pytest.mark.parametrize("dilation", [1, 2, 3, 4])
def test_dilated_kernel_effective_size(dilation):
    result = P.dilated_kernel(L.kernel_preset("Sobel x"), dilation, L.sample_gray(32))
    assert result.effective_size == 3 + 2 * (dilation - 1) == result.dense.shape[0]
    assert result.max_error < 1e-12
    assert np.count_nonzero(result.dense) == 6           # the Sobel taps, nothing added
    conv = nn.Conv2d(1, 1, 3, dilation=dilation, device="meta")
    assert conv(torch.empty(1, 1, 32, 32, device="meta")).shape[-1] == \
        32 - result.effective_size + 1 == result.output.shape[0]


# --- lesson 13: rotation and scale --------------------------------------------------------

def test_warp_is_opencvs_rotation_scale_and_shift():
    digit = L.sample_digit(7).astype(np.float32)
    np.testing.assert_allclose(P.warp(digit), digit, atol=1e-6)
    np.testing.assert_allclose(P.warp(digit, angle=90), np.rot90(digit), atol=1e-5)
    np.testing.assert_allclose(P.warp(digit, angle=180), digit[::-1, ::-1], atol=1e-5)
    np.testing.assert_allclose(P.warp(digit, dx=3), L.shift(digit, 3), atol=1e-6)
    small = P.warp(digit, scale=0.5)
    assert small.sum() == pytest.approx(digit.sum() / 4, rel=0.1)   # a quarter of the ink
    batch = P.warp_batch(torch.tensor(np.stack([digit, digit]))[:, None], [0, 90], [1, 1])
    np.testing.assert_allclose(batch[1, 0].numpy(), np.rot90(digit), atol=1e-5)


def test_augmentation_draws_per_image_and_is_seeded():
    images = torch.tensor(np.stack([L.sample_digit(3)] * 4), dtype=torch.float32)[:, None]
    augment = P.AugmentRange()
    first = augment(images, torch.Generator().manual_seed(0))
    again = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and first.shape == images.shape
    assert not torch.allclose(first[0], first[1])          # each image its own draw
    assert P.AugmentRange(0, 1, 1, 0)(images, torch.Generator()).sub(images).abs().max() < 1e-5


@pytest.fixture(scope="module")
def robust():
    original = P.CURVE_DIGITS
    P.CURVE_DIGITS = 200
    try:
        return P.train_robust_pair(train_count=640, epochs=1)
    finally:
        P.CURVE_DIGITS = original


def test_trained_pair_curves_are_measured(robust):
    images, labels = L._mnist_subset()
    plain, augmented = robust
    assert (plain.name, augmented.name) == ("no augmentation", "augmented")
    for trained in robust:
        curves = trained.curves
        assert curves.angles == list(P.ANGLES) and curves.scales == list(P.SCALES)
        assert all(0 <= v <= 1 for v in curves.angle_accuracy + curves.scale_accuracy
                   + curves.shift_accuracy)
        at_zero = curves.angle_accuracy[P.ANGLES.index(0)]
        assert at_zero == curves.scale_accuracy[P.SCALES.index(1.0)] == \
            curves.shift_accuracy[P.SHIFTS.index(0)]
        # it learned something (chance is 0.1; 640 digits, one epoch, to keep the test fast)
        assert at_zero > (0.4 if trained is plain else 0.15)
    # recompute one point from the returned network: 90 degrees, on the same test digits
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    test = order[-1000:][:200]
    rotated = torch.tensor(np.stack([np.rot90(im) for im in images[test, 0].numpy()]))[:, None]
    with torch.no_grad():
        predicted = plain.network(rotated).argmax(1)
    expected = float((predicted == labels[test]).double().mean())
    assert plain.curves.angle_accuracy[P.ANGLES.index(90)] == pytest.approx(expected, abs=0.01)
    plain_zero = plain.curves.angle_accuracy[P.ANGLES.index(0)]
    assert plain.curves.angle_accuracy[P.ANGLES.index(90)] < plain_zero - 0.2  # rotation hurts


def test_probe_sweep_reads_the_softmax(robust):
    network = robust[0].network
    digit = L.sample_digit(4)
    sweep = P.probe_sweep(network, digit, 4, "angle", [0, 90])
    with torch.no_grad():
        probs = torch.softmax(network(torch.tensor(np.rot90(digit).copy(),
                                                   dtype=torch.float32)[None, None]), 1)[0]
    assert sweep.predicted[1] == int(probs.argmax())
    assert sweep.true_probability[1] == pytest.approx(float(probs[4]), abs=1e-4)
    assert sweep.images.shape == (2, 28, 28)
    with pytest.raises(ValueError, match="kind must be"):
        P.probe_sweep(network, digit, 4, "shear", [1])


# --- lesson 14: dice ----------------------------------------------------------------------

def test_two_dice_are_one_to_six_to_one_over_36():
    result = P.dice_sum(6, 2)
    assert result.values == list(range(2, 13))
    assert [f * 36 for f in result.fractions] == [1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]
    np.testing.assert_allclose(result.probabilities,
                               np.array([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]) / 36, atol=1e-15)
    assert result.max_error < 1e-15 and sum(result.fractions) == 1


@pytest.mark.parametrize("faces,dice", [(4, 3), (12, 2), (6, 5), (2, 4)])
def test_dice_sums_match_counting_every_outcome(faces, dice):
    result = P.dice_sum(faces, dice)
    counts = {}
    for roll in itertools.product(range(1, faces + 1), repeat=dice):
        counts[sum(roll)] = counts.get(sum(roll), 0) + 1
    assert result.fractions == [Fraction(counts[z], faces ** dice) for z in result.values]
    assert result.max_error < 1e-12


def test_dice_formula_is_filled_in():
    text = P.dice_terms_latex(6, 7)
    assert text.count("f_X(") == 7 and "f_X(1)f_Y(6)" in text and "f_X(6)f_Y(1)" in text
    assert r"6 \times \frac{1}{6}\cdot\frac{1}{6} = \frac{6}{36} = \frac{1}{6}" in text
    assert r"= \frac{1}{36} \end" in P.dice_terms_latex(6, 2)
    with pytest.raises(ValueError):
        P.uniform_die(0)


# --- figures ------------------------------------------------------------------------------

def test_figures_build(backward, robust):
    x = P.test_signal("step", length=30)
    w = P.kernel_1d("difference [1, -1]")
    figure = PF.signal_filter(x, P.causal_convolution(x, w), w, 15,
                              P.cross_correlation_1d(x, w))
    assert [trace.name for trace in figure.data][:3] == [
        "input x", "conv1d, kernel not flipped", "output y (convolution)"]
    PF.gradient_maps([layer.grad_output[0] for layer in backward.layers[:3]], ["a", "b", "c"])
    assert len(PF.overlap_map(P.overlap_counts(4, 3, 2)).data) == 1
    assert len(PF.robustness([r.curves for r in robust]).data) == 6
    sweep = P.probe_sweep(robust[0].network, L.sample_digit(1), 1, "scale", [0.5, 1.0, 1.5])
    strip = PF.probe_strip(sweep, 1, "x")
    assert len(strip.data) == 3 and "1x" in strip.layout.annotations[1].text
    PF.probe_confidence({"m": sweep}, 1, "scale")
    bars = PF.dice_bars(P.uniform_die(6), P.dice_sum(6, 2), highlight=7)
    assert list(bars.data[1].text)[5] == "6/36"
