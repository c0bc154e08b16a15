"""Figures of the "going deeper" lesson: results in, plotly figures out (no Streamlit)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.lessons import deeper as LD
from playground.figures.lessons import SERIES, _finish

PLAIN, RESIDUAL = SERIES[1], SERIES[0]


def degradation_curves(result: LD.DegradationResult, title: str = "") -> go.Figure:
    """Left: training loss per step. Right: each 3x3 conv's weight-gradient norm (log
    scale) at the first step (dotted) and averaged over the run (solid), input side left."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "training loss", "gradient norm per conv layer (log scale)"))
    for name, run, colour in (("plain", result.plain, PLAIN),
                              ("residual", result.residual, RESIDUAL)):
        steps = np.arange(1, len(run.losses) + 1)
        figure.add_trace(go.Scatter(x=steps, y=run.losses, name=f"{name} stack", mode="lines",
                                    line=dict(color=colour, width=3), legendgroup=name),
                         row=1, col=1)
        layers = np.arange(1, run.grad_norms.shape[1] + 1)
        figure.add_trace(go.Scatter(x=layers, y=run.mean_grad_norms, mode="lines+markers",
                                    name=f"{name}: mean over the run", legendgroup=name,
                                    line=dict(color=colour, width=3), marker=dict(size=9)),
                         row=1, col=2)
        figure.add_trace(go.Scatter(x=layers, y=run.first_grad_norms, mode="lines+markers",
                                    name=f"{name}: step 1", legendgroup=name,
                                    line=dict(color=colour, width=2, dash="dot"),
                                    marker=dict(size=7, symbol="diamond")), row=1, col=2)
    figure.update_xaxes(title_text="step", row=1, col=1)
    figure.update_xaxes(title_text="conv layer (1 = next to the input)", dtick=1, row=1, col=2)
    figure.update_yaxes(title_text="cross-entropy", rangemode="tozero", gridcolor="#eee",
                        row=1, col=1)
    figure.update_yaxes(type="log", exponentformat="power", gridcolor="#eee", row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.22))
    return _finish(figure, title, 500)


def bottleneck_bars(count: LD.BottleneckCount, title: str = "") -> go.Figure:
    """Parameters and multiply-adds of the two blocks, with the numbers on the bars."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("parameters",
                                                           "multiply-adds per image"))
    labels = ["two 3x3 convs", f"bottleneck {count.channels}→{count.width}→{count.channels}"]
    for col, values in ((1, (count.basic_params, count.bottleneck_params)),
                        (2, (count.basic_macs, count.bottleneck_macs))):
        figure.add_trace(go.Bar(x=labels, y=list(values), marker_color=[PLAIN, RESIDUAL],
                                text=[f"{v:,}" for v in values], textposition="outside",
                                textfont=dict(size=16), showlegend=False), row=1, col=col)
        figure.update_yaxes(range=[0, max(values) * 1.2], gridcolor="#eee", row=1, col=col)
    return _finish(figure, title, 400)
