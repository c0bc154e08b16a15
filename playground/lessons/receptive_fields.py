"""Receptive fields: computed layer by layer with the spec's own rule, and measured as the
input region with a non-zero gradient of one output pixel."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from playground import spec as S
from playground.lessons.channels import conv_params
from playground.model.build import receptive_step


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
