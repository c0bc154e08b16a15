"""Where a layer's sliding windows sit and what a residual block is made of, as plain
numbers (no torch): the analysis, the formulas and the network diagram read these, and
figure builders must not import torch.

The residual block's own description is `ResidualBlock.geometry` (model/blocks.py); it
lives inside the block's class because the class is copied verbatim into exported code.
`model.blocks.residual_geometry` turns it into the `ResidualGeometry` below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from playground import spec as S


class Window(NamedTuple):
    """One sliding window (of a conv or a pool); a tuple, so it unpacks as
    (kernel_size, stride, padding, dilation)."""

    kernel_size: int
    stride: int
    padding: int
    dilation: int = 1

    @property
    def extent(self) -> int:
        """Input pixels the window spans along one axis: k + (k-1)(d-1)."""
        return self.kernel_size + (self.kernel_size - 1) * (self.dilation - 1)

    def output_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.extent) // self.stride + 1


@dataclass(frozen=True)
class ConvGeometry:
    """One conv inside a block (all of them without bias)."""

    in_channels: int
    out_channels: int
    window: Window

    @property
    def weights(self) -> int:
        return self.out_channels * self.in_channels * self.window.kernel_size ** 2


@dataclass(frozen=True)
class ResidualGeometry:
    """A residual block's convs: the body in order (each followed by BatchNorm, and by a
    ReLU except the last) and the shortcut's 1x1 projection, None for the identity."""

    body: tuple[ConvGeometry, ...]
    shortcut: ConvGeometry | None

    @property
    def projection(self) -> bool:
        return self.shortcut is not None

    @property
    def windows(self) -> tuple[Window, ...]:
        """The body's windows in order: what the receptive field grows by."""
        return tuple(conv.window for conv in self.body)

    @property
    def sizing(self) -> ConvGeometry:
        """The conv that sets the output size: the first 3x3 (it carries the stride; the
        1x1 convs keep the size)."""
        return next(conv for conv in self.body if conv.window.kernel_size > 1)


def layer_windows(layer: S.Layer, residual: ResidualGeometry | None = None
                  ) -> tuple[Window, ...]:
    """The windows a spec layer slides, in order (a residual block's from `residual`, its
    geometry); none for layers that look at one position at a time."""
    kind = layer.TYPE
    if kind == "conv":
        return (Window(layer.kernel_size, layer.stride, layer.padding, layer.dilation),)
    if kind in ("maxpool", "avgpool"):
        return (Window(layer.kernel_size, layer.stride or layer.kernel_size, layer.padding),)
    if kind == "residual":
        if residual is None:
            raise ValueError("a residual layer's windows need its geometry")
        return residual.windows
    return ()


def receptive_steps(windows: tuple[Window, ...], rf: int, jump: int) -> tuple[int, int]:
    """r = r + (k_eff - 1)*j, then j = j*s, for each window in order."""
    for window in windows:
        rf += (window.extent - 1) * jump
        jump *= window.stride
    return rf, jump
