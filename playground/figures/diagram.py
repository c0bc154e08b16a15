"""The network drawn to scale, in the style of the classic LeNet figure.

Every feature map is a stack of squares whose side follows its height and width (one
scale for the whole picture) and whose depth follows its channel count; a flat vector is
a bar whose height follows its length. Layers that keep the shape (activations,
BatchNorm, dropout) are written under the block they act on. Residual blocks get an arc
from their input to their output: solid for an identity shortcut, dashed for a 1x1
projection (`LayerInfo.projection`, from the block's geometry). Pure: an Analysis in, a
plotly figure out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from playground.figures.style import DEFAULT, Style
from playground.model.formulas import ELEMENTWISE

if TYPE_CHECKING:
    from playground.model.build import Analysis, LayerInfo

COLORS = {"input": "#9e9e9e", "conv": "#1f77b4", "maxpool": "#d62728", "avgpool": "#ff7f0e",
          "residual": "#2ca02c", "global_avgpool": "#8c564b", "flatten": "#7f7f7f",
          "linear": "#9467bd"}
SHORT = {"conv": "conv", "maxpool": "max pool", "avgpool": "avg pool", "residual": "residual",
         "global_avgpool": "global avg", "flatten": "flatten", "linear": "linear",
         "relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh",
         "gelu": "GELU", "batchnorm": "BN", "dropout": "dropout"}
MAX_PLANES = 8
FLAT_MIN_HEIGHT = 0.3  # of the tallest map: a 10-output head stays visible beside 1,568
FLAT_WIDTH = 0.16
AUTO_NOTE = "added<br>automatically"  # two lines: neighbouring labels must not touch
# Pixel sizes at the default style; each is scaled by the style's height, as its text is.
LABEL_PX = 118  # five lines of labels under every block
NOTE_LINE_PX = 16  # one more line where the automatic head says so
TITLE_LINE_PX = 19  # one line of a block's title
SHAPE_LINE_PX = 20  # the shape line under the title
# Outline widths as multiples of the style's curve width: a map's planes, a flat bar and
# a shortcut arc are drawn bolder than the arrows between blocks.
PLANE_LINE = 0.8
BAR_LINE = 1.1
ARROW_LINE = 0.75


@dataclass
class Block:
    """One drawn tensor: the output of `layers[0]` (or the input) and the shape-keeping
    layers after it."""

    shape: tuple[int, ...]
    title: str
    kind: str
    layers: list[LayerInfo] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def auto(self) -> bool:
        return bool(self.layers) and self.layers[0].auto


def _op_title(info: LayerInfo) -> str:
    """Two short lines at most: what the layer is, then its window (and stride)."""
    layer = info.layer
    if info.type in ("conv", "maxpool", "avgpool"):
        text = f"{SHORT[info.type]}<br>{layer.kernel_size}x{layer.kernel_size}"
        if layer.stride != (1 if info.type == "conv" else layer.kernel_size):
            text += f" /{layer.stride}"
        if getattr(layer, "dilation", 1) > 1:  # only convs dilate
            text += f" d{layer.dilation}"
        return text
    if info.type == "residual":
        return "residual" + (f"<br>/{layer.stride}" if layer.stride != 1 else "")
    return SHORT[info.type].replace(" ", "<br>")


def blocks(analysis: Analysis) -> list[Block]:
    """The input, then one block per layer that makes a new tensor (not shape-keeping)."""
    result = [Block(analysis.input_shape, "input", "input")]
    for info in analysis.layers:
        if info.type in ELEMENTWISE:
            result[-1].extras.append(SHORT[info.type])
            result[-1].layers.append(info)
        else:
            result.append(Block(info.output_shape, _op_title(info), info.type, [info]))
    return result


def _shape_label(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}x{shape[2]}"
    return f"{shape[0]:,}"


def network_figure(analysis: Analysis, height: int = 340,
                   error_text: str | None = None, *, style: Style = DEFAULT) -> go.Figure:
    """The diagram of `analysis`; `error_text` adds a red note (for a stale picture)."""
    drawn = blocks(analysis)
    spatial = [b.shape for b in drawn if len(b.shape) == 3]
    side_max = max((max(s[1], s[2]) for s in spatial), default=28)
    flat_max = max((b.shape[0] for b in drawn if len(b.shape) == 1), default=1)
    unit = side_max  # data units: the biggest feature map is side_max tall
    depth_max = 0.35 * unit
    font = style.font()
    shapes, annotations = [], []
    x = 0.0
    highest = 0.5 * unit
    lowest = -0.5 * unit
    label_px = style.height(LABEL_PX + (NOTE_LINE_PX if any(block.auto for block in drawn)
                                        else 0))
    # labels sit in a band of fixed pixels
    label_top = min(0.6, label_px / style.height(height))
    centers: list[tuple[float, float]] = []  # (x centre, top y) per block
    min_width = 0.8 * unit
    for index, block in enumerate(drawn):
        color = COLORS.get(block.kind, "#555")
        dash = "dash" if block.auto else "solid"  # dots vanish on a projector
        if len(block.shape) == 3:
            c, h, w = block.shape
            planes = min(c, MAX_PLANES)
            depth = depth_max * min(1.0, math.log2(c + 1) / math.log2(513)) + 0.04 * unit
            step = depth / max(planes - 1, 1) if planes > 1 else 0
            body_w = w + depth
            left = x + max(0.0, (min_width - body_w) / 2)
            for p in reversed(range(planes)):  # back to front
                dx = dy = p * step
                shapes.append(dict(type="rect", x0=left + dx, x1=left + dx + w,
                                   y0=-h / 2 + dy, y1=h / 2 + dy,
                                   line=dict(color=color, width=PLANE_LINE * style.line_width,
                                             dash=dash),
                                   fillcolor="white" if p else _tint(color), layer="above"))
            top = h / 2 + (planes - 1) * step
            bottom = -h / 2
            width = max(body_w, min_width)
        else:
            n = block.shape[0]
            bar_h = max(FLAT_MIN_HEIGHT * unit, 1.1 * unit * n / flat_max)
            bar_w = FLAT_WIDTH * unit
            left = x + (min_width - bar_w) / 2
            shapes.append(dict(type="rect", x0=left, x1=left + bar_w, y0=-bar_h / 2,
                               y1=bar_h / 2,
                               line=dict(color=color, width=BAR_LINE * style.line_width,
                                         dash=dash),
                               fillcolor=_tint(color), layer="above"))
            top, bottom = bar_h / 2, -bar_h / 2
            width = min_width
        center = x + width / 2
        centers.append((center, top))
        highest = max(highest, top)
        indices = _index_text(block)
        title = f"<b>{block.title}</b>" + ("<br>(auto)" if block.auto else "")
        annotations.append(dict(x=center, y=label_top, yref="paper", text=title, showarrow=False,
                                yanchor="top", font=dict(font, color=color)))
        title_lines = title.count("<br>") + 1
        annotations.append(dict(x=center, y=label_top, yref="paper",
                                yshift=-style.height(TITLE_LINE_PX) * title_lines,
                                text=f"<b>{_shape_label(block.shape)}</b>", showarrow=False,
                                yanchor="top", font=font))
        lines = [indices] if indices else []
        if block.auto:
            lines.append(AUTO_NOTE)
        if block.extras:
            lines.append(" + ".join(block.extras))
        if lines:
            annotations.append(dict(x=center, y=label_top, yref="paper",
                                    yshift=-style.height(TITLE_LINE_PX) * title_lines
                                    - style.height(SHAPE_LINE_PX),
                                    text="<br>".join(lines), showarrow=False,
                                    yanchor="top", font=style.font(style.note_size,
                                                                   style.muted_color)))
        if index:  # arrow from the previous block
            annotations.append(dict(x=x - 0.04 * unit, y=0, ax=x - 0.26 * unit, ay=0,
                                    xref="x", yref="y", axref="x", ayref="y", text="",
                                    showarrow=True, arrowhead=2,
                                    arrowwidth=ARROW_LINE * style.line_width,
                                    arrowcolor="#8c959f"))
        if block.kind == "residual":
            info = block.layers[0]
            (x0, top0), (x1, top1) = centers[-2], centers[-1]
            peak = max(top0, top1) + 0.25 * unit
            highest = max(highest, peak + 0.2 * unit)
            projected = info.projection
            shapes.append(dict(
                type="path", path=f"M {x0},{top0} C {x0},{peak} {x1},{peak} {x1},{top1}",
                line=dict(color=COLORS["residual"], width=BAR_LINE * style.line_width,
                          dash="dash" if projected else "solid")))
            annotations.append(dict(x=(x0 + x1) / 2, y=peak - 0.04 * unit,
                                    text="1x1 projection" if projected else "identity",
                                    showarrow=False, yanchor="bottom",
                                    font=style.font(style.note_size, COLORS["residual"])))
        lowest = min(lowest, bottom)
        x += width + 0.3 * unit
    if error_text:
        annotations.append(dict(x=0, y=1, yref="paper", xanchor="left", yanchor="top",
                                text=error_text,
                                showarrow=False, font=dict(font, color=style.error)))
    y_high = highest + (0.25 if error_text else 0.05) * unit
    y_low = lowest - 0.12 * unit
    y_low -= label_top / (1 - label_top) * (y_high - y_low)  # room for the label band
    # an invisible point keeps plotly from drawing an empty-axes placeholder
    point = go.Scatter(x=[0], y=[0], mode="markers", opacity=0, hoverinfo="skip")
    return go.Figure(point, dict(
        shapes=shapes, annotations=annotations, height=style.height(height),
        showlegend=False, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
        paper_bgcolor="white", font=font, dragmode=False,
        xaxis=dict(visible=False, range=[-0.1 * unit, x], fixedrange=True,
                   constraintoward="left"),
        yaxis=dict(visible=False, range=[y_low, y_high], fixedrange=True,
                   constraintoward="top", scaleanchor="x", scaleratio=1)))


def _index_text(block: Block) -> str:
    indices = [info.index for info in block.layers]
    if not indices:
        return ""
    if len(indices) == 1:
        return f"layer {indices[0]}"
    return f"layers {indices[0]}-{indices[-1]}"


def _tint(color: str, amount: float = 0.78) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    mix = [round(v + (255 - v) * amount) for v in (r, g, b)]
    return "#" + "".join(f"{v:02x}" for v in mix)
