"""How the Build page names layers: a type's name and a one-line summary of one layer."""
from __future__ import annotations

from playground import spec as S

NAMES = {"conv": "conv", "maxpool": "max pool", "avgpool": "avg pool", "relu": "ReLU",
         "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "GELU",
         "batchnorm": "batch norm", "dropout": "dropout", "flatten": "flatten",
         "linear": "linear", "global_avgpool": "global avg pool", "residual": "residual block"}


def type_name(layer_type: str) -> str:
    return NAMES.get(layer_type, layer_type)


def layer_summary(layer: S.Layer) -> str:
    """E.g. "conv 8 · 3x3 · pad 1": the type and the fields that differ from the usual."""
    kind = layer.TYPE
    if kind == "conv":
        return _conv_summary(layer)
    if kind in ("maxpool", "avgpool"):
        return _pool_summary(layer)
    if kind == "linear":
        return f"linear {layer.out_features}"
    if kind == "residual":
        return _residual_summary(layer)
    if kind == "dropout":
        return f"dropout {layer.p:g}"
    if kind == "leaky_relu":
        return f"leaky ReLU {layer.negative_slope:g}"
    return NAMES[kind]


def _conv_summary(layer: S.Conv) -> str:
    parts = [f"conv {layer.out_channels}", f"{layer.kernel_size}x{layer.kernel_size}"]
    if layer.stride != 1:
        parts.append(f"stride {layer.stride}")
    if layer.padding:
        parts.append(f"pad {layer.padding}")
    if layer.dilation != 1:
        parts.append(f"dilation {layer.dilation}")
    if not layer.bias:
        parts.append("no bias")
    return " · ".join(parts)


def _pool_summary(layer: S.MaxPool | S.AvgPool) -> str:
    parts = [f"{NAMES[layer.TYPE]} {layer.kernel_size}x{layer.kernel_size}"]
    if layer.stride not in (None, layer.kernel_size):
        parts.append(f"stride {layer.stride}")
    if layer.padding:
        parts.append(f"pad {layer.padding}")
    return " · ".join(parts)


def _residual_summary(layer: S.Residual) -> str:
    parts = [f"residual {layer.out_channels}"]
    if layer.stride != 1:
        parts.append(f"stride {layer.stride}")
    if layer.bottleneck_width is not None:
        parts.append(f"bottleneck {layer.bottleneck_width}")
    return " · ".join(parts)
