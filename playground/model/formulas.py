"""Every number on the Build page, explained: the formula filled in with this network's values.

These are explanations, not the source of the numbers: shapes, parameters and
multiply-adds come from `model.analyze` (the real modules), and the tests check that each
formula here arrives at exactly the number the analysis measured. Pure Python, no
Streamlit. Formulas are written in plain ASCII the way a teacher writes them on a board,
e.g. ``floor((28 + 2*2 - 5)/1) + 1 = 28``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playground.model.geometry import ConvGeometry, ResidualGeometry

if TYPE_CHECKING:  # the diagram imports this module and must stay free of torch
    from playground.model.build import Analysis, LayerInfo

FLOAT_BYTES = 4  # float32
ELEMENTWISE = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "batchnorm", "dropout")
WINDOWED = ("conv", "maxpool", "avgpool")


@dataclass(frozen=True)
class Formula:
    """One explained number: the general rule, the rule with this network's values filled
    in (ending in ``= value``), the value itself, and a remark in plain words."""

    general: str
    filled: str
    value: int | None
    note: str = ""


def _n(value: int) -> str:
    """Thousands separators from 10,000 up, so that small sums stay easy to read."""
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(v) for v in shape) + "]"


# --- output size ----------------------------------------------------------------------------

def _window_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                 axis: str = "H") -> Formula:
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if dilation == 1:
        general = f"floor(({axis} + 2*P - K)/S) + 1"
        filled = f"floor(({size} + 2*{padding} - {kernel})/{stride}) + 1 = {out}"
    else:
        general = f"floor(({axis} + 2*P - D*(K-1) - 1)/S) + 1"
        filled = (f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/{stride}) + 1"
                  f" = {out}")
    return Formula(general, filled, out)


def output_size(info: LayerInfo) -> list[Formula]:
    """How the output shape arises: one formula per spatial axis (H, then W when it
    differs), or one for the whole shape when the layer makes or keeps a flat vector."""
    layer, shape_in = info.layer, info.input_shape
    kind = info.type
    if kind in WINDOWED or kind == "residual":
        if kind == "conv":
            args = dict(kernel=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                        dilation=layer.dilation)
            channels = Formula("C_out = out_channels (one per filter)",
                               f"C_out = {layer.out_channels}", layer.out_channels)
        elif kind == "residual":  # the strided 3x3 conv sets the size
            window = info.residual.sizing.window
            args = dict(kernel=window.kernel_size, stride=window.stride,
                        padding=window.padding)
            channels = Formula("C_out = out_channels", f"C_out = {layer.out_channels}",
                               layer.out_channels)
        else:
            args = dict(kernel=layer.kernel_size, stride=layer.stride, padding=layer.padding)
            channels = Formula("C_out = C_in (pooling works on each channel alone)",
                               f"C_out = {shape_in[0]}", shape_in[0])
        rows = [channels, _window_size(shape_in[1], axis="H", **args)]
        if shape_in[2] != shape_in[1]:
            rows.append(_window_size(shape_in[2], axis="W", **args))
        return rows
    if kind == "global_avgpool":
        c, h, w = shape_in
        return [Formula("[C, H, W] -> [C]: one average per channel",
                        f"[{c}, {h}, {w}] -> C = {c}", c,
                        f"each output is the average of {h}*{w} = {h * w} values")]
    if kind == "flatten":
        size = math.prod(shape_in)
        if len(shape_in) == 1:
            return [Formula("already flat", f"{shape_in[0]} = {size}", size)]
        c, h, w = shape_in
        return [Formula("C*H*W", f"{c}*{h}*{w} = {_n(size)}", size)]
    if kind == "linear":
        return [Formula("out_features", f"out_features = {layer.out_features}",
                        layer.out_features)]
    return [Formula("same shape as the input", f"{_shape(shape_in)} unchanged", None,
                    "works on each value alone")]


def output_shape(info: LayerInfo) -> tuple[int, ...]:
    """The output shape the formulas above produce (checked against the analysis)."""
    rows = output_size(info)
    kind = info.type
    if kind in WINDOWED or kind == "residual":
        h = rows[1].value
        w = rows[2].value if len(rows) > 2 else h
        return (rows[0].value, h, w)
    if kind in ("global_avgpool", "flatten", "linear"):
        return (rows[0].value,)
    return tuple(info.input_shape)


# --- parameters and multiply-adds ------------------------------------------------------------

def _residual_parts(info: LayerInfo) -> list[tuple[str, int, int, str]]:
    """(name, parameters, multiply-adds, formula text) per piece of a residual block."""
    parts = []

    def conv(name: str, geometry: ConvGeometry, height: int, width: int) -> None:
        window = geometry.window
        positions = window.output_size(height) * window.output_size(width)
        k, c_in, c_out = window.kernel_size, geometry.in_channels, geometry.out_channels
        parts.append((f"{name}{k}x{k}", geometry.weights, positions * geometry.weights,
                      f"{c_out}*{c_in}*{k}*{k}"))

    def bn(channels: int) -> None:
        parts.append(("BN", 2 * channels, 0, f"2*{channels}"))

    _, height, width = info.input_shape
    for geometry in info.residual.body:
        conv("conv", geometry, height, width)
        bn(geometry.out_channels)
        height = geometry.window.output_size(height)
        width = geometry.window.output_size(width)
    shortcut = info.residual.shortcut
    if shortcut is not None:
        conv("shortcut conv", shortcut, *info.input_shape[1:])
        bn(shortcut.out_channels)
    return parts


def projection(info: LayerInfo) -> bool:
    """A residual block's shortcut is a projection (1x1 conv + BN) unless the shape stays."""
    return info.projection


def params(info: LayerInfo) -> Formula:
    layer, kind = info.layer, info.type
    if kind == "conv":
        c_in, k, c_out = info.input_shape[0], layer.kernel_size, layer.out_channels
        weights = c_out * c_in * k * k
        if layer.bias:
            return Formula("C_out*C_in*K*K weights + C_out biases",
                           f"{c_out}*{c_in}*{k}*{k} + {c_out} = {_n(weights + c_out)}",
                           weights + c_out)
        return Formula("C_out*C_in*K*K weights (no bias)",
                       f"{c_out}*{c_in}*{k}*{k} = {_n(weights)}", weights)
    if kind == "linear":
        n_in, n_out = info.input_shape[0], layer.out_features
        total = n_out * n_in + n_out
        return Formula("out*in weights + out biases",
                       f"{n_out}*{n_in} + {n_out} = {_n(total)}", total)
    if kind == "batchnorm":
        c = info.input_shape[0]
        return Formula("2*C (a scale and a shift per channel)", f"2*{c} = {2 * c}", 2 * c,
                       "the running mean and variance are statistics, not trained")
    if kind == "residual":
        parts = _residual_parts(info)
        total = sum(p for _, p, _, _ in parts)
        terms = " + ".join(text for _, _, _, text in parts)
        names = " + ".join(name for name, _, _, _ in parts)
        return Formula(names, f"{terms} = {_n(total)}", total,
                       "convs without bias; each BatchNorm has a scale and a shift per "
                       "channel")
    return Formula("no weights", "0", 0,
                   "pooling, activations, dropout and flatten have nothing to train")


def macs(info: LayerInfo) -> Formula:
    """Multiply-adds for one image, as the analysis counts them (convs and linears)."""
    layer, kind = info.layer, info.type
    if kind == "conv":
        c_out, h, w = info.output_shape
        c_in, k = info.input_shape[0], layer.kernel_size
        value = c_out * h * w * c_in * k * k
        return Formula("outputs * (C_in*K*K per output)",
                       f"{c_out}*{h}*{w} * {c_in}*{k}*{k} = {_n(value)}", value)
    if kind == "linear":
        n_in, n_out = info.input_shape[0], layer.out_features
        return Formula("in*out", f"{n_in}*{n_out} = {_n(n_in * n_out)}", n_in * n_out)
    if kind == "residual":
        parts = [(text, m) for _, _, m, text in _residual_parts(info) if m]
        value = sum(m for _, m in parts)
        terms = " + ".join(_n(m) for _, m in parts)
        return Formula("sum over the block's convs (outputs * C_in*K*K each)",
                       f"{terms} = {_n(value)}", value)
    return Formula("no multiply-adds counted", "0", 0,
                   "comparisons, sums and scalings are cheap next to convs and linears")


def fully_connected_comparison(info: LayerInfo) -> Formula | None:
    """The parameter-sharing lesson: the weights a fully-connected layer would need to map
    the same input to the same output, against the conv's shared weights."""
    if info.type != "conv":
        return None
    n_in, n_out = math.prod(info.input_shape), math.prod(info.output_shape)
    layer = info.layer
    shared = layer.out_channels * info.input_shape[0] * layer.kernel_size ** 2
    dense = n_in * n_out
    return Formula("inputs * outputs",
                   f"{n_in:,} x {n_out:,} = {dense:,}", dense,
                   f"against {shared:,} shared weights in this conv "
                   f"({dense / shared:,.0f} times fewer)")


# --- receptive field -------------------------------------------------------------------------

def receptive_field(info: LayerInfo, rf_in: int, jump_in: int) -> Formula:
    """r = r_in + (k_eff - 1)*j_in for each window, in order; None once the output is flat."""
    layer, kind = info.layer, info.type
    if len(info.output_shape) != 3:
        return Formula("flat output", "-", None,
                       "every output now depends on the whole input")
    if kind in WINDOWED:
        k = layer.kernel_size
        d = layer.dilation if kind == "conv" else 1
        k_eff = k + (k - 1) * (d - 1)
        r = rf_in + (k_eff - 1) * jump_in
        filled = f"{rf_in} + ({k_eff}-1)*{jump_in} = {r}"
        if d > 1:
            filled = f"k_eff = {k} + ({k}-1)*({d}-1) = {k_eff}; " + filled
        return Formula("r_in + (k_eff - 1)*j_in", filled, r,
                       "k_eff = K + (K-1)*(D-1) with dilation D")
    if kind == "residual":
        return _residual_receptive_field(info.residual, rf_in, jump_in)
    return Formula("r_in (unchanged)", f"r = {rf_in}", rf_in,
                   "looks at one position at a time, so the view does not grow")


_COUNT_WORDS = {1: "one", 2: "two", 3: "three"}


def _residual_receptive_field(residual: ResidualGeometry, rf_in: int,
                              jump_in: int) -> Formula:
    """One (k_eff-1)*j term per body conv that widens the view, the jump growing by S
    after the strided conv."""
    general, filled = ["r_in"], [str(rf_in)]
    symbol, j, r = "j_in", jump_in, rf_in
    for conv in residual.body:
        window = conv.window
        if window.extent > 1:
            general.append(f"({window.extent}-1)*{symbol}")
            filled.append(f"({window.extent}-1)*{j}")
            r += (window.extent - 1) * j
        if conv is residual.sizing:
            symbol += "*S"
        j *= window.stride
    widening = [conv for conv in residual.body if conv.window.extent > 1]
    if len(widening) < len(residual.body):
        note = "the 1x1 convs add nothing"
    else:
        k = widening[0].window.kernel_size
        note = f"{_COUNT_WORDS.get(len(widening), len(widening))} {k}x{k} convs"
    return Formula(" + ".join(general) + f" ({note})", " + ".join(filled) + f" = {r}", r)


def jump(info: LayerInfo, jump_in: int) -> Formula:
    """j = j_in * stride: how many input pixels apart neighbouring outputs are."""
    if len(info.output_shape) != 3:
        return Formula("flat output", "-", None)
    if info.type not in WINDOWED + ("residual",):
        return Formula("j_in (unchanged)", f"j = {jump_in}", jump_in)
    stride = info.layer.stride
    return Formula("j_in*S", f"{jump_in}*{stride} = {jump_in * stride}", jump_in * stride)


# --- one bundle per layer, and the totals ----------------------------------------------------

@dataclass(frozen=True)
class LayerFormulas:
    info: LayerInfo
    output: list[Formula]
    params: Formula
    macs: Formula
    receptive_field: Formula
    jump: Formula
    fully_connected: Formula | None


def explain(analysis: Analysis) -> list[LayerFormulas]:
    """Formulas for every layer of an analysis, the automatic head included."""
    rf, j = 1, 1
    result = []
    for info in analysis.layers:
        rf_formula = receptive_field(info, rf, j)
        jump_formula = jump(info, j)
        result.append(LayerFormulas(info, output_size(info), params(info), macs(info),
                                    rf_formula, jump_formula,
                                    fully_connected_comparison(info)))
        if rf_formula.value is not None:
            rf, j = rf_formula.value, jump_formula.value
    return result


def total_params(analysis: Analysis) -> Formula:
    terms = [info.params for info in analysis.layers if info.params]
    total = sum(terms)
    filled = (" + ".join(_n(t) for t in terms) if terms else "0") + f" = {total:,}"
    return Formula("sum of the layers' parameters", filled, total)


def total_macs(analysis: Analysis) -> Formula:
    terms = [info.macs for info in analysis.layers if info.macs]
    total = sum(terms)
    filled = (" + ".join(_n(t) for t in terms) if terms else "0") + f" = {total:,}"
    return Formula("sum of the layers' multiply-adds, for one image", filled, total)


def _bytes_text(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def activation_memory(analysis: Analysis, batch_size: int) -> Formula:
    """Bytes of the layer outputs for one batch (float32), what training keeps for backward."""
    floats = analysis.activation_floats
    value = floats * batch_size * FLOAT_BYTES
    return Formula("floats per image * batch size * 4 bytes (float32)",
                   f"{floats:,} * {batch_size} * {FLOAT_BYTES} = {value:,} bytes "
                   f"({_bytes_text(value)})", value,
                   "sum of every layer's output size; a residual block's inner outputs "
                   "and the gradients come on top")


def memory_text(size: int) -> str:
    return _bytes_text(size)


def shape_text(shape: tuple[int, ...]) -> str:
    return _shape(shape)


__all__ = ["Formula", "LayerFormulas", "explain", "output_size", "output_shape", "params",
           "macs", "fully_connected_comparison", "receptive_field", "jump", "total_params",
           "total_macs", "activation_memory", "memory_text", "shape_text", "projection"]
