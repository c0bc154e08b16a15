"""1-D convolution as signal processing: smoothing and differencing a sequence with
`conv1d`, and the 2-D box filter as the 1-D moving average along rows, then columns."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from playground.lessons.latex import shorten_terms
from playground.lessons.tensors import float64_tensor


def full_convolution(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The full convolution (x * w)[t] = sum_k w[k] x[t-k], length len(x) + len(w) - 1.

    `F.conv1d` computes a cross-correlation, so the kernel is flipped and the signal
    padded by len(w) - 1 zeros on both sides."""
    signal, kernel = float64_tensor(x), float64_tensor(w)
    pad = kernel.numel() - 1
    return F.conv1d(signal[None, None], kernel.flip(0)[None, None], padding=pad)[0, 0].numpy()


def causal_convolution(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y_t = sum_{k=1..K} w_k x_{t-k+1} for t = 1..N (x is zero before t = 1): the first N
    samples of the full convolution."""
    return full_convolution(x, w)[:len(x)]


def cross_correlation_1d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """What `F.conv1d` computes with the kernel as given, aligned like `causal_convolution`
    (y_t = sum_k w_k x_{t+k-K}, zeros before the start)."""
    signal, kernel = float64_tensor(x), float64_tensor(w)
    padded = F.pad(signal, (kernel.numel() - 1, 0))
    return F.conv1d(padded[None, None], kernel[None, None])[0, 0].numpy()


SIGNALS = ("noisy sine", "step", "spike", "triangle (corners)")


def test_signal(name: str, length: int = 80, noise: float = 0.25, seed: int = 0) -> np.ndarray:
    """A 1-D signal for the lesson: a sine with Gaussian noise, a step, a single spike, or a
    piecewise-linear triangle whose corners the second difference finds."""
    t = np.arange(length, dtype=np.float64)
    if name == "noisy sine":
        rng = np.random.default_rng(seed)
        return np.sin(2 * np.pi * t / 40) + noise * rng.normal(size=length)
    if name == "step":
        return (t >= length // 2).astype(np.float64)
    if name == "spike":
        return (t == length // 2).astype(np.float64)
    if name == "triangle (corners)":
        a, b, c = length // 4, length // 2, 3 * length // 4
        return np.interp(t, [0, a, b, c, length - 1], [0, 0, 1, 0, 0])
    raise ValueError(f"unknown signal {name!r}; choose one of {', '.join(SIGNALS)}")


KERNELS_1D = ("moving average", "second difference [1, -2, 1]", "difference [1, -1]")


def kernel_1d(name: str, size: int = 5) -> np.ndarray:
    if name == "moving average":
        return np.full(size, 1.0 / size)
    if name.startswith("second difference"):
        return np.array([1.0, -2.0, 1.0])
    if name.startswith("difference"):
        return np.array([1.0, -1.0])
    raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS_1D)}")


def _signed(value: float) -> str:
    return f"({value:.2f})"


def convolution_terms_latex(x: np.ndarray, w: np.ndarray, t: int) -> str:
    """y_t = sum_k w_k x_(t-k+1) filled in at time t (1-based), with x = 0 before t = 1:
    the symbols on one line, the numbers on the next, the value last."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    terms, symbols = [], []
    for k in range(1, len(w) + 1):
        index = t - k + 1
        value = x[index - 1] if index >= 1 else 0.0
        symbols.append(rf"w_{{{k}}}x_{{{index}}}")
        terms.append(rf"{_signed(w[k - 1])}{_signed(value)}")
    y = causal_convolution(x, w)[t - 1]
    return (r"\begin{aligned} " + rf"y_{{{t}}} &= " + " + ".join(shorten_terms(symbols))
            + r" \\ &= " + " + ".join(shorten_terms(terms)) + rf" = {y:.3f}" + r" \end{aligned}")


@dataclass
class BoxFilter2D:
    image: np.ndarray
    box: np.ndarray            # conv2d with a K x K kernel of 1/K^2 ('same' size, zero border)
    rows: np.ndarray           # the 1-D moving average along every row only
    rows_then_columns: np.ndarray  # the 1-D moving average along rows, then along columns
    opencv: np.ndarray         # cv2.blur with a zero border (BORDER_CONSTANT)
    separable_error: float     # |box - rows_then_columns|
    opencv_error: float        # |box - opencv|


def box_filter_2d(image: np.ndarray, size: int) -> BoxFilter2D:
    """The 2-D box filter as the 1-D moving average's extension: one K x K conv2d equals the
    K-tap average along every row and then along every column (the kernel is separable)."""
    if size % 2 == 0:
        raise ValueError(f"box size must be odd (got {size}) so the output stays centred")
    image = np.asarray(image, dtype=np.float64)
    x = float64_tensor(image)[None, None]
    half = size // 2
    box = F.conv2d(x, torch.full((1, 1, size, size), 1.0 / size ** 2, dtype=torch.float64),
                   padding=half)[0, 0]
    row = torch.full((1, 1, 1, size), 1.0 / size, dtype=torch.float64)
    rows = F.conv2d(x, row, padding=(0, half))
    both = F.conv2d(rows, row.transpose(2, 3), padding=(half, 0))[0, 0]
    opencv = cv2.blur(image, (size, size), borderType=cv2.BORDER_CONSTANT)
    return BoxFilter2D(image, box.numpy(), rows[0, 0].numpy(), both.numpy(), opencv,
                       float((box - both).abs().max()),
                       float(np.abs(box.numpy() - opencv).max()))
