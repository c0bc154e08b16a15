"""Modules that torch.nn lacks. `ResidualBlock` is copied verbatim into exported code,
so it must stay self-contained (only `torch` and `nn`): its geometry is a method of its
own, which `residual_geometry` hands to the torch-free rest as plain data."""
from __future__ import annotations

import torch
from torch import nn

from playground.model.geometry import ConvGeometry, ResidualGeometry, Window


class ResidualBlock(nn.Module):
    """ResNet block: basic (two 3x3 convs) or bottleneck (1x1 reduce, 3x3, 1x1 expand).

    The shortcut is the identity when the shape is unchanged, else a strided 1x1
    projection with BatchNorm.
    """

    @staticmethod
    def geometry(in_channels: int, out_channels: int, stride: int = 1,
                 bottleneck_width: int | None = None) -> tuple[list, tuple | None]:
        """The convs as (in, out, kernel, stride, padding): the body's in order, then the
        shortcut's projection (None for the identity). The stride sits on the first 3x3."""
        if bottleneck_width is None:
            body = [(in_channels, out_channels, 3, stride, 1),
                    (out_channels, out_channels, 3, 1, 1)]
        else:
            width = bottleneck_width
            body = [(in_channels, width, 1, 1, 0), (width, width, 3, stride, 1),
                    (width, out_channels, 1, 1, 0)]
        if stride == 1 and in_channels == out_channels:
            return body, None
        return body, (in_channels, out_channels, 1, stride, 0)

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 bottleneck_width: int | None = None):
        super().__init__()
        body, shortcut = self.geometry(in_channels, out_channels, stride, bottleneck_width)
        layers: list[nn.Module] = []
        for n, (c_in, c_out, kernel, step, padding) in enumerate(body):
            layers += [nn.Conv2d(c_in, c_out, kernel, step, padding, bias=False),
                       nn.BatchNorm2d(c_out)]
            if n < len(body) - 1:  # the last ReLU comes after the shortcut is added
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        if shortcut is None:
            self.shortcut = nn.Identity()
        else:
            c_in, c_out, kernel, step, padding = shortcut
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel, step, padding, bias=False),
                nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def residual_geometry(in_channels: int, out_channels: int, stride: int = 1,
                      bottleneck_width: int | None = None) -> ResidualGeometry:
    """`ResidualBlock.geometry` as plain data for the analysis, formulas and diagram."""
    body, shortcut = ResidualBlock.geometry(in_channels, out_channels, stride,
                                            bottleneck_width)

    def conv(c_in: int, c_out: int, kernel: int, step: int, padding: int) -> ConvGeometry:
        return ConvGeometry(c_in, c_out, Window(kernel, step, padding))

    return ResidualGeometry(tuple(conv(*c) for c in body),
                            None if shortcut is None else conv(*shortcut))


class SeededDropout(nn.Dropout):
    """nn.Dropout that draws its mask from a per-run generator when one is set.

    F.dropout only uses the global RNG, which several runs in one process share; a run's
    own generator keeps seeded runs reproducible side by side.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)
