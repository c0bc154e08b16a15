"""The going-deeper lesson's figures: plain against residual stacks, and the bottleneck."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.deeper import BottleneckCount, DegradationResult


def _plain_and_residual_colours(style: Style) -> tuple[str, str]:
    return style.series[1], style.series[0]


def degradation_curves(result: DegradationResult, title: str = "",
                       style: Style = DEFAULT) -> go.Figure:
    """Left: training loss per step. Right: each 3x3 conv's weight-gradient norm (log
    scale) at the first step (dotted) and averaged over the run (solid), input side left."""
    plain, residual = _plain_and_residual_colours(style)
    width = 1.5 * style.line_width
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "training loss", "gradient norm per conv layer (log scale)"))
    for name, run, colour in (("plain", result.plain, plain),
                              ("residual", result.residual, residual)):
        steps = np.arange(1, len(run.losses) + 1)
        figure.add_trace(go.Scatter(x=steps, y=run.losses, name=f"{name} stack", mode="lines",
                                    line=dict(color=colour, width=width), legendgroup=name),
                         row=1, col=1)
        layers = np.arange(1, run.grad_norms.shape[1] + 1)
        figure.add_trace(go.Scatter(x=layers, y=run.mean_grad_norms, mode="lines+markers",
                                    name=f"{name}: mean over the run", legendgroup=name,
                                    line=dict(color=colour, width=width), marker=dict(size=style.marker(9))),
                         row=1, col=2)
        figure.add_trace(go.Scatter(x=layers, y=run.first_grad_norms, mode="lines+markers",
                                    name=f"{name}: step 1", legendgroup=name,
                                    line=dict(color=colour, width=style.line_width, dash="dot"),
                                    marker=dict(size=style.marker(7), symbol="diamond")), row=1, col=2)
    figure.update_xaxes(title_text="step", row=1, col=1)
    figure.update_xaxes(title_text="conv layer (1 = next to the input)", dtick=1, row=1, col=2)
    figure.update_yaxes(title_text="cross-entropy", rangemode="tozero", gridcolor=style.grid,
                        row=1, col=1)
    figure.update_yaxes(type="log", exponentformat="power", gridcolor=style.grid, row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.22))
    return finish(figure, title, 500, style)


def bottleneck_bars(count: BottleneckCount, title: str = "", style: Style = DEFAULT) -> go.Figure:
    """Parameters and multiply-adds of the two blocks, with the numbers on the bars."""
    plain, residual = _plain_and_residual_colours(style)
    figure = make_subplots(rows=1, cols=2, subplot_titles=("parameters",
                                                           "multiply-adds per image"))
    labels = ["two 3x3 convs", f"bottleneck {count.channels}→{count.width}→{count.channels}"]
    for col, values in ((1, (count.basic_params, count.bottleneck_params)),
                        (2, (count.basic_macs, count.bottleneck_macs))):
        figure.add_trace(go.Bar(x=labels, y=list(values), marker_color=[plain, residual],
                                text=[f"{v:,}" for v in values], textposition="outside",
                                textfont=dict(size=style.caption_size), showlegend=False),
                         row=1, col=col)
        figure.update_yaxes(range=[0, max(values) * 1.2], gridcolor=style.grid, row=1, col=col)
    return finish(figure, title, 400, style)
