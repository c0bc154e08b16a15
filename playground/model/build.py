"""Spec -> torch module, per-layer analysis, and export to standalone PyTorch source.

Every layer becomes a `Recipe` (a constructor name and its arguments). The same recipes
build the live module and are printed into exported code, so the two cannot drift.
Shapes, parameter counts and multiply-adds come from running the real modules on an
empty batch (multiply-adds from the output shape of every conv and linear inside); only
the receptive field is arithmetic (it has no module to ask), over the windows of
`model.geometry`.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from playground import spec as S
from playground.model.blocks import ResidualBlock, SeededDropout, residual_geometry
from playground.model.geometry import ResidualGeometry, Window, layer_windows, receptive_steps


@dataclass
class Recipe:
    """How to construct one module: `factory(*args, **kwargs)`, or a Sequential of children."""

    factory: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    children: list["Recipe"] = field(default_factory=list)


_FACTORIES = {
    "nn.Conv2d": nn.Conv2d, "nn.MaxPool2d": nn.MaxPool2d, "nn.AvgPool2d": nn.AvgPool2d,
    "nn.ReLU": nn.ReLU, "nn.LeakyReLU": nn.LeakyReLU, "nn.Sigmoid": nn.Sigmoid,
    "nn.Tanh": nn.Tanh, "nn.GELU": nn.GELU, "nn.BatchNorm2d": nn.BatchNorm2d,
    "nn.BatchNorm1d": nn.BatchNorm1d, "nn.Dropout": SeededDropout, "nn.Flatten": nn.Flatten,
    "nn.Linear": nn.Linear, "nn.AdaptiveAvgPool2d": nn.AdaptiveAvgPool2d,
    "ResidualBlock": ResidualBlock,
}


def instantiate(recipe: Recipe) -> nn.Module:
    if recipe.factory == "nn.Sequential":
        return nn.Sequential(*(instantiate(child) for child in recipe.children))
    return _FACTORIES[recipe.factory](*recipe.args, **recipe.kwargs)


def recipe_source(recipe: Recipe, indent: str = "") -> str:
    """Python source for a recipe; every value is written with repr, so it is a literal."""
    if recipe.factory == "nn.Sequential":
        inner = indent + "    "
        children = "".join(f"{inner}{recipe_source(c, inner)},\n" for c in recipe.children)
        return f"nn.Sequential(\n{children}{indent})"
    parts = [repr(a) for a in recipe.args]
    parts += [f"{k}={v!r}" for k, v in recipe.kwargs.items()]
    return f"{recipe.factory}({', '.join(parts)})"


# --- shape rules and recipes --------------------------------------------------------------

Shape = tuple[int, ...]


def _shape_text(shape: Shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _needs_spatial(layer: S.Layer, shape: Shape) -> None:
    if len(shape) != 3:
        raise S.SpecError(f"needs a spatial input [C, H, W] but gets the flat "
                          f"{_shape_text(shape)}; move it before the flatten")


def _check_window(layer: S.Layer, shape: Shape, dilation: int = 1) -> None:
    _, height, width = shape
    padded_h, padded_w = height + 2 * layer.padding, width + 2 * layer.padding
    extent = layer.kernel_size + (layer.kernel_size - 1) * (dilation - 1)
    if extent > padded_h or extent > padded_w:
        what = (f"kernel_size {layer.kernel_size}" if dilation == 1 else
                f"dilated kernel {extent} (kernel_size {layer.kernel_size}, dilation {dilation})")
        raise S.SpecError(f"{what} is larger than the padded input {padded_h}x{padded_w}")


def layer_recipe(layer: S.Layer, shape: Shape) -> Recipe:
    """The module for `layer` on input `shape` (no batch dim); SpecError if it cannot fit."""
    kind = layer.TYPE
    flat = len(shape) == 1
    if kind == "conv":
        _needs_spatial(layer, shape)
        _check_window(layer, shape, layer.dilation)
        return Recipe("nn.Conv2d", (shape[0], layer.out_channels, layer.kernel_size), dict(
            stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
            bias=layer.bias))
    if kind in ("maxpool", "avgpool"):
        _needs_spatial(layer, shape)
        _check_window(layer, shape)
        factory = "nn.MaxPool2d" if kind == "maxpool" else "nn.AvgPool2d"
        return Recipe(factory, (layer.kernel_size,),
                      dict(stride=layer.stride, padding=layer.padding))
    if kind == "residual":
        _needs_spatial(layer, shape)
        return Recipe("ResidualBlock", (shape[0], layer.out_channels), dict(
            stride=layer.stride, bottleneck_width=layer.bottleneck_width))
    if kind == "global_avgpool":
        _needs_spatial(layer, shape)
        return Recipe("nn.Sequential", children=[
            Recipe("nn.AdaptiveAvgPool2d", (1,)), Recipe("nn.Flatten")])
    if kind == "linear":
        if not flat:
            raise S.SpecError(f"needs a flat input but gets {_shape_text(shape)}; "
                              "add a flatten before it")
        return Recipe("nn.Linear", (shape[0], layer.out_features))
    if kind == "batchnorm":
        return Recipe("nn.BatchNorm1d" if flat else "nn.BatchNorm2d", (shape[0],))
    if kind == "dropout":
        return Recipe("nn.Dropout", (layer.p,))
    if kind == "leaky_relu":
        return Recipe("nn.LeakyReLU", (layer.negative_slope,))
    simple = {"relu": "nn.ReLU", "sigmoid": "nn.Sigmoid", "tanh": "nn.Tanh",
              "gelu": "nn.GELU", "flatten": "nn.Flatten"}
    return Recipe(simple[kind])


def layer_geometry(layer: S.Layer, in_channels: int) -> tuple[tuple[Window, ...],
                                                              ResidualGeometry | None]:
    """(the windows `layer` slides, in order; its residual geometry or None)."""
    residual = None
    if layer.TYPE == "residual":
        residual = residual_geometry(in_channels, layer.out_channels, layer.stride,
                                     layer.bottleneck_width)
    return layer_windows(layer, residual), residual


def receptive_step(layer: S.Layer, rf: int, jump: int) -> tuple[int, int]:
    """r_out = r_in + (k_eff - 1) * j_in, j_out = j_in * s, for one spec layer."""
    # input channels only decide a residual block's shortcut, never a window
    windows, _ = layer_geometry(layer, getattr(layer, "out_channels", 1))
    return receptive_steps(windows, rf, jump)


# --- analysis -------------------------------------------------------------------------------

FLOAT_BYTES = 4  # float32 layer outputs

# STEP_WORK: what one image costs a training step, in multiply-adds. Multiply-adds alone
# miss most of it for some networks; measured on the reference 2-core CPU (RELIABILITY.md):
# - a conv works on its channels in blocks of VECTOR_CHANNELS (the CPU's vector width), so
#   a conv with 1 or 3 channels costs as if it had 16;
# - every output position of a conv costs about CONV_POSITION_MACS more, whatever its
#   channels (what makes thin convs on big images slow);
# - every float a layer stores (written, kept, read back by the backward pass, freed)
#   costs about as long as STORED_VALUE_MACS multiply-adds.
# `Limits.max_step_macs` caps this work for a whole batch.
VECTOR_CHANNELS = 16
CONV_POSITION_MACS = 2_000
STORED_VALUE_MACS = 150


@dataclass
class LayerInfo:
    index: int
    type: str
    layer: S.Layer
    recipe: Recipe
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    receptive_field: int | None
    jump: int | None
    auto: bool = False
    windows: tuple[Window, ...] = ()          # the sliding windows, in order
    residual: ResidualGeometry | None = None  # a residual block's convs
    step_work: int = 0                        # one image in a training step (STEP_WORK)

    @property
    def projection(self) -> bool:
        """A residual block whose shortcut is a 1x1 projection (not the identity)."""
        return self.residual is not None and self.residual.projection

    @property
    def output_floats(self) -> int:
        return math.prod(self.output_shape)

    def to_json_dict(self) -> dict[str, Any]:
        return {"index": self.index, "type": self.type, "output_shape": list(self.output_shape),
                "params": self.params, "receptive_field": self.receptive_field,
                "jump": self.jump, "auto": self.auto, "macs": self.macs}


@dataclass
class Analysis:
    input_shape: Shape
    layers: list[LayerInfo]

    @property
    def total_params(self) -> int:
        return sum(info.params for info in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(info.macs for info in self.layers)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def activation_floats(self) -> int:
        """Floats of layer outputs for one image (what a forward pass keeps for backward)."""
        return sum(info.output_floats for info in self.layers)

    @property
    def activation_bytes(self) -> int:
        """Bytes of layer outputs for one image (float32): what the memory budget divides."""
        return self.activation_floats * FLOAT_BYTES

    @property
    def step_work(self) -> int:
        """Multiply-add equivalents of one image in a training step (see STEP_WORK)."""
        return sum(info.step_work for info in self.layers)

    def to_json_dict(self) -> dict[str, Any]:
        return {"layers": [info.to_json_dict() for info in self.layers],
                "total_params": self.total_params, "output_shape": list(self.output_shape),
                "total_macs": self.total_macs}


def head_layers(shape: Shape, num_classes: int) -> list[S.Layer]:
    """The automatic classifier head DESIGN.md defines for a network ending in `shape`."""
    if len(shape) == 3:
        return [S.Flatten(), S.Linear(out_features=num_classes)]
    if shape[0] != num_classes:
        return [S.Linear(out_features=num_classes)]
    return []


def _empty_module(recipe: Recipe) -> nn.Module:
    """The module of `recipe` in eval mode with uninitialised CPU weights (only shapes are read).

    Not run on the meta device: there ReLU, BatchNorm, addmm and most other ops (and
    `to_empty`'s empty_like) run torch's Python reference kernels, whose first call imports
    the compiler stack, seconds for every `summary`. On the CPU an empty batch runs the C++
    kernels and computes nothing, and untouched weights take no memory.
    """
    with torch.device("meta"):
        module = instantiate(recipe)
    # What module.to_empty(device="cpu") does, with a factory that stays in C++.
    return module._apply(lambda tensor: torch.empty(tensor.shape, dtype=tensor.dtype)).eval()


def _padded(channels: int) -> int:
    return -(-channels // VECTOR_CHANNELS) * VECTOR_CHANNELS


def _conv_work(conv: nn.Conv2d, output: torch.Tensor) -> tuple[int, int]:
    """(multiply-adds, STEP_WORK) of one conv for one image."""
    positions = math.prod(output.shape[2:])
    taps = math.prod(conv.kernel_size)
    in_channels = conv.in_channels // conv.groups
    macs = positions * taps * in_channels * conv.out_channels
    work = positions * (taps * _padded(in_channels) * _padded(conv.out_channels)
                        + CONV_POSITION_MACS)
    return macs, work


@torch.no_grad()
def _measure(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """The output of `module` on the empty batch `x`, its multiply-adds per image and its
    STEP_WORK per image.

    Each output element of a conv takes in_channels/groups x k x k multiply-adds, of a
    linear in_features; BatchNorm, pooling and activations count none. That is exactly
    what torch's FLOP counter counts (halved), but it imports the compiler stack on first
    use, so the multiply-adds are read from the shapes here.
    """
    macs = conv_macs = work = 0

    def count(inner: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs, conv_macs, work
        if isinstance(inner, (nn.Conv2d, nn.Linear)):
            macs += output.shape[1:].numel() * inner.weight.shape[1:].numel()
        if isinstance(inner, nn.Conv2d):
            layer_macs, conv_work = _conv_work(inner, output)
            conv_macs, work = conv_macs + layer_macs, work + conv_work
        if not isinstance(inner, nn.Flatten) and output is not inputs[0]:  # views store nothing
            work += STORED_VALUE_MACS * output.shape[1:].numel()

    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    hooks = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        y = module(x)
    finally:
        for hook in hooks:
            hook.remove()
    return y, macs, work + macs - conv_macs


def analyze(model_spec: S.ModelSpec, limits: S.Limits = S.LIMITS) -> Analysis:
    """Shapes, params, MACs and receptive fields per layer, auto head included.

    Raises SpecError naming the first layer that cannot work (with its numbers).
    """
    shape: Shape = tuple(model_spec.input)
    x = torch.empty((0, *shape))  # an empty batch: exact shapes, no arithmetic
    rf, jump = 1, 1
    infos: list[LayerInfo] = []

    def add(index: int, layer: S.Layer, auto: bool) -> None:
        nonlocal shape, x, rf, jump
        try:
            recipe = layer_recipe(layer, shape)
            module = _empty_module(recipe)
            y, macs, work = _measure(module, x)
        except S.SpecError as error:
            raise S.SpecError(error.reason, layer_index=index, layer_type=layer.TYPE) from None
        out_shape = tuple(y.shape[1:])
        if any(size < 1 for size in out_shape):
            raise S.SpecError(f"output size {_shape_text(out_shape)} is below 1",
                              layer_index=index, layer_type=layer.TYPE)
        spatial = len(out_shape) == 3
        windows, residual = layer_geometry(layer, shape[0])
        if spatial:
            rf, jump = receptive_steps(windows, rf, jump)
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
        infos.append(LayerInfo(index, layer.TYPE, layer, recipe, shape, out_shape, params, macs,
                               rf if spatial else None, jump if spatial else None, auto,
                               windows, residual, work))
        total = sum(info.params for info in infos)
        if total > limits.max_params:
            raise S.SpecError(f"the network reaches {total:,} parameters here, over the limit "
                              f"of {limits.max_params:,}", layer_index=index,
                              layer_type=layer.TYPE)
        shape, x = out_shape, y

    for index, layer in enumerate(model_spec.layers):
        add(index, layer, auto=False)
    for offset, layer in enumerate(head_layers(shape, model_spec.num_classes)):
        add(len(model_spec.layers) + offset, layer, auto=True)
    return Analysis(tuple(model_spec.input), infos)


def check_batch_memory(analysis: Analysis, batch_size: int,
                       limits: S.Limits = S.LIMITS) -> int:
    """Bytes of layer outputs one training batch keeps; SpecError when over the limit."""
    per_image = analysis.activation_bytes
    needed = per_image * batch_size
    if needed > limits.max_activation_bytes:
        largest = max(1, limits.max_activation_bytes // max(per_image, 1))
        raise S.SpecError(
            f"a batch of {batch_size} needs {math.ceil(needed / 2**20):,} MB of activations "
            f"({analysis.activation_floats:,} floats per image x 4 bytes), over the limit of "
            f"{limits.max_activation_bytes // 2**20:,} MB; use a batch of at most {largest} "
            "or a smaller network", where="training.batch_size")
    return needed


def _giga(value: float) -> str:
    return f"{value / 1e9:,.1f} G" if value >= 1e8 else f"{value / 1e9:,.3f} G"


def check_step_work(analysis: Analysis, batch_size: int, limits: S.Limits = S.LIMITS) -> int:
    """Multiply-add equivalents of one training step (STEP_WORK); SpecError over the cap,
    which keeps a step to about a second, so Stop takes effect within one."""
    per_image = analysis.step_work
    needed = per_image * batch_size
    if needed <= limits.max_step_macs:
        return needed
    layer = max(analysis.layers, key=lambda info: info.step_work)
    largest = limits.max_step_macs // max(per_image, 1)
    where = f"layer {layer.index} ({layer.type})"
    advice = (f"use a batch of at most {largest} or a smaller network" if largest else
              f"even one image is over it: make {where} smaller")
    raise S.SpecError(
        f"a batch of {batch_size} needs {_giga(needed)} multiply-adds per training step "
        f"({_giga(per_image)} per image, {_giga(layer.step_work)} of them in {where}, "
        f"counting what each layer stores), over the limit of "
        f"{_giga(limits.max_step_macs)} (about a second on a 2-core CPU); {advice}",
        where="training.batch_size")


def check_batch(analysis: Analysis, batch_size: int, limits: S.Limits = S.LIMITS) -> None:
    """Every cap on one training batch: its activation memory, then its work."""
    check_batch_memory(analysis, batch_size, limits)
    check_step_work(analysis, batch_size, limits)


def check_lesson_batch(model_spec: S.ModelSpec, analysis: Analysis) -> None:
    """The batch caps for the batch size a lesson sets (none set: checked at training)."""
    if model_spec.training is not None and model_spec.training.batch_size is not None:
        check_batch(analysis, model_spec.training.batch_size)


# At most this many images in one forward pass outside training, however small the
# network: bigger passes gain nothing, and the evaluation has always used 1,000.
MAX_IMAGES_PER_PASS = 1000


def images_per_pass(analysis: Analysis, budget: int | None = None,
                    limits: S.Limits = S.LIMITS) -> int:
    """Images per chunk of every forward pass outside the training step (evaluation,
    predictions, diagnostics, inspection, lessons): as many as fit the activation budget
    (`limits.max_activation_bytes` unless given) and one training step's work, so that a
    chunk takes well under a second and a stop is seen between two chunks."""
    budget = limits.max_activation_bytes if budget is None else budget
    by_memory = budget // max(analysis.activation_bytes, 1)
    by_work = limits.max_step_macs // max(analysis.step_work, 1)
    return max(1, min(MAX_IMAGES_PER_PASS, by_memory, by_work))


# --- building and initialising -----------------------------------------------------------

class Network(nn.Sequential):
    """The built network: child `str(i)` is spec layer i (then the auto head)."""


def build_model(model_spec: S.ModelSpec, device: str | torch.device = "cpu",
                generator: torch.Generator | None = None,
                analysis: Analysis | None = None) -> Network:
    """Build the module on `device`; initialised from `generator` when given (reproducible)."""
    analysis = analysis or analyze(model_spec)
    with torch.device("meta"):
        network = Network(*(instantiate(info.recipe) for info in analysis.layers))
    network = network.to_empty(device=device)
    init_parameters(network, generator)
    return network


def init_parameters(network: nn.Module, generator: torch.Generator | None = None) -> None:
    """PyTorch's default initialisation, drawn from `generator` instead of the global RNG."""
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    fan_in = module.weight[0].numel()
                    bound = 1 / math.sqrt(fan_in)
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()


def set_dropout_generator(network: nn.Module, generator: torch.Generator | None) -> None:
    for module in network.modules():
        if isinstance(module, SeededDropout):
            module.generator = generator


# --- export ------------------------------------------------------------------------------

def export_python(model_spec: S.ModelSpec, analysis: Analysis | None = None,
                  weights_file: str | None = None) -> str:
    """A standalone PyTorch file that rebuilds the network with the same state_dict keys;
    with `weights_file` (a `.safetensors` file beside it) it also loads those weights.

    Text from the spec appears only as repr() literals, so a hostile name stays a string.
    """
    analysis = analysis or analyze(model_spec)
    uses_residual = any(info.recipe.factory == "ResidualBlock" for info in analysis.layers)
    body = "".join(
        f"        {recipe_source(info.recipe, '        ')},  # layer {info.index}: "
        f"{info.type}{' (auto)' if info.auto else ''}\n"
        for info in analysis.layers)
    parts = [
        "# Generated by CNN Playground: a standalone PyTorch definition of one network.\n"
        "# Load weights saved by the playground with\n"
        "#   net = build_network(); net.load_state_dict(torch.load(path, weights_only=True))\n",
        "import torch\nfrom torch import nn\n\n",
        f"NAME = {model_spec.name!r}\n",
        f"DESCRIPTION = {model_spec.description!r}\n",
        f"INPUT_SHAPE = {tuple(model_spec.input)!r}  # channels, height, width\n",
        f"NUM_CLASSES = {model_spec.num_classes!r}\n\n",
    ]
    if uses_residual:
        parts.append("\n" + inspect.getsource(ResidualBlock) + "\n")
    parts.append(
        "\ndef build_network() -> nn.Sequential:\n"
        "    return nn.Sequential(\n" + body + "    )\n\n\n"
        "if __name__ == \"__main__\":\n"
        "    network = build_network()\n" + _weights_loading(weights_file) +
        "    logits = network(torch.zeros(1, *INPUT_SHAPE))\n"
        "    print(NAME, 'output', tuple(logits.shape),\n"
        "          'parameters', sum(p.numel() for p in network.parameters()))\n")
    return "".join(parts)


def _weights_loading(weights_file: str | None) -> str:
    """The lines of an exported file's main block that load its `.safetensors` weights."""
    if weights_file is None:
        return ""
    return ("    # The trained weights, saved beside this file (pip install safetensors).\n"
            "    from pathlib import Path\n"
            "    from safetensors.torch import load_file\n"
            f"    WEIGHTS = Path(__file__).with_name({weights_file!r})\n"
            "    network.load_state_dict(load_file(WEIGHTS))\n"
            "    network.eval()\n")
