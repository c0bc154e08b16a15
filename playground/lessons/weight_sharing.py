"""Local connection and weight sharing: a conv layer against a fully-connected layer with
the same input and output sizes, counted on real modules."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from playground.lessons.latex import latex_int


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


def connection_latex(counts: ConnectionCounts, bias: bool) -> tuple[str, str]:
    """(fully-connected formula, conv formula) filled in with the layer's numbers."""
    (c, h, w), (o, oh, ow) = counts.in_shape, counts.out_shape
    dense = (r"\text{fully connected: } (C H W)\times(C' H' W')"
             + (r" + C' H' W'" if bias else "")
             + rf" = ({c}\cdot{h}\cdot{w})\times({o}\cdot{oh}\cdot{ow})"
             + (f" + {latex_int(o * oh * ow)}" if bias else "")
             + f" = {latex_int(counts.dense_params)}")
    k = counts.kernel_size
    conv = (r"\text{conv: } C' C K^2" + (r" + C'" if bias else "")
            + rf" = {o}\cdot{c}\cdot{k}^2" + (f" + {o}" if bias else "")
            + f" = {latex_int(counts.conv_params)}")
    return dense, conv
