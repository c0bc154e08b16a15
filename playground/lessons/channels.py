"""Multiple channels: one output channel is a sum of per-channel correlations plus a bias,
and a conv layer's parameter count follows from its kernel shape."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from playground.lessons.convolution import conv_reference
from playground.lessons.latex import latex_int


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
