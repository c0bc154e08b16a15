"""The backward-pass lesson: every gradient checked against autograd."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from playground.lessons.backward import (BackwardPass, backward_pass, busiest_window,
                                         conv_input_gradient, network_conv_check,
                                         pool_gradients)
from playground.lessons.samples import sample_digit


@pytest.fixture(scope="module")
def backward() -> BackwardPass:
    return backward_pass(sample_digit(3), 3)


def test_backward_pass_gradients_are_autograds(backward):
    names = [layer.name for layer in backward.layers]
    assert names[:6] == ["0 Conv2d", "1 ReLU", "2 MaxPool2d", "3 Conv2d", "4 ReLU",
                         "5 AvgPool2d"]
    # recompute the conv kernels' gradients with a fresh forward on the same network
    network = backward.network
    network.zero_grad()
    x = torch.tensor(sample_digit(3))[None, None]
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
    assert busiest_window(values) == (1, 0)


def test_pool_rules_against_autograd_on_the_same_window():
    window = np.array([[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 2], [7, 1, 3, 3]])
    upstream = np.array([[10.0, 20], [30, 40]])
    result = pool_gradients(window, upstream)
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
    check = conv_input_gradient(x, weight, grad, padding)
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
        check = network_conv_check(backward, index)
        assert check.max_error < 1e-12
    # conv 2's input gradient is what the max pool layer received
    np.testing.assert_allclose(network_conv_check(backward, 3).autograd,
                               backward.layers[2].grad_output, atol=1e-12)
