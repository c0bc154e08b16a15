"""Transposed (fractionally-strided) and dilated convolution: zeros inserted between the
inputs or between the kernel taps, each checked against the real torch operation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.lessons.convolution import effective_kernel
from playground.lessons.tensors import float64_tensor


def transposed_output_size(n: int, k: int, stride: int = 1, padding: int = 0,
                           dilation: int = 1, output_padding: int = 0) -> int:
    """(N - 1)S - 2P + D(K - 1) + output_padding + 1: ConvTranspose2d's output size."""
    return (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def transposed_size_latex(n: int, k: int, stride: int, padding: int) -> str:
    out = transposed_output_size(n, k, stride, padding)
    return (r"H_\text{out} = (H - 1)S - 2P + K = "
            rf"({n} - 1)\cdot{stride} - 2\cdot{padding} + {k} = {out}")


def insert_zeros(x: torch.Tensor, stride: int) -> torch.Tensor:
    """S - 1 zeros between neighbouring inputs along both spatial axes ([..., H, W])."""
    h, w = x.shape[-2:]
    spread = x.new_zeros(*x.shape[:-2], (h - 1) * stride + 1, (w - 1) * stride + 1)
    spread[..., ::stride, ::stride] = x
    return spread


@dataclass
class TransposedConv:
    input: np.ndarray         # [H, W]
    kernel: np.ndarray        # [K, K]
    module_output: np.ndarray  # nn.ConvTranspose2d
    stretched: np.ndarray     # zeros inserted, then padded by K-1-P
    by_convolution: np.ndarray  # conv2d(stretched, flipped kernel), stride 1
    max_error: float
    output_size: int          # from the formula; equals module_output's size


def transposed_convolution(x: np.ndarray, kernel: np.ndarray, stride: int,
                           padding: int = 0) -> TransposedConv:
    """A real `nn.ConvTranspose2d` against the fractionally-strided view: insert S-1 zeros
    between inputs (stride 1/S), pad by K-1-P, and run an ordinary stride-1 conv2d with the
    kernel rotated by 180 degrees."""
    x_t, w = float64_tensor(x), float64_tensor(kernel)
    k = w.shape[-1]
    if padding > k - 1:
        raise ValueError(f"padding {padding} is larger than K - 1 = {k - 1}")
    layer = nn.ConvTranspose2d(1, 1, k, stride, padding, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(w[None, None])
        out = layer(x_t[None, None])[0, 0]
    stretched = F.pad(insert_zeros(x_t, stride), (k - 1 - padding,) * 4)
    by_conv = F.conv2d(stretched[None, None], w.flip(-1, -2)[None, None])[0, 0]
    size = transposed_output_size(x_t.shape[-1], k, stride, padding)
    return TransposedConv(x_t.numpy(), w.numpy(), out.numpy(), stretched.numpy(),
                          by_conv.numpy(), float((out - by_conv).abs().max()), size)


def overlap_counts(size: int, k: int, stride: int) -> np.ndarray:
    """ConvTranspose2d of a constant input with an all-ones kernel: how many kernel copies
    land on each output pixel. Uneven (a checkerboard) when K is not a multiple of S."""
    ones = torch.ones(1, 1, size, size, dtype=torch.float64)
    return F.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64),
                              stride=stride)[0, 0].numpy()


def interior(counts: np.ndarray, k: int) -> np.ndarray:
    """The output away from the borders, where every position could be reached by K/S
    kernel copies: the part a checkerboard shows in."""
    return counts[k - 1:counts.shape[0] - k + 1, k - 1:counts.shape[1] - k + 1]


def is_checkerboard(k: int, stride: int, size: int = 6) -> bool:
    middle = interior(overlap_counts(size, k, stride), k)
    return bool(middle.size and middle.max() != middle.min())


@dataclass
class DilatedKernel:
    kernel: np.ndarray        # [K, K]
    dense: np.ndarray         # [K', K']: the same taps with D-1 zeros between them
    effective_size: int       # K + (K-1)(D-1)
    max_error: float          # conv2d(x, w, dilation=D) vs conv2d(x, dense)
    output: np.ndarray


def dilated_kernel(kernel: np.ndarray, dilation: int, image: np.ndarray) -> DilatedKernel:
    """The dilated kernel written out: zeros inserted between its taps (the same
    `insert_zeros` that transposed convolution applies to its input), checked as a conv."""
    w = float64_tensor(kernel)
    dense = insert_zeros(w, dilation)
    x = float64_tensor(image)[None, None]
    dilated = F.conv2d(x, w[None, None], dilation=dilation)
    plain = F.conv2d(x, dense[None, None])
    return DilatedKernel(w.numpy(), dense.numpy(), effective_kernel(w.shape[-1], dilation),
                         float((dilated - plain).abs().max()), dilated[0, 0].numpy())
