"""How the Build page names layers and their fields: a type's name, a one-line summary of
one layer, and a field's label (also inside the spec's error reasons)."""
from __future__ import annotations

import re

from playground import spec as S

NAMES = {"conv": "conv", "maxpool": "max pool", "avgpool": "avg pool", "relu": "ReLU",
         "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "GELU",
         "batchnorm": "batch norm", "dropout": "dropout", "flatten": "flatten",
         "linear": "linear", "global_avgpool": "global avg pool", "residual": "residual block"}


FIELD_LABELS = {"out_channels": "Filters (out channels)", "kernel_size": "Kernel size",
                "stride": "Stride", "padding": "Padding", "dilation": "Dilation",
                "bias": "Bias", "negative_slope": "Negative slope", "p": "Drop probability",
                "out_features": "Outputs", "bottleneck_width": "Bottleneck width"}
# "p" is only a field name where a reason starts with it; elsewhere it could be any letter
_FIELD_NAME = re.compile(r"^p\b|\b(?:" + "|".join(
    name for name in FIELD_LABELS if name != "p") + r")\b")


def in_page_words(reason: str) -> str:
    """A spec error's reason with each field name replaced by the label the page shows next
    to that field: "kernel_size 2" becomes "Kernel size 2"."""
    return _FIELD_NAME.sub(lambda match: FIELD_LABELS[match.group(0)], reason)


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
