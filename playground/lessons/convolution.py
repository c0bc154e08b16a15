"""Convolution step by step: every multiply-accumulate of a 2-D convolution, kept.

The steps are checked against `F.conv2d`, so what the lesson writes out is what a conv
layer computes (a cross-correlation, stride, padding and dilation included).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F

from playground.lessons.tensors import float64_tensor


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((N + 2P - D(K-1) - 1) / S) + 1: PyTorch's Conv2d output size."""
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def effective_kernel(k: int, dilation: int = 1) -> int:
    return k + (k - 1) * (dilation - 1)


def convolution_kind(n: int, k: int, stride: int, padding: int, dilation: int) -> str:
    """"narrow" (no padding: the output shrinks), "same" (the output keeps the input's size,
    or padding (K_eff-1)/2 when strided), "wide" (padding K_eff-1: every partial overlap),
    else "padded"."""
    k_eff = effective_kernel(k, dilation)
    if padding == 0:
        return "narrow"
    if padding == k_eff - 1:
        return "wide"
    if (stride == 1 and output_size(n, k, 1, padding, dilation) == n) or (
            stride > 1 and 2 * padding == k_eff - 1):
        return "same"
    return "padded"


@dataclass
class MacStep:
    """One output pixel: the input pixels the kernel covers and their products."""

    out_row: int
    out_col: int
    rows: list[int]          # rows of the covered pixels, in padded coordinates
    cols: list[int]
    inputs: np.ndarray       # [K, K] input values under the kernel taps
    products: np.ndarray     # [K, K] input x weight
    value: float             # sum of products (+ bias)


@dataclass
class ConvSteps:
    padded: np.ndarray       # the input with its zero border
    padding: int
    output: np.ndarray       # [H', W']
    steps: list[MacStep]     # row by row


def conv_steps(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0,
               dilation: int = 1, bias: float = 0.0) -> ConvSteps:
    """Slide the kernel over the zero-padded input the way `F.conv2d` does (a
    cross-correlation) and keep every multiply-accumulate."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    k = kernel.shape[0]
    padded = np.pad(image, padding)
    out_h = output_size(image.shape[0], k, stride, padding, dilation)
    out_w = output_size(image.shape[1], k, stride, padding, dilation)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"the dilated kernel ({effective_kernel(k, dilation)}) is larger "
                         f"than the padded input ({padded.shape[0]}x{padded.shape[1]})")
    output = np.zeros((out_h, out_w))
    steps = []
    for i in range(out_h):
        for j in range(out_w):
            rows = [i * stride + u * dilation for u in range(k)]
            cols = [j * stride + v * dilation for v in range(k)]
            inputs = padded[np.ix_(rows, cols)]
            products = inputs * kernel
            value = float(products.sum() + bias)
            output[i, j] = value
            steps.append(MacStep(i, j, rows, cols, inputs, products, value))
    return ConvSteps(padded, padding, output, steps)


def conv_reference(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0,
                   dilation: int = 1, bias: float = 0.0) -> np.ndarray:
    """The same output from `F.conv2d` (float64)."""
    result = F.conv2d(float64_tensor(image)[None, None], float64_tensor(kernel)[None, None],
                      float64_tensor(np.array([bias])), stride=stride, padding=padding,
                      dilation=dilation)
    return result[0, 0].numpy()


def mac_terms(step: MacStep, kernel: np.ndarray, bias: float = 0.0, per_line: int = 3) -> str:
    """LaTeX of the step's multiply-accumulate, one kernel row per line:
    y_{i,j} = x w + x w + ... (+ b) = value."""
    pairs = list(zip(step.inputs.ravel(), np.asarray(kernel, dtype=np.float64).ravel()))
    terms = [f"({x:.2f})({w:.2f})" for x, w in pairs]
    if bias:
        terms.append(f"({bias:.2f})")
    lines = [" + ".join(terms[n:n + per_line]) for n in range(0, len(terms), per_line)]
    body = r" \\ &\quad + ".join(lines)
    return (r"\begin{aligned} " + rf"y_{{{step.out_row},{step.out_col}}} &= {body} \\ "
                                  rf"&= {step.value:.3f} " + r"\end{aligned}")


def output_size_latex(n: int, k: int, stride: int, padding: int, dilation: int) -> str:
    out = output_size(n, k, stride, padding, dilation)
    return (r"H_\text{out} = \left\lfloor \frac{H + 2P - D(K-1) - 1}{S} \right\rfloor + 1"
            rf" = \left\lfloor \frac{{{n} + 2\cdot{padding} - {dilation}\cdot({k}-1) - 1}}"
            rf"{{{stride}}} \right\rfloor + 1 = {out}")
