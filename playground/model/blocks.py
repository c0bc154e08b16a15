"""Modules that torch.nn lacks. `ResidualBlock` is copied verbatim into exported code,
so it must stay self-contained (only `torch` and `nn`)."""
from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """ResNet block: basic (two 3x3 convs) or bottleneck (1x1 reduce, 3x3, 1x1 expand).

    The shortcut is the identity when the shape is unchanged, else a strided 1x1
    projection with BatchNorm.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 bottleneck_width: int | None = None):
        super().__init__()
        if bottleneck_width is None:
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                nn.BatchNorm2d(out_channels))
        else:
            width = bottleneck_width
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


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
