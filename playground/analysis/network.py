"""Looking inside a network: kernels, activations, pooling winners, kernel spectra, receptive
windows. Plain torch/numpy in, numpy out; figure builders and pages draw the results.

Everything here works on a snapshot (`snapshot_model`, `model_from_state`), never on the
module the trainer thread is updating: a forward pass on the live module would race with the
optimizer, and BatchNorm in train mode cannot normalise a single image. Every pass is one
image (within the activation budget: a batch of one fits the caps) and holds one of the
process's pass slots (`train.passes`), so many pages at once cannot add up their memory.
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

from playground import spec as S
from playground.analysis import spectra
from playground.model.blocks import ResidualBlock
from playground.model.build import Analysis, LayerInfo, build_model
from playground.model.geometry import Window
from playground.train.passes import pass_slot

# Spec layer type of each top-level module class (global_avgpool is a Sequential).
_TYPE_OF_MODULE: list[tuple[type[nn.Module], str]] = [
    (nn.Conv2d, "conv"), (nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool"),
    (nn.LeakyReLU, "leaky_relu"), (nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"),
    (nn.Tanh, "tanh"), (nn.GELU, "gelu"), (nn.modules.batchnorm._BatchNorm, "batchnorm"),
    (nn.Dropout, "dropout"), (nn.Flatten, "flatten"), (nn.Linear, "linear"),
    (ResidualBlock, "residual"), (nn.Sequential, "global_avgpool"),
]
ACTIVATION_TYPES = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "gelu"})


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


def model_from_state(model_spec: S.ModelSpec, state_dict: Mapping[str, torch.Tensor],
                     analysis: Analysis | None = None) -> nn.Module:
    """Rebuild the network of `model_spec` on the CPU from weights the trainer handed over
    (`analysis`, the spec's own, saves analysing it again)."""
    network = build_model(model_spec, "cpu", analysis=analysis)
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
    """Indices of the top-level conv layers (`conv_units` lists every conv)."""
    return [index for index, child in _children(network) if isinstance(child, nn.Conv2d)]


@dataclass(frozen=True)
class ConvUnit:
    """One nn.Conv2d of the network: a conv layer, or a conv inside a residual block.

    `name` is the module path and so the state-dict prefix ("0", "4.body.3",
    "4.shortcut.0"); `windows` are the sliding windows from the start of its spec layer up
    to and including this conv, for the receptive field of its output pixels.
    """

    name: str
    layer_index: int
    role: str                      # "conv", "conv1", "conv2", "conv3" or "shortcut"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    windows: tuple[Window, ...]

    @property
    def weight_key(self) -> str:
        return f"{self.name}.weight"

    @property
    def inside_block(self) -> bool:
        return self.role != "conv"

    @property
    def label(self) -> str:
        """e.g. "layer 3 residual · conv2 (3x3, 64→64)"."""
        k = self.kernel_size
        shape = f"{k}x{k}, {self.in_channels}→{self.out_channels}"
        if self.stride > 1:
            shape += f", stride {self.stride}"
        if not self.inside_block:
            return f"layer {self.layer_index} conv ({shape})"
        role = "projection shortcut" if self.role == "shortcut" else self.role
        return f"layer {self.layer_index} residual · {role} ({shape})"


def _single(value: int | tuple[int, ...]) -> int:
    return value if isinstance(value, int) else value[0]  # spec windows are square


def _conv_window(conv: nn.Conv2d) -> Window:
    return Window(_single(conv.kernel_size), _single(conv.stride), _single(conv.padding),
                  _single(conv.dilation))


def conv_units(network: nn.Module) -> list[ConvUnit]:
    """Every conv of the network in forward order, those inside residual blocks (body
    convs, then the projection shortcut) included."""
    units = []
    for index, child in _children(network):
        if isinstance(child, nn.Conv2d):
            found = [(str(index), "conv", child, (_conv_window(child),))]
        elif isinstance(child, ResidualBlock):
            body = [(n, m) for n, m in child.body.named_children() if isinstance(m, nn.Conv2d)]
            windows = tuple(_conv_window(m) for _, m in body)
            found = [(f"{index}.body.{n}", f"conv{k + 1}", m, windows[:k + 1])
                     for k, (n, m) in enumerate(body)]
            found += [(f"{index}.shortcut.{n}", "shortcut", m, (_conv_window(m),))
                      for n, m in child.shortcut.named_children() if isinstance(m, nn.Conv2d)]
        else:
            continue
        units += [ConvUnit(name, index, role, conv.in_channels, conv.out_channels,
                           _single(conv.kernel_size), _single(conv.stride), windows)
                  for name, role, conv, windows in found]
    return units


@dataclass
class ConvActivation:
    """What one conv saw and made for one image (no batch dim).

    `pre_activation`/`activated` are the input and output of the nonlinearity that the
    conv feeds through BatchNorm inside its own block (None when none follows, as for a
    basic block's conv2 whose ReLU comes after the shortcut is added).
    """

    input: np.ndarray
    output: np.ndarray
    pre_activation: np.ndarray | None
    activated: np.ndarray | None


def _activation_after(network: nn.Module, name: str) -> nn.Module | None:
    """The activation module that follows conv `name` in its Sequential (past BatchNorm)."""
    parent_name, _, own = name.rpartition(".")
    if not parent_name:
        return None  # a top-level conv: the page reads the next layers from `activations`
    siblings = list(network.get_submodule(parent_name).named_children())
    position = [n for n, _ in siblings].index(own)
    for _, module in siblings[position + 1:]:
        if layer_type(module) in ACTIVATION_TYPES:
            return module
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            return None
    return None


def conv_activation(network: nn.Module, probe: torch.Tensor, name: str) -> ConvActivation:
    """Input and output of conv `name` (a `ConvUnit.name`) for one image, and of the
    nonlinearity it feeds inside its block, from one forward pass."""
    conv = network.get_submodule(name)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"{name} is {type(conv).__name__}, not a conv")
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(key: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            seen[key] = (inputs[0][0].detach(), output[0].detach())
        return hook

    handles = [conv.register_forward_hook(record("conv"))]
    after = _activation_after(network, name)
    if after is not None:
        handles.append(after.register_forward_hook(record("act")))
    try:
        with torch.no_grad(), _eval_mode(network), pass_slot():
            network(_batch(probe, network))
    finally:
        for handle in handles:
            handle.remove()
    conv_in, conv_out = seen["conv"]
    act = seen.get("act")
    return ConvActivation(_numpy(conv_in), _numpy(conv_out),
                          None if act is None else _numpy(act[0]),
                          None if act is None else _numpy(act[1]))


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
        with torch.no_grad(), _eval_mode(network), pass_slot():
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
    with torch.no_grad(), _eval_mode(network), pass_slot():
        logits = network(_batch(probe, network))
    return _numpy(torch.softmax(logits[0].float(), dim=0))


# --- max pooling --------------------------------------------------------------------------

# --- frequency response of a layer's kernels ---------------------------------------------

def kernel_spectra(network: nn.Module, index: int, size: int = 32,
                   db: bool = False) -> np.ndarray:
    """Spectra of every kernel of conv layer `index`: [out, in, size, size], one FFT call."""
    weights = _conv(network, index).weight.detach().to("cpu")
    return spectra.spectra(weights, size, db).numpy()


# --- receptive windows --------------------------------------------------------------------

def receptive_window(infos: list[LayerInfo], index: int, row: int, col: int,
                     unit: ConvUnit | None = None) -> tuple[int, int, int, int]:
    """Input region (top, left, bottom, right; inclusive) seen by pixel (row, col) of layer
    `index`'s output, or of the output of `unit`, a conv inside residual block `index`. It
    may reach outside the image (into the padding): callers clip.

    Walks back from the layer to the input: output span [a, b] of a window (k, s, p, d)
    comes from input span [a*s - p, b*s - p + (k-1)*d].
    """
    info = infos[index]
    if info.receptive_field is None:
        raise ValueError(f"layer {index} ({info.type}) has a flat output: no pixel position")
    if unit is not None and unit.layer_index != index:
        raise ValueError(f"{unit.label} is not part of layer {index}")
    layers = [list(earlier.windows) for earlier in infos[:index + 1]]
    if unit is not None:
        layers[-1] = list(unit.windows)
    top, bottom, left, right = row, row, col, col
    for windows in reversed(layers):
        for kernel, stride, padding, dilation in reversed(windows):
            reach = (kernel - 1) * dilation
            top, bottom = top * stride - padding, bottom * stride - padding + reach
            left, right = left * stride - padding, right * stride - padding + reach
    return top, left, bottom, right


# --- pooling of any kind ------------------------------------------------------------------

@dataclass
class PoolCompare:
    """Max and average pooling of the same input, with the max winners."""

    max_output: np.ndarray   # [C, H', W']
    avg_output: np.ndarray   # [C, H', W']
    argmax_rows: np.ndarray  # [C, H', W'] in the unpadded input
    argmax_cols: np.ndarray


def pool_compare(features: np.ndarray, kernel_size: int, stride: int | None = None,
                 padding: int = 0) -> PoolCompare:
    """Pool `features` [C, H, W] both ways with the same window (avg counts padding as 0,
    as nn.AvgPool2d does by default)."""
    stride = stride or kernel_size
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))[None]
    maxed, flat = F.max_pool2d(x, kernel_size, stride, padding, return_indices=True)
    averaged = F.avg_pool2d(x, kernel_size, stride, padding)
    width = x.shape[-1]
    flat = flat[0].numpy()
    return PoolCompare(_numpy(maxed[0]), _numpy(averaged[0]), flat // width, flat % width)


# --- saliency -----------------------------------------------------------------------------

def last_spatial_layer(infos: list[LayerInfo]) -> int | None:
    """Index of the last layer whose output still has a [C, H, W] shape (Grad-CAM's)."""
    spatial = [info.index for info in infos if len(info.output_shape) == 3]
    return spatial[-1] if spatial else None


def grad_cam(network: nn.Module, probe: torch.Tensor, index: int,
             class_index: int | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM (Selvaraju et al. 2017) of layer `index` for one image.

    Returns (map [H, W] of the layer's output resolution, scaled to [0, 1], class used).
    The class defaults to the predicted one. Run it on a snapshot: gradients flow to the
    input only, the weights stay frozen.
    """
    layer = _child(network, index)
    stored: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        output.retain_grad()
        stored["output"] = output

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad(), _eval_mode(network), pass_slot():
            x = _batch(probe, network).clone().requires_grad_(True)
            logits = network(x)
            chosen = int(logits[0].argmax()) if class_index is None else int(class_index)
            logits[0, chosen].backward()
    finally:
        handle.remove()
    output = stored["output"]
    if output.dim() != 4:
        raise ValueError(f"layer {index} has a flat output: Grad-CAM needs a feature map")
    weights = output.grad[0].mean(dim=(1, 2))              # [C]: pooled gradients
    cam = torch.relu((weights[:, None, None] * output[0]).sum(0)).detach()
    peak = float(cam.max())
    return _numpy(cam / peak if peak > 0 else cam), chosen
