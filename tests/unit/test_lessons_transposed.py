"""The transposed and dilated convolution lesson, checked against the torch modules."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from playground.lessons.kernels import kernel_preset
from playground.lessons.samples import sample_gray
from playground.lessons.transposed import (dilated_kernel, interior, is_checkerboard,
                                           overlap_counts, transposed_convolution,
                                           transposed_output_size, transposed_size_latex)


@pytest.mark.parametrize("n,k,s,p", [(3, 3, 2, 0), (3, 3, 2, 1), (4, 4, 2, 1), (2, 5, 3, 2),
                                     (5, 1, 2, 0), (3, 2, 1, 0), (4, 3, 3, 1)])
def test_transposed_conv_equals_zero_insertion_then_convolution(n, k, s, p):
    x = np.random.default_rng(n * k).normal(size=(n, n))
    kernel = np.random.default_rng(s).normal(size=(k, k))
    result = transposed_convolution(x, kernel, s, p)
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
            transposed_output_size(n, k, s, p, d, op)
    assert transposed_size_latex(3, 3, 2, 0).endswith("= 7")


def test_too_much_padding_is_refused():
    with pytest.raises(ValueError, match="larger than K - 1"):
        transposed_convolution(np.ones((3, 3)), np.ones((2, 2)), 2, 2)


@pytest.mark.parametrize("k,s,uneven", [(3, 2, True), (4, 2, False), (5, 2, True), (3, 3, False),
                                        (2, 3, True), (6, 3, False), (3, 1, False)])
def test_checkerboard_when_kernel_size_is_not_a_multiple_of_the_stride(k, s, uneven):
    assert is_checkerboard(k, s) is uneven
    counts = overlap_counts(6, k, s)
    layer = nn.ConvTranspose2d(1, 1, k, s, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        np.testing.assert_array_equal(counts, layer(torch.ones(1, 1, 6, 6).double())[0, 0])
    middle = interior(counts, k)
    per_axis = {int(v) for v in np.unique(np.sqrt(middle))} if uneven else set()
    if uneven:
        assert per_axis <= {k // s, -(-k // s)}
    else:
        assert middle.min() == middle.max() == (k // s) ** 2


@pytest.mark.parametrize("dilation", [1, 2, 3, 4])
def test_dilated_kernel_effective_size(dilation):
    result = dilated_kernel(kernel_preset("Sobel x"), dilation, sample_gray(32))
    assert result.effective_size == 3 + 2 * (dilation - 1) == result.dense.shape[0]
    assert result.max_error < 1e-12
    assert np.count_nonzero(result.dense) == 6           # the Sobel taps, nothing added
    conv = nn.Conv2d(1, 1, 3, dilation=dilation, device="meta")
    assert conv(torch.empty(1, 1, 32, 32, device="meta")).shape[-1] == \
        32 - result.effective_size + 1 == result.output.shape[0]
