"""Activation functions, their derivatives from autograd, and why they matter: without
one, two stacked convolutions are exactly one bigger convolution."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from playground.lessons.tensors import float64_tensor


ACTIVATIONS = {
    "ReLU": lambda x: F.relu(x),
    "leaky ReLU": lambda x: F.leaky_relu(x, 0.1),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "GELU": lambda x: F.gelu(x),
}


ACTIVATION_FORMULAS = {
    "ReLU": r"f(x) = \max(0, x)",
    "leaky ReLU": r"f(x) = \max(0.1x, x)",
    "sigmoid": r"f(x) = \frac{1}{1 + e^{-x}}",
    "tanh": r"f(x) = \tanh x",
    "GELU": r"f(x) = x\,\Phi(x)",
}


def activation_curve(name: str, low: float = -4.0, high: float = 4.0,
                     count: int = 401) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, f(x), f'(x)) with the derivative from autograd."""
    x = torch.linspace(low, high, count, dtype=torch.float64, requires_grad=True)
    y = ACTIVATIONS[name](x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return x.detach().numpy(), y.detach().numpy(), grad.numpy()


def activate(name: str, values: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return ACTIVATIONS[name](float64_tensor(values)).numpy()


def compose_convs(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                  b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One conv equal to conv(w2, b2) after conv(w1, b1) (stride 1, no padding, nothing in
    between): kernel [O, C, k1+k2-1, ...] with W[o,c] = sum_m w1[m,c] (full convolution)
    w2[o,m], bias b2 + sum_m b1[m] * sum(w2[o,m])."""
    k2 = w2.shape[-1]
    # W[o,c,p] = sum_m sum_b w1[m,c,p-b] w2[o,m,b]: correlate padded w1 with flipped w2.
    kernels = F.conv2d(F.pad(w1.transpose(0, 1), (k2 - 1,) * 4), w2.flip(-1, -2))
    return kernels.transpose(0, 1).contiguous(), b2 + w2.sum(dim=(-1, -2)) @ b1


@dataclass
class StackedLinear:
    composed: np.ndarray     # the equivalent 5x5 kernel (one channel in, one out)
    stacked: np.ndarray      # conv(conv(x)) output
    single: np.ndarray       # conv(x, composed) output
    max_error: float         # |stacked - single|
    with_activation: np.ndarray
    activation_gap: float    # |act-in-between - single|: no single kernel does that


def stacked_vs_single(image: np.ndarray, k1: np.ndarray, k2: np.ndarray,
                      activation: str = "ReLU") -> StackedLinear:
    x = float64_tensor(image)[None, None]
    w1, w2 = float64_tensor(k1)[None, None], float64_tensor(k2)[None, None]
    zero = torch.zeros(1, dtype=torch.float64)
    composed, bias = compose_convs(w1, zero, w2, zero)
    stacked = F.conv2d(F.conv2d(x, w1), w2)[0, 0]
    single = F.conv2d(x, composed, bias)[0, 0]
    bent = F.conv2d(ACTIVATIONS[activation](F.conv2d(x, w1)), w2)[0, 0]
    return StackedLinear(composed[0, 0].numpy(), stacked.numpy(), single.numpy(),
                         float((stacked - single).abs().max()), bent.numpy(),
                         float((bent - single).abs().max()))
