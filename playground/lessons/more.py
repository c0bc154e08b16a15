"""The numbers behind the Learn page's part 2: plain torch/OpenCV, no Streamlit.

Signals in 1-D, the backward pass, transposed and dilated convolution, what a CNN does not
handle for free (rotation, scale), and convolution outside images (dice). Every value is
computed by torch or OpenCV and checked in tests against autograd, `ConvTranspose2d`,
`np.convolve` or an enumeration of outcomes.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.lessons import basics as L
from playground.model import build as M
from playground import spec as S


def _t(values) -> torch.Tensor:
    return torch.as_tensor(np.array(values, dtype=np.float64))


# --- lesson 1: 1-D convolution as signal processing ---------------------------------------

def full_convolution(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The full convolution (x * w)[t] = sum_k w[k] x[t-k], length len(x) + len(w) - 1.

    `F.conv1d` computes a cross-correlation, so the kernel is flipped and the signal
    padded by len(w) - 1 zeros on both sides."""
    signal, kernel = _t(x), _t(w)
    pad = kernel.numel() - 1
    return F.conv1d(signal[None, None], kernel.flip(0)[None, None], padding=pad)[0, 0].numpy()


def causal_convolution(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y_t = sum_{k=1..K} w_k x_{t-k+1} for t = 1..N (x is zero before t = 1): the first N
    samples of the full convolution."""
    return full_convolution(x, w)[:len(x)]


def cross_correlation_1d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """What `F.conv1d` computes with the kernel as given, aligned like `causal_convolution`
    (y_t = sum_k w_k x_{t+k-K}, zeros before the start)."""
    signal, kernel = _t(x), _t(w)
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


def _shorten(terms: list[str], keep: int = 5) -> list[str]:
    return terms if len(terms) <= keep else terms[:3] + [r"\cdots"] + terms[-1:]


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
    return (r"\begin{aligned} " + rf"y_{{{t}}} &= " + " + ".join(_shorten(symbols))
            + r" \\ &= " + " + ".join(_shorten(terms)) + rf" = {y:.3f}" + r" \end{aligned}")


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
    x = _t(image)[None, None]
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


# --- lesson 2: the backward pass ----------------------------------------------------------

BACKWARD_LAYERS = [
    {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 2},
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "avgpool", "kernel_size": 2},
]


# An initialisation (seed) with few dead ReLUs on the sample digits: most channels show
# gradients, and channel 1 of conv 1 shows what a dead ReLU does to them.
BACKWARD_SEED = 4


def backward_spec() -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": "Backward pass",
                         "description": "conv, ReLU, max pool, conv, ReLU, average pool, "
                                        "then the automatic linear head.",
                         "input": [1, 28, 28], "num_classes": 10,
                         "layers": BACKWARD_LAYERS})


@dataclass
class LayerGradient:
    name: str                 # e.g. "1 relu"
    output: np.ndarray        # [C, H, W] or [F]
    grad_output: np.ndarray   # dL/d(output), same shape
    grad_weight: np.ndarray | None  # dL/dW for conv and linear layers


@dataclass
class BackwardPass:
    label: int
    loss: float
    probabilities: np.ndarray
    input_image: np.ndarray
    layers: list[LayerGradient]
    network: nn.Module


def backward_pass(image: np.ndarray, label: int, seed: int = BACKWARD_SEED) -> BackwardPass:
    """One image through the seeded network of `backward_spec` in float64, cross-entropy
    against its label, and autograd's gradient of the loss with respect to every layer's
    output and every conv/linear weight."""
    network = M.build_model(backward_spec(), generator=torch.Generator().manual_seed(seed))
    network = network.double().eval()
    x = _t(image)[None, None]
    outputs = []
    h = x
    for module in network:
        h = module(h)
        h.retain_grad()
        outputs.append(h)
    loss = F.cross_entropy(h, torch.tensor([label]))
    loss.backward()
    layers = []
    for n, (module, out) in enumerate(zip(network, outputs)):
        weight = getattr(module, "weight", None)
        name = f"{n} {type(module).__name__}"
        layers.append(LayerGradient(name, out.detach()[0].numpy(), out.grad[0].numpy(),
                                    None if weight is None else weight.grad.numpy().copy()))
    probabilities = torch.softmax(h.detach()[0], 0).numpy()
    return BackwardPass(label, float(loss.detach()), probabilities, np.asarray(image), layers,
                        network)


@dataclass
class PoolGradient:
    window: np.ndarray        # [H, W] input of the pooling
    upstream: np.ndarray      # [H/k, W/k] dL/d(pooled output)
    max_rule: np.ndarray      # upstream placed at each window's winner, zero elsewhere
    max_autograd: np.ndarray
    avg_rule: np.ndarray      # upstream / k^2 in every position of its window
    avg_autograd: np.ndarray
    max_error: float          # |rule - autograd| over both poolings


def busiest_window(feature_map: np.ndarray, size: int = 4) -> tuple[int, int]:
    """(row, col) of the size x size block (on the size grid) with the most spread-out
    values: the block where pooling's winners are clearest."""
    values = _t(feature_map)[None, None]
    spread = F.avg_pool2d(values ** 2, size) - F.avg_pool2d(values, size) ** 2
    index = int(spread.flatten().argmax())
    return divmod(index, spread.shape[-1])


def pool_gradients(window: np.ndarray, upstream: np.ndarray, kernel: int = 2) -> PoolGradient:
    """Backpropagate the same upstream gradient through max and average pooling of the same
    input: autograd against the rules (max: only the winner of each window; average:
    spread evenly over the k x k window)."""
    x = _t(window)[None, None].requires_grad_(True)
    g = _t(upstream)[None, None]
    (max_grad,) = torch.autograd.grad(F.max_pool2d(x, kernel), x, g)
    (avg_grad,) = torch.autograd.grad(F.avg_pool2d(x, kernel), x, g)
    _, winners = F.max_pool2d(x.detach(), kernel, return_indices=True)
    max_rule = torch.zeros_like(x).flatten().index_put_((winners.flatten(),), g.flatten())
    max_rule = max_rule.reshape(x.shape)
    avg_rule = g.repeat_interleave(kernel, 2).repeat_interleave(kernel, 3) / kernel ** 2
    height, width = avg_rule.shape[-2:]
    avg_rule = F.pad(avg_rule, (0, x.shape[-1] - width, 0, x.shape[-2] - height))
    error = max(float((max_rule - max_grad).abs().max()), float((avg_rule - avg_grad).abs().max()))
    return PoolGradient(np.asarray(window, dtype=np.float64), np.asarray(upstream, np.float64),
                        max_rule[0, 0].numpy(), max_grad[0, 0].numpy(), avg_rule[0, 0].numpy(),
                        avg_grad[0, 0].numpy(), error)


@dataclass
class ConvInputGradient:
    autograd: np.ndarray      # [C_in, H, W] dL/dx from autograd
    flipped: np.ndarray       # conv2d(dL/dy, flipped kernel with in/out swapped)
    max_error: float
    weight_autograd: np.ndarray   # [C_out, C_in, K, K] dL/dW from autograd
    weight_correlation: np.ndarray  # input correlated with dL/dy
    weight_error: float


def conv_input_gradient(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
                        padding: int) -> ConvInputGradient:
    """For y = conv2d(x, W) (stride 1): dL/dx = conv2d(dL/dy, W rotated by 180 degrees with
    in/out channels swapped, padding K-1-P), and dL/dW = x (padded by P) correlated with
    dL/dy; both checked against autograd."""
    x = x.detach().double().requires_grad_(True)
    weight = weight.detach().double().requires_grad_(True)
    grad_output = grad_output.detach().double()
    y = F.conv2d(x, weight, padding=padding)
    grad_x, grad_w = torch.autograd.grad(y, (x, weight), grad_output)
    k = weight.shape[-1]
    flipped = F.conv2d(grad_output, weight.detach().flip(-1, -2).transpose(0, 1),
                       padding=k - 1 - padding)
    # dW[o, c] = sum over positions of x[c] * dy[o]: a correlation with the batch as channels
    by_correlation = F.conv2d(x.detach().transpose(0, 1), grad_output.transpose(0, 1),
                              padding=padding).transpose(0, 1)
    return ConvInputGradient(grad_x[0].numpy(), flipped[0].numpy(),
                             float((grad_x - flipped).abs().max()), grad_w.numpy(),
                             by_correlation.numpy(),
                             float((grad_w - by_correlation).abs().max()))


def network_conv_check(result: BackwardPass, conv_index: int) -> ConvInputGradient:
    """The flipped-kernel rule on a conv layer of the lesson's network, with the real input
    of that layer and the real gradient arriving at its output."""
    module = result.network[conv_index]
    previous = (torch.as_tensor(result.input_image, dtype=torch.float64)[None, None]
                if conv_index == 0 else
                torch.as_tensor(result.layers[conv_index - 1].output)[None])
    grad_output = torch.as_tensor(result.layers[conv_index].grad_output)[None]
    return conv_input_gradient(previous, module.weight, grad_output, module.padding[0])


# --- lesson 3: transposed, fractionally-strided and dilated convolution -------------------

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
    x_t, w = _t(x), _t(kernel)
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
    w = _t(kernel)
    dense = insert_zeros(w, dilation)
    x = _t(image)[None, None]
    dilated = F.conv2d(x, w[None, None], dilation=dilation)
    plain = F.conv2d(x, dense[None, None])
    return DilatedKernel(w.numpy(), dense.numpy(), L.effective_kernel(w.shape[-1], dilation),
                         float((dilated - plain).abs().max()), dilated[0, 0].numpy())


# --- lesson 5: what a CNN does not handle for free ----------------------------------------

ROBUST_POOL = 2   # lesson 7's shift network with 2x2 max pooling


def warp_matrix(height: int, width: int, angle: float = 0.0, scale: float = 1.0,
                dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """OpenCV's 2x3 affine matrix: rotation by `angle` degrees (counter-clockwise) and
    rescaling about the image centre, then a move by (dx, dy) pixels."""
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    return matrix


def warp(image: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0,
         dy: float = 0.0) -> np.ndarray:
    """Rotate and rescale about the centre, then move, with `cv2.warpAffine`; black comes
    in at the borders."""
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    matrix = warp_matrix(h, w, angle, scale, dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_batch(images: torch.Tensor, angles, scales, shifts=None) -> torch.Tensor:
    """`warp` applied to each image [N, 1, H, W] with its own angle, scale and (dx, dy)."""
    count = images.shape[0]
    shifts = np.zeros((count, 2)) if shifts is None else np.asarray(shifts, dtype=np.float64)
    angles = np.broadcast_to(np.asarray(angles, dtype=np.float64), (count,))
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (count,))
    array = images[:, 0].numpy()
    out = np.stack([warp(array[n], angles[n], scales[n], *shifts[n]) for n in range(count)])
    return torch.from_numpy(out)[:, None]


@dataclass(frozen=True)
class AugmentRange:
    """Random rotation, rescaling and shift drawn for every training image."""

    degrees: float = 30.0
    scale_low: float = 0.8
    scale_high: float = 1.2
    shift: float = 2.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand(images.shape[0], 4, generator=generator, dtype=torch.float64)
        draws = draws.numpy()
        angles = (2 * draws[:, 0] - 1) * self.degrees
        scales = self.scale_low + draws[:, 1] * (self.scale_high - self.scale_low)
        shifts = (2 * draws[:, 2:] - 1) * self.shift
        return warp_batch(images, angles, scales, shifts)


ANGLES = tuple(range(-180, 181, 30))
SCALES = tuple(round(0.5 + 0.1 * n, 1) for n in range(11))   # 0.5 ... 1.5
SHIFTS = tuple(range(-6, 7))
PROBE_ANGLES = tuple(range(-180, 181, 10))   # one digit only: finer steps are cheap
PROBE_SCALES = tuple(round(0.5 + 0.05 * n, 2) for n in range(21))
CURVE_DIGITS = 500   # test digits per point of the curves: enough for +-2% at 2 cores' speed


@dataclass
class RobustnessCurves:
    """Test accuracy of a trained model as the test digits are rotated, rescaled or moved
    (OpenCV), one value per step."""

    name: str
    angles: list[float]
    angle_accuracy: list[float]
    scales: list[float]
    scale_accuracy: list[float]
    shifts: list[int]
    shift_accuracy: list[float]


def _accuracy(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((network(images).argmax(1) == labels).double().mean())


def robustness_curves(name: str, network: nn.Module, images: torch.Tensor,
                      labels: torch.Tensor, angles=ANGLES, scales=SCALES,
                      shifts=SHIFTS) -> RobustnessCurves:
    network.eval()
    return RobustnessCurves(
        name, list(angles), [_accuracy(network, warp_batch(images, a, 1.0), labels)
                             for a in angles],
        list(scales), [_accuracy(network, warp_batch(images, 0.0, s), labels) for s in scales],
        list(shifts), [_accuracy(network, warp_batch(images, 0.0, 1.0, [(d, 0)] * len(images)),
                                 labels) for d in shifts])


@dataclass
class TrainedProbe:
    name: str
    network: nn.Module
    curves: RobustnessCurves
    train_accuracy_note: str


def train_robust_pair(train_count: int = 4000, epochs: int = 2, seed: int = 0,
                      augment: AugmentRange = AugmentRange()) -> list[TrainedProbe]:
    """Lesson 7's shift network trained twice on the same digits (its own training loop,
    `lessons.model_shift_experiment`): once as is, once with random rotations, rescaling and
    shifts; then both measured on the same rotated, rescaled and moved test digits."""
    images, labels = L._mnist_subset()
    pairs = []
    for name, extra in (("no augmentation", None), ("augmented", augment)):
        trained = L.model_shift_experiment(ROBUST_POOL, max_shift=0, epochs=epochs,
                                           train_count=train_count, seed=seed, augment=extra)
        test = trained.test_indices[:CURVE_DIGITS]
        curves = robustness_curves(name, trained.network, images[test], labels[test])
        pairs.append(TrainedProbe(name, trained.network, curves,
                                  f"{trained.accuracy[0]:.1%} on the untouched test digits"))
    return pairs


@dataclass
class ProbeSweep:
    """One digit's prediction and confidence (softmax) along one transformation."""

    values: list[float]
    predicted: list[int]
    confidence: list[float]      # probability of the predicted class
    true_probability: list[float]  # probability of the true class
    images: np.ndarray           # [steps, H, W] the warped digits


def probe_sweep(network: nn.Module, image: np.ndarray, label: int, kind: str,
                values) -> ProbeSweep:
    """Warp one digit in steps ("angle" in degrees, "scale" as a factor, "shift" in pixels
    to the right) and read the trained model's softmax at each step."""
    makers = {"angle": lambda v: warp(image, angle=v), "scale": lambda v: warp(image, scale=v),
              "shift": lambda v: warp(image, dx=v)}
    if kind not in makers:
        raise ValueError(f"kind must be one of {', '.join(makers)}, got {kind!r}")
    warped = np.stack([makers[kind](v) for v in values])
    network.eval()
    with torch.no_grad():
        probs = torch.softmax(network(torch.from_numpy(warped)[:, None]), 1).double()
    return ProbeSweep(list(values), probs.argmax(1).tolist(), probs.max(1).values.tolist(),
                      probs[:, label].tolist(), warped)


# --- lesson 6: convolution outside images -------------------------------------------------

def uniform_die(faces: int) -> np.ndarray:
    """P(X = 1..faces) for a fair die."""
    if faces < 1:
        raise ValueError(f"a die needs at least one face (got {faces})")
    return np.full(faces, 1.0 / faces)


@dataclass
class DiceSum:
    faces: int
    dice: int
    values: list[int]            # possible sums: dice ... dice * faces
    probabilities: np.ndarray    # from repeated conv1d
    fractions: list[Fraction]    # the same as exact fractions over faces**dice
    enumerated: np.ndarray       # counted over all faces**dice outcomes
    max_error: float


def dice_sum(faces: int = 6, dice: int = 2) -> DiceSum:
    """The distribution of the sum of `dice` fair dice, f_Z = f_X * f_Y * ..., computed
    with `full_convolution` (the same conv1d as the signals), and checked by counting every
    outcome."""
    if not 1 <= dice <= 6:
        raise ValueError(f"dice must be 1..6 (got {dice})")
    die = uniform_die(faces)
    distribution = die
    for _ in range(dice - 1):
        distribution = full_convolution(distribution, die)
    outcomes = np.zeros(1)
    for _ in range(dice):
        outcomes = np.add.outer(outcomes, np.arange(1, faces + 1)).ravel()
    counts = np.bincount(outcomes.astype(int) - dice, minlength=len(distribution))
    enumerated = counts / faces ** dice
    total = faces ** dice
    return DiceSum(faces, dice, list(range(dice, dice * faces + 1)), distribution,
                   [Fraction(round(p * total), total) for p in distribution], enumerated,
                   float(np.abs(distribution - enumerated).max()))


def dice_terms_latex(faces: int, z: int) -> str:
    """P(Z = z) = sum_x f_X(x) f_Y(z - x) for two dice, filled in at z: the pairs that
    make z on one line, their probabilities on the next."""
    pairs = [(x, z - x) for x in range(1, faces + 1) if 1 <= z - x <= faces]
    named = _shorten([rf"f_X({x})f_Y({y})" for x, y in pairs], keep=6)
    exact = Fraction(len(pairs), faces * faces)
    reduced = (rf" = \frac{{{exact.numerator}}}{{{exact.denominator}}}"
               if exact.denominator != faces * faces else "")
    return (r"\begin{aligned} " + rf"P(Z={z}) &= \sum_x f_X(x)\,f_Y({z}-x) = "
            + " + ".join(named) + r" \\ "
            + rf"&= {len(pairs)} \times \frac{{1}}{{{faces}}}\cdot\frac{{1}}{{{faces}}} = "
            + rf"\frac{{{len(pairs)}}}{{{faces * faces}}}" + reduced + r" \end{aligned}")
