"""Looking inside a network: kernels, activations, pooling winners, kernel spectra, receptive
windows. Plain torch/numpy in, numpy out; figure builders and pages draw the results.

Everything here works on a snapshot (`snapshot_model`, `model_from_state`), never on the
module the trainer thread is updating: a forward pass on the live module would race with the
optimizer, and BatchNorm in train mode cannot normalise a single image.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import spec as S
from .blocks import ResidualBlock
from .model import LayerInfo, build_model

# Spec layer type of each top-level module class (global_avgpool is a Sequential).
_TYPE_OF_MODULE: list[tuple[type[nn.Module], str]] = [
    (nn.Conv2d, "conv"), (nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool"),
    (nn.LeakyReLU, "leaky_relu"), (nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"),
    (nn.Tanh, "tanh"), (nn.GELU, "gelu"), (nn.modules.batchnorm._BatchNorm, "batchnorm"),
    (nn.Dropout, "dropout"), (nn.Flatten, "flatten"), (nn.Linear, "linear"),
    (ResidualBlock, "residual"), (nn.Sequential, "global_avgpool"),
]
ACTIVATION_TYPES = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "gelu"})
DB_EPS = 1e-8  # keeps log10 finite at the exact zeros of a kernel's spectrum


# --- snapshots ----------------------------------------------------------------------------

def _freeze(network: nn.Module) -> nn.Module:
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
        parameter.grad = None
    return network


def snapshot_model(network: nn.Module) -> nn.Module:
    """An independent CPU copy in eval mode with gradients off."""
    # A dropout's torch.Generator cannot be deep-copied, and eval mode never uses it:
    # the memo makes the copy hold None instead.
    memo: dict[int, object] = {id(m.generator): None for m in network.modules()
                               if getattr(m, "generator", None) is not None}
    with torch.no_grad():
        return _freeze(copy.deepcopy(network, memo).to("cpu"))


def model_from_state(model_spec: S.ModelSpec,
                     state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Rebuild the network of `model_spec` on the CPU from weights the trainer handed over."""
    network = build_model(model_spec, "cpu")
    network.load_state_dict(state_dict)  # copies, so the trainer's tensors stay its own
    return _freeze(network)


# --- layers and kernels -------------------------------------------------------------------

def _children(network: nn.Module) -> list[tuple[int, nn.Module]]:
    """Children named "0", "1", ... (spec layers, then the auto head) in index order."""
    return sorted((int(name), child) for name, child in network.named_children())


def _child(network: nn.Module, index: int) -> nn.Module:
    children = dict(_children(network))
    if index not in children:
        raise IndexError(f"the network has no layer {index}")
    return children[index]


def layer_type(module: nn.Module) -> str:
    """The spec type name ("conv", "relu", ...) of a top-level child."""
    for cls, name in _TYPE_OF_MODULE:
        if isinstance(module, cls):
            return name
    return type(module).__name__


def conv_layers(network: nn.Module) -> list[int]:
    """Indices of the conv layers (residual blocks' inner convs are not counted)."""
    return [index for index, child in _children(network) if isinstance(child, nn.Conv2d)]


def _conv(network: nn.Module, index: int) -> nn.Conv2d:
    child = _child(network, index)
    if not isinstance(child, nn.Conv2d):
        raise ValueError(f"layer {index} is {layer_type(child)}, not a conv; "
                         f"conv layers: {conv_layers(network)}")
    return child


def kernels(network: nn.Module, index: int) -> np.ndarray:
    """float32 weights [out, in, k, k] of conv layer `index` (a copy)."""
    return _conv(network, index).weight.detach().to("cpu", torch.float32).numpy().copy()


# --- forward passes with hooks ------------------------------------------------------------

def _batch(probe: torch.Tensor, network: nn.Module) -> torch.Tensor:
    """One image as a [1, C, H, W] float batch on the network's device."""
    if probe.dim() == 3:
        probe = probe.unsqueeze(0)
    if probe.dim() != 4 or probe.shape[0] != 1:
        raise ValueError(f"probe must be [C, H, W] or [1, C, H, W], got {list(probe.shape)}")
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    return probe.to(device, torch.float32)


@contextmanager
def _eval_mode(network: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration, then every module's own training flag back.

    Flipping flags is only safe on a module no other thread runs: pass a snapshot.
    """
    flags = [(module, module.training) for module in network.modules()]
    network.eval()
    try:
        yield network
    finally:
        for module, training in flags:
            module.training = training


@dataclass
class _Capture:
    input: torch.Tensor
    output: torch.Tensor
    pre_activation: torch.Tensor | None = None


def _run_captured(network: nn.Module, probe: torch.Tensor,
                  wanted: set[int] | None = None) -> tuple[torch.Tensor, dict[int, _Capture]]:
    """Forward one image; record each wanted child's input and output (batch dim dropped)."""
    captures: dict[int, _Capture] = {}
    residual_sums: dict[int, torch.Tensor] = {}
    handles = []

    def record(index: int):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            captures[index] = _Capture(inputs[0][0].detach(), output[0].detach(),
                                       residual_sums.get(index))
        return hook

    def record_sum(index: int):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            residual_sums[index] = inputs[0][0].detach()  # body + shortcut, before its ReLU
        return hook

    try:
        for index, child in _children(network):
            if wanted is not None and index not in wanted:
                continue
            if isinstance(child, ResidualBlock):
                handles.append(child.relu.register_forward_hook(record_sum(index)))
            handles.append(child.register_forward_hook(record(index)))
        with torch.no_grad(), _eval_mode(network):
            logits = network(_batch(probe, network))
    finally:  # hooks left behind would fire on every later forward
        for handle in handles:
            handle.remove()
    return logits[0].detach(), captures


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.to("cpu", torch.float32).numpy()


@dataclass
class LayerActivation:
    """One layer's output for one image (no batch dim).

    `pre_activation` is what the nonlinearity saw: the input of an activation layer (for
    "conv, relu" that is the conv's output) and a residual block's sum before its final
    ReLU; None for every other layer.
    """

    index: int
    type: str
    output: np.ndarray
    pre_activation: np.ndarray | None = None

    @property
    def min(self) -> float:
        return float(self.output.min())

    @property
    def max(self) -> float:
        return float(self.output.max())

    @property
    def mean(self) -> float:
        return float(self.output.mean())

    @property
    def zero_fraction(self) -> float:
        """Share of exact zeros: the "dead" units after a ReLU."""
        return float((self.output == 0).mean())


def activations(network: nn.Module, probe: torch.Tensor) -> list[LayerActivation]:
    """Every child layer's output for one image, in index order."""
    _, captures = _run_captured(network, probe)
    result = []
    for index, child in _children(network):
        capture = captures[index]
        kind = layer_type(child)
        pre = capture.input if kind in ACTIVATION_TYPES else capture.pre_activation
        result.append(LayerActivation(index, kind, _numpy(capture.output),
                                      None if pre is None else _numpy(pre)))
    return result


def predict(network: nn.Module, probe: torch.Tensor) -> np.ndarray:
    """Class probabilities [num_classes] for one image."""
    with torch.no_grad(), _eval_mode(network):
        logits = network(_batch(probe, network))
    return _numpy(torch.softmax(logits[0].float(), dim=0))


# --- max pooling --------------------------------------------------------------------------

@dataclass
class PoolTrace:
    """A max pool on one image: which input pixel won each window.

    argmax_rows/cols are positions in the unpadded input (padding never wins: it is -inf).
    """

    index: int
    input: np.ndarray        # [C, H, W]
    output: np.ndarray       # [C, H', W']
    argmax_rows: np.ndarray  # [C, H', W'] int64
    argmax_cols: np.ndarray  # [C, H', W'] int64
    kernel_size: int
    stride: int
    padding: int


def _single(value: int | tuple[int, ...]) -> int:
    return value if isinstance(value, int) else value[0]  # spec windows are square


def max_pool_traces(network: nn.Module, probe: torch.Tensor) -> list[PoolTrace]:
    """Winners of every max-pool layer, from one forward pass."""
    pools = {i: c for i, c in _children(network) if isinstance(c, nn.MaxPool2d)}
    if not pools:
        return []
    _, captures = _run_captured(network, probe, set(pools))
    traces = []
    for index, pool in pools.items():
        x = captures[index].input.unsqueeze(0)
        # Re-run the pool asking for the flat winner index h*W + w of each window.
        output, flat = F.max_pool2d(x, pool.kernel_size, pool.stride, pool.padding,
                                    pool.dilation, pool.ceil_mode, return_indices=True)
        width = x.shape[-1]
        flat = flat[0].cpu().numpy()
        traces.append(PoolTrace(index, _numpy(x[0]), _numpy(output[0]), flat // width,
                                flat % width, _single(pool.kernel_size), _single(pool.stride),
                                _single(pool.padding)))
    return traces


# --- frequency response -------------------------------------------------------------------

def _spectra(weights: torch.Tensor, size: int, db: bool) -> torch.Tensor:
    """|FFT2| over the last two dims, zero-padded to size x size, DC in the centre."""
    if size < max(weights.shape[-2:]):
        raise ValueError(f"size {size} is smaller than the kernel {list(weights.shape[-2:])}")
    magnitude = torch.fft.fft2(weights.double(), s=(size, size)).abs()
    magnitude = torch.fft.fftshift(magnitude, dim=(-2, -1))
    return 20 * torch.log10(magnitude + DB_EPS) if db else magnitude


def kernel_spectrum(kernel2d: np.ndarray, size: int = 32, db: bool = False) -> np.ndarray:
    """Magnitude of one 2-D kernel's frequency response on a size x size grid."""
    kernel = torch.as_tensor(np.asarray(kernel2d, dtype=np.float64))
    if kernel.dim() != 2:
        raise ValueError(f"expected a 2-D kernel, got shape {list(kernel.shape)}")
    return _spectra(kernel, size, db).numpy()


def kernel_spectra(network: nn.Module, index: int, size: int = 32,
                   db: bool = False) -> np.ndarray:
    """Spectra of every kernel of conv layer `index`: [out, in, size, size], one FFT call."""
    weights = _conv(network, index).weight.detach().to("cpu")
    return _spectra(weights, size, db).numpy()


def _frequency_radius(shape: tuple[int, int]) -> np.ndarray:
    """Distance of each fftshifted bin from DC, in cycles/sample."""
    fy = np.fft.fftshift(np.fft.fftfreq(shape[0]))
    fx = np.fft.fftshift(np.fft.fftfreq(shape[1]))
    return np.hypot(fy[:, None], fx[None, :])


def radial_profile(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of an fftshifted spectrum on rings of integer radius around DC.

    Returns (radii in cycles/sample from 0 to 0.5, mean value per ring). The corners beyond
    0.5 are left out: they are not whole rings.
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    n = min(spectrum.shape)
    ring = np.rint(_frequency_radius(spectrum.shape) * n).astype(np.int64)
    inside = ring <= n // 2
    sums = np.bincount(ring[inside], weights=spectrum[inside], minlength=n // 2 + 1)
    counts = np.bincount(ring[inside], minlength=n // 2 + 1)
    return np.arange(n // 2 + 1) / n, sums / counts


LOW_BAND, HIGH_BAND = 0.125, 0.375  # cycles/sample: the band edges of frequency_label
DOMINANT_SHARE = 0.5


def frequency_label(kernel2d: np.ndarray, size: int = 32) -> str:
    """"low-pass", "band-pass", "high-pass" or "mixed/flat".

    Rule: split the power spectrum |H|^2 into three bands by radius from DC: low (radius
    <= 1/8 cycles/sample, DC included), middle (1/8 .. 3/8) and high (>= 3/8, corners
    included). Take each band's mean power, so a band's size does not count, and name the
    band holding at least half of the sum of the three means. A flat spectrum (a delta
    kernel) gives each band a third, and so does a kernel that passes both ends equally:
    both are "mixed/flat". Box and Gaussian blurs are low-pass, a Laplacian or a pixel
    difference high-pass, a Sobel (a smoothed derivative, zero at DC and at Nyquist)
    band-pass.
    """
    power = kernel_spectrum(kernel2d, size) ** 2
    radius = _frequency_radius(power.shape)
    bands = [power[radius <= LOW_BAND].mean(),
             power[(radius > LOW_BAND) & (radius < HIGH_BAND)].mean(),
             power[radius >= HIGH_BAND].mean()]
    total = sum(bands)
    if total == 0:
        return "mixed/flat"  # an all-zero kernel passes nothing
    best = int(np.argmax(bands))
    if bands[best] / total < DOMINANT_SHARE:
        return "mixed/flat"
    return ("low-pass", "band-pass", "high-pass")[best]


# --- receptive windows --------------------------------------------------------------------

def _windows(layer: S.Layer) -> list[tuple[int, int, int, int]]:
    """(kernel, stride, padding, dilation) of the sliding windows a spec layer applies, in
    order; mirrors model.receptive_step (1x1 convs are included: they add nothing)."""
    kind = layer.TYPE
    if kind == "conv":
        return [(layer.kernel_size, layer.stride, layer.padding, layer.dilation)]
    if kind in ("maxpool", "avgpool"):
        return [(layer.kernel_size, layer.stride or layer.kernel_size, layer.padding, 1)]
    if kind == "residual":
        if layer.bottleneck_width is None:
            return [(3, layer.stride, 1, 1), (3, 1, 1, 1)]
        return [(1, 1, 0, 1), (3, layer.stride, 1, 1), (1, 1, 0, 1)]
    return []  # element-wise layers keep the window


def receptive_window(infos: list[LayerInfo], index: int, row: int,
                     col: int) -> tuple[int, int, int, int]:
    """Input region (top, left, bottom, right; inclusive) seen by pixel (row, col) of layer
    `index`'s output. It may reach outside the image (into the padding): callers clip.

    Walks back from the layer to the input: output span [a, b] of a window (k, s, p, d)
    comes from input span [a*s - p, b*s - p + (k-1)*d].
    """
    info = infos[index]
    if info.receptive_field is None:
        raise ValueError(f"layer {index} ({info.type}) has a flat output: no pixel position")
    top, bottom, left, right = row, row, col, col
    for earlier in reversed(infos[:index + 1]):
        for kernel, stride, padding, dilation in reversed(_windows(earlier.layer)):
            reach = (kernel - 1) * dilation
            top, bottom = top * stride - padding, bottom * stride - padding + reach
            left, right = left * stride - padding, right * stride - padding + reach
    return top, left, bottom, right
