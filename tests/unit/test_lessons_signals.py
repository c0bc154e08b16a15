"""The signals lesson: 1-D convolution and the box filter, checked against NumPy, torch
and OpenCV."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.lessons import signals
from playground.lessons.samples import sample_gray
from playground.lessons.signals import (KERNELS_1D, SIGNALS, box_filter_2d, causal_convolution,
                                        convolution_terms_latex, cross_correlation_1d,
                                        kernel_1d)


@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize("kernel", KERNELS_1D)
def test_causal_convolution_is_the_formula_and_conv1d_with_the_flipped_kernel(signal, kernel):
    x = signals.test_signal(signal, length=40)
    w = kernel_1d(kernel, 4)
    y = causal_convolution(x, w)
    # y_t = sum_k w_k x_(t-k+1), 1-based, x = 0 before t = 1: written out as loops
    by_formula = [sum(w[k - 1] * (x[t - k] if t - k + 1 >= 1 else 0.0)
                      for k in range(1, len(w) + 1)) for t in range(1, len(x) + 1)]
    np.testing.assert_allclose(y, by_formula, atol=1e-12)
    np.testing.assert_allclose(y, np.convolve(x, w)[:len(x)], atol=1e-12)
    flipped = F.conv1d(F.pad(torch.tensor(x), (len(w) - 1, 0))[None, None],
                       torch.tensor(w[::-1].copy())[None, None])[0, 0].numpy()
    np.testing.assert_allclose(y, flipped, atol=1e-12)


def test_unflipped_conv1d_differs_for_an_asymmetric_kernel():
    x = signals.test_signal("step", length=20)
    w = kernel_1d("difference [1, -1]")
    y, corr = causal_convolution(x, w), cross_correlation_1d(x, w)
    assert y[10] == 1.0 and corr[10] == -1.0          # the step fires with opposite signs
    np.testing.assert_allclose(corr, -y, atol=1e-12)   # [1, -1] flipped is its negative


def test_moving_average_smooths_and_second_difference_finds_corners():
    x = signals.test_signal("noisy sine", noise=0.3)
    smooth = causal_convolution(x, kernel_1d("moving average", 7))
    assert np.diff(smooth[10:]).std() < 0.5 * np.diff(x[10:]).std()
    triangle = signals.test_signal("triangle (corners)", length=80)
    second = causal_convolution(triangle, kernel_1d("second difference [1, -2, 1]"))
    fired = np.nonzero(np.abs(second) > 1e-9)[0] + 1        # 1-based t
    # y_t looks at x_t, x_(t-1), x_(t-2): a corner at sample c fires at t = c + 1
    corners = np.array([20, 40, 60]) + 1 + 1
    np.testing.assert_array_equal(fired, corners)
    assert second[41] < 0 < second[21]           # the peak bends down, the feet up


def test_filled_in_formula_ends_with_the_output():
    x = signals.test_signal("spike", length=30)
    w = np.array([0.5, 0.3, 0.2])
    text = convolution_terms_latex(x, w, 17)
    assert text.startswith(r"\begin{aligned} y_{17} &= w_{1}x_{17} + w_{2}x_{16} + w_{3}x_{15}")
    assert text.endswith(f"= {causal_convolution(x, w)[16]:.3f} \\end{{aligned}}")
    assert "(0.30)(1.00)" in text and "= 0.300" in text
    long = convolution_terms_latex(x, kernel_1d("moving average", 9), 3)
    assert r"\cdots" in long and "x_{-5}" in long      # zeros before the start are shown


def test_box_filter_is_separable_and_opencvs():
    box = box_filter_2d(sample_gray(32), 5)
    assert box.separable_error < 1e-12 and box.opencv_error < 1e-9
    np.testing.assert_allclose(box.box[10, 10], sample_gray(32)[8:13, 8:13].mean())
    with pytest.raises(ValueError, match="odd"):
        box_filter_2d(sample_gray(32), 4)
